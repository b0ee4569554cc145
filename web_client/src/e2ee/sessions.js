// The inbound sessions this device can decrypt with, from whatever source they came
// (client/e2ee/sessions.py): all go through `store`, so a copy starting at an earlier index
// extends the one held, forwarded copies stay marked as such, and every change reaches the backup.
import { inbound } from "./primitives.js";
import { sessionKey } from "./state.js";

export class SessionStore {
  constructor(state, backup) {
    this.state = state;
    this.backup = backup;
  }

  /** Throws CryptoError for a share that does not parse or contradicts the held copy. */
  store(body, { forwarded }) {
    const st = this.state;
    const incoming = inbound.fromShare(body);
    const key = sessionKey(incoming.room, incoming.sd, incoming.sid);
    const known = st.inbound.get(key);
    if (known === undefined) {
      st.inbound.set(key, incoming);
      if (forwarded) st.inbound_forwarded.add(key);
      else st.inbound_forwarded.delete(key);
      this.backup.queue(incoming);
    } else if (inbound.merge(known, body)) {
      this.backup.queue(known);
    }
    return key;
  }

  /** Drop a forwarded copy that failed to decrypt, so that asking again can replace it. */
  forget(key) {
    this.state.inbound.delete(key);
    this.state.inbound_forwarded.delete(key);
  }

  ofRoom(roomId) {
    return [...this.state.inbound.values()].filter((s) => s.room === roomId);
  }
}
