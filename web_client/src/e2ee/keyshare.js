// Pairwise messages in (client/e2ee/keyshare.py): room keys, key requests, this user's secrets,
// refusals. Nothing is believed until its envelope opens to this device and its signature
// verifies under a device of a verified list (docs/crypto.md §4); then each type has its own
// entitlement rule (§6.1, §6.2).
import { memberOf } from "./chains.js";
import {
  b64d,
  CryptoError,
  inbound,
  memberAt,
  openedVerify,
  openPayload,
  signingKey,
  trust as T,
  bytesEqual,
} from "./primitives.js";
import { TODEVICE_TYPE } from "./outbox.js";
import { sessionKey } from "./state.js";

export class KeyShare {
  constructor(state, sessions, outbox, receiver) {
    this.state = state;
    this.sessions = sessions;
    this.outbox = outbox;
    this.receiver = receiver;
    /** @type {Set<string>} (queue id, payload) already handled (seen live and again via sync). */
    this._handled = new Set();
  }

  async handle(entry) {
    const st = this.state;
    const marker = `${Number(entry.id ?? -1)}:${entry.payload}`;
    if (this._handled.has(marker)) return;
    this._handled.add(marker);
    if (entry.type !== TODEVICE_TYPE) {
      st.metrics.inc("todevice_ignored");
      return;
    }
    const sender = entry.sender || {};
    let msg;
    try {
      const opened = openPayload(String(entry.payload), {
        my_user: st.user_id,
        my_device: st.device_id,
        my_dh: st.dx,
        prekeys: st.prekeys,
        server_sender_device: sender.device_id ?? null,
      });
      let dev = st.directory.device(opened.su, opened.sd);
      if (!dev) {
        await st.directory.ensure([opened.su], { force: true });
        dev = st.directory.device(opened.su, opened.sd);
      }
      if (!dev) throw new CryptoError("unknown_device");
      msg = openedVerify(opened, dev.sign, st.seen_pairwise);
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      st.metrics.inc(`todevice_${err.code}`);
      return;
    }
    st.metrics.inc(`todevice_${msg.type}`);
    if (msg.head) await st.directory.learnHead(msg.su, msg.head[0], msg.head[1]);
    if (msg.type === "room_key") await this._onRoomKey(msg);
    else if (msg.type === "key_request") await this._onKeyRequest(msg);
    else if (msg.type === "device_secrets") this._onDeviceSecrets(msg);
    else if (msg.type === "key_withheld") st.metrics.inc("key_withheld");
  }

  /** A key from its own sender is always welcome; a forwarded one only from this user or a
   * current member. */
  async _onRoomKey(msg) {
    const st = this.state;
    const body = msg.body;
    const { room, sd, su } = body;
    if (typeof room !== "string" || typeof sd !== "string" || typeof su !== "string") {
      st.metrics.inc("todevice_bad_encoding");
      return;
    }
    const forwarded = msg.sd !== sd;
    if (!forwarded && msg.su !== su) {
      st.metrics.inc("todevice_not_entitled");
      return;
    }
    if (!forwarded && su !== st.user_id && !(await this._wasMember(room, su, body))) {
      st.metrics.inc("todevice_not_entitled");
      return;
    }
    if (forwarded && msg.su !== st.user_id) {
      let chain = await st.chains.view(room);
      if (!chain || !memberOf(chain, msg.su)) chain = await st.chains.view(room, { force: true });
      if (!chain || !memberOf(chain, msg.su)) {
        st.metrics.inc("todevice_not_entitled");
        return;
      }
    }
    let key;
    try {
      key = this.sessions.store(body, { forwarded });
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      st.metrics.inc(`todevice_${err.code}`);
      return;
    }
    if (st.onRoomKey) st.onRoomKey(key);
    for (const rid of [...(st.waiting.get(key) || [])]) await this.receiver.tryDecrypt(st.records.get(rid));
  }

  /** A sender's own session is accepted only if the chain had them as a member when they made
   * it (the share's `me`). */
  async _wasMember(room, user, body) {
    const me = body.me;
    if (!Number.isInteger(me)) return false;
    for (const force of [false, true]) {
      const chain = await this.state.chains.view(room, { force });
      if (chain && memberAt(chain, user, Math.max(1, Math.min(me, chain.headN)))) return true;
    }
    return false;
  }

  /** A refusal is answered rather than ignored, so the requester can show why it waits. */
  async _onKeyRequest(msg) {
    const st = this.state;
    const { room, sd, sid, i: index } = msg.body;
    if (!(typeof room === "string" && typeof sd === "string" && typeof sid === "string" && Number.isInteger(index))) return;
    const sess = st.inbound.get(sessionKey(room, sd, sid));
    if (!sess || sess.firstIndex > index) return;
    if (!(await this._mayReceive(msg.su, room, sess))) {
      await this.outbox.send([[msg.su, msg.sd]], "key_withheld", { room, sid, reason: "not_entitled" });
      st.metrics.inc("key_requests_refused");
      return;
    }
    await this.outbox.send([[msg.su, msg.sd]], "room_key", inbound.exportBody(sess));
    st.metrics.inc("key_requests_answered");
  }

  /** §6.2: this user, or a trusted current member who, with `joined` history, was already a
   * member when the session began. */
  async _mayReceive(user, room, sess) {
    const st = this.state;
    if (user === st.user_id) return true;
    if (!T.trusted(st.trust, user)) return false;
    let chain = await st.chains.get(room);
    if (!chain) return false;
    if (!memberOf(chain, user)) chain = await st.chains.get(room, { force: true });
    if (!chain || !memberOf(chain, user)) return false;
    if (memberOf(chain, user).history === "joined") return memberAt(chain, user, Math.max(sess.me, 1));
    return true;
  }

  /** Taken only from this user's own devices and only if it matches the pinned identity key. */
  _onDeviceSecrets(msg) {
    const st = this.state;
    if (msg.su !== st.user_id) {
      st.metrics.inc("todevice_not_entitled");
      return;
    }
    let ik;
    try {
      ik = signingKey.fromSeed(b64d(msg.body.ik, 32));
    } catch (err) {
      if (err instanceof CryptoError) return;
      throw err;
    }
    const pinned = T.pinned(st.trust, st.user_id);
    if (pinned && !bytesEqual(pinned, signingKey.public(ik))) {
      st.metrics.inc("todevice_not_entitled");
      return;
    }
    T.observe(st.trust, st.user_id, signingKey.public(ik));
    st.ik = ik;
    if ("bk" in msg.body && Number.isInteger(msg.body.bv)) {
      st.backup_key = b64d(msg.body.bk, 32);
      st.backup_version = msg.body.bv;
    }
    st.onIdentity?.(st.user_id);
  }
}
