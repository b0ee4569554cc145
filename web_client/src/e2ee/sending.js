// Room messages and files out (client/e2ee/sending.py), under an outbound session shared before
// it is used (§6.1): a message goes out only after its session's key is durable in the
// to-device queue of every entitled device. The session is replaced whenever someone could
// otherwise read what they should not: a member removed, a device revoked, a member added to a
// room whose history is `joined`, or simply too many messages or days.
import { ApiError } from "../net/api.js";
import { memberIds, memberOf } from "./chains.js";
import { b64d, b64e, decryptFile, encryptFile, inbound, newFileKey, outbound, parseEnvelope } from "./primitives.js";
import { DECRYPTED, MessageRecord } from "./records.js";
import { E2EEError, sessionKey } from "./state.js";

/** Tries at sending while the room's membership changes under us. */
export const MAX_ATTEMPTS = 5;

export class Sender {
  constructor(state, sessions, backup, outbox) {
    this.state = state;
    this.sessions = sessions;
    this.backup = backup;
    this.outbox = outbox;
    /** Per room: the directory's revocation counts when the outbound session was made. */
    /** @type {Map<string, Record<string, number>>} */
    this.revocationsAt = new Map();
  }

  /** A member's device was revoked since the session was made. */
  _deviceLeft(roomId, members) {
    const seen = this.revocationsAt.get(roomId) || {};
    const now = this.state.directory.revocations;
    return members.some((u) => (now.get(u) || 0) > (seen[u] || 0));
  }

  /** With `clientMsgId`, each attempt has its own id derived from it: a stale_membership
   * refusal stored nothing and the retry is a new message (docs/protocol.md §1), while the
   * same attempt retried after a lost ack keeps its id and is stored once. */
  async sendContent(roomId, content, { clientMsgId } = {}) {
    const st = this.state;
    return st.lock.run(async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const id = clientMsgId == null ? undefined : attempt === 0 ? clientMsgId : `${clientMsgId}.${attempt}`;
        try {
          return await this._sendLocked(roomId, content, id);
        } catch (err) {
          if (!(err instanceof ApiError) || err.code !== "stale_membership") throw err;
          // Someone joined or left since our chain was verified: catch up, re-share or rotate
          // as the rules say, and encrypt again under the new head (a new client_msg_id).
          st.metrics.inc("stale_membership");
          st.chains.markDirty(roomId);
        }
      }
      throw new E2EEError("conflict", "membership kept changing while sending");
    });
  }

  /** The server stores only ciphertext; the key travels in the (encrypted) room message. */
  async sendFile(roomId, data, { name, mime = "application/octet-stream" }) {
    const [blob, fk] = await encryptFile(data);
    const up = await this.state.api.uploadAttachment(roomId, blob);
    const content = {
      type: "file",
      attachment_id: up.attachment_id,
      key: b64e(fk.key),
      hash: b64e(fk.hash),
      size: fk.size,
      name,
      mime,
    };
    return this.sendContent(roomId, content);
  }

  async downloadFile(content) {
    const blob = await this.state.api.downloadAttachment(String(content.attachment_id));
    const fk = newFileKey(b64d(content.key, 32), b64d(content.hash, 32), Number(content.size));
    return decryptFile(blob, fk);
  }

  async _sendLocked(roomId, content, clientMsgId) {
    const st = this.state;
    const chain = await st.chains.get(roomId);
    if (!chain) throw new E2EEError("room_frozen", st.chains.frozen.get(roomId) || "unknown");
    if (!memberOf(chain, st.user_id)) throw new E2EEError("not_member", "this user is not in the room's verified chain");
    await st.directory.ensure(memberIds(chain));
    const entitled = this._entitledDevices(roomId);
    const sess = this._outboundSession(roomId, entitled);
    const shared = sharedWith(sess);
    const missing = entitled.filter(([, d]) => !(d in shared));
    if (missing.length) {
      const body = outbound.shareBody(sess, st.user_id, st.device_id);
      const sent = await this.outbox.send(missing, "room_key", body);
      for (const dev of sent) shared[dev] = sess.index;
      st.metrics.inc("keys_shared", sent.length);
    }
    const [headN, headHash] = st.chains.head(roomId);
    const env = outbound.encrypt(sess, content, { su: st.user_id, sd: st.device_id, dsk: st.dsk, me: headN, mh: headHash });
    const ack = await st.api.send(roomId, env, { clientMsgId });
    const rec = new MessageRecord(ack.id, roomId, Number(ack.seq), st.user_id, st.device_id, env);
    rec.ts = Number(ack.ts) || null;
    rec.client_msg_id = clientMsgId ?? null;
    rec.state = DECRYPTED;
    rec.content = content;
    // Bind the index to this message id, so the server cannot replay it to us as another.
    const own = st.inbound.get(sessionKey(roomId, st.device_id, env.sid));
    if (own) inbound.decrypt(own, parseEnvelope(env), roomId, ack.id);
    if (!st.records.has(rec.id)) {
      st.records.set(rec.id, rec);
      if (st.onRecord) await st.onRecord(rec);
    }
    st.metrics.inc("sent");
    await this.backup.flush();
    return ack;
  }

  /** Every device of every current, trusted member (own other devices included). */
  _entitledDevices(roomId) {
    const st = this.state;
    const chain = st.chains.states.get(roomId);
    const out = [];
    for (const user of memberIds(chain).sort()) {
      for (const dev of st.directory.devicesOf(user)) if (dev.id !== st.device_id) out.push([user, dev.id]);
    }
    return out;
  }

  /** The held session, unless a rotation rule of §6.1 says its key may reach someone who must not
   * read what comes next; a new one is also kept as an inbound session. */
  _outboundSession(roomId, entitled) {
    const st = this.state;
    let sess = st.outbound.get(roomId);
    const chain = st.chains.states.get(roomId);
    if (sess) {
      const devices = new Set(entitled.map(([, d]) => d));
      const rotate =
        sess.sent >= st.policy.rotate_after_messages ||
        st.clock() - sess.createdMs >= st.policy.rotate_after_ms ||
        st.chains.changedSince(roomId, sess.me, ["remove"]) ||
        (chain.policy === "joined" && st.chains.changedSince(roomId, sess.me, ["add"])) ||
        Object.keys(sharedWith(sess)).some((d) => !devices.has(d)) ||
        this._deviceLeft(roomId, memberIds(chain));
      if (!rotate) return sess;
      st.metrics.inc("rotations");
    }
    sess = outbound.create(roomId, { created_ms: st.clock(), me: chain.headN });
    st.outbound.set(roomId, sess);
    this.revocationsAt.set(roomId, Object.fromEntries(st.directory.revocations));
    this.sessions.store(outbound.shareBody(sess, st.user_id, st.device_id), { forwarded: false });
    return sess;
  }
}

/** The session's device → index map (a plain object or a Map in the twin), as a plain object
 * that writes through. */
function sharedWith(sess) {
  const m = sess.sharedWith;
  if (!(m instanceof Map)) return m;
  return new Proxy(Object.fromEntries(m), {
    set(target, key, value) {
      target[key] = value;
      m.set(key, value);
      return true;
    },
  });
}
