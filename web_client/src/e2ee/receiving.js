// Room messages in (client/e2ee/receiving.py): decrypt what we can, and keep visibly waiting,
// and asking, for the rest. No message is dropped silently (docs/crypto.md §6.2): each ends up
// decrypted, failed with a reason, or waiting for a named session while every device of the
// current members is asked for it. The envelope's chain head and index let this device notice a
// server that withholds membership events, forks the history or reorders messages.
import { memberIds } from "./chains.js";
import {
  b64e,
  bytesEqual,
  CryptoError,
  inbound,
  memberAt,
  parseEnvelope,
  randomBytes,
  verifyEnvelope,
} from "./primitives.js";
import { DECRYPTED, FAILED, MessageRecord, WAITING } from "./records.js";
import { sessionKey, splitKey } from "./state.js";

export class Receiver {
  constructor(state, sessions, outbox) {
    this.state = state;
    this.sessions = sessions;
    this.outbox = outbox;
  }

  async handleMessage(msg) {
    const st = this.state;
    const held = st.records.get(msg.id);
    if (held && held.state === DECRYPTED) return;
    const rec = new MessageRecord(msg.id, msg.room_id, Number(msg.seq), msg.sender.user_id, msg.sender.device_id, msg.envelope);
    rec.ts = Number(msg.ts) || null;
    rec.client_msg_id = typeof msg.client_msg_id === "string" ? msg.client_msg_id : null;
    st.records.set(rec.id, rec);
    await this.tryDecrypt(rec);
  }

  /** Safe to call again on the same record: it is how waiting messages get another go. */
  async tryDecrypt(rec) {
    const st = this.state;
    let content;
    try {
      const header = parseEnvelope(rec.envelope);
      if (header.su !== rec.sender_user || header.sd !== rec.sender_device) {
        throw new CryptoError("unknown_device", "envelope sender differs from the server's");
      }
      let dev = st.directory.device(header.su, header.sd);
      if (!dev) {
        await st.directory.ensure([header.su], { force: true });
        dev = st.directory.device(header.su, header.sd);
      }
      let signKey = dev ? dev.sign : null;
      if (!signKey) {
        signKey = st.directory.retiredSignKey(header.su, header.sd);
        if (!signKey) throw new CryptoError("unknown_device");
        rec.note = "sent from a since-revoked device";
        st.metrics.inc("from_revoked_device");
      }
      verifyEnvelope(header, rec.room_id, signKey);
      await this._checkChainReference(rec.room_id, header.me, header.mh);
      this._checkSenderIsMember(rec.room_id, header.su, header.me);
      const key = sessionKey(rec.room_id, header.sd, header.sid);
      const sess = st.inbound.get(key);
      if (!sess || header.i < sess.firstIndex) throw new CryptoError("missing_key");
      try {
        content = inbound.decrypt(sess, header, rec.room_id, rec.id);
      } catch (err) {
        if (err instanceof CryptoError && err.code === "bad_ciphertext" && st.inbound_forwarded.has(key)) {
          // A forwarder handed us a wrong chain: forget it and ask again.
          this.sessions.forget(key);
          throw new CryptoError("missing_key");
        }
        throw err;
      }
      this._checkOrder(key, rec.seq, header.i);
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      if (err.code === "missing_key") {
        const hdr = parseEnvelope(rec.envelope);
        this._setWaiting(rec, sessionKey(rec.room_id, hdr.sd, hdr.sid));
        await this.requestKey(rec.room_id, hdr.sd, hdr.sid, hdr.i);
        if (st.onRecord) await st.onRecord(rec);
        return;
      }
      this._clearWaiting(rec);
      rec.state = FAILED;
      rec.error = err.code;
      st.metrics.inc(`failed_${err.code}`);
      if (st.onRecord) await st.onRecord(rec);
      return;
    }
    this._clearWaiting(rec);
    rec.state = DECRYPTED;
    rec.content = content;
    rec.error = null;
    st.metrics.inc("decrypted");
    if (st.onRecord) await st.onRecord(rec);
  }

  /** Membership or device lists changed, or time passed: keys may have come in by now, and
   * whoever holds them may be someone not asked before. */
  async retryWaiting() {
    const st = this.state;
    for (const room of [...st.chains.dirty]) await st.chains.get(room);
    for (const key of [...st.waiting.keys()]) {
      const ids = st.waiting.get(key);
      if (!ids || !ids.size) continue;
      for (const id of [...ids]) await this.tryDecrypt(st.records.get(id));
      const still = st.waiting.get(key);
      if (still && still.size) {
        const index = Math.min(...[...still].map((i) => parseEnvelope(st.records.get(i).envelope).i));
        const [room, sd, sid] = splitKey(key);
        await this.requestKey(room, sd, sid, index, { force: true });
      }
    }
  }

  /** Ask every device of every current member, not only the sender (§6.2). Without `force`, a
   * request already covering this index is not repeated. */
  async requestKey(roomId, sd, sid, index, { force = false } = {}) {
    const st = this.state;
    const key = sessionKey(roomId, sd, sid);
    if (!force && st.requested.has(key) && st.requested.get(key) <= index) return;
    st.requested.set(key, Math.min(index, st.requested.get(key) ?? index));
    const chain = await st.chains.view(roomId);
    const users = new Set(chain ? memberIds(chain) : []);
    users.add(st.user_id);
    await st.directory.ensure(users);
    const targets = [];
    for (const u of [...users].sort()) {
      for (const d of st.directory.devicesOf(u)) if (d.id !== st.device_id) targets.push([u, d.id]);
    }
    const body = { room: roomId, sd, sid, i: st.requested.get(key), req: b64e(randomBytes(8)) };
    const sent = await this.outbox.send(targets, "key_request", body);
    for (const rid of st.waiting.get(key) || []) st.records.get(rid).asked = sent;
    st.metrics.inc("key_requests");
  }

  /** A message names the chain head its sender saw: fetch what we lack, and report a server that
   * withholds events or showed the sender a different history. */
  async _checkChainReference(roomId, me, mh) {
    const chains = this.state.chains;
    let chain = await chains.get(roomId);
    if (!chain) return;
    if (me > chain.headN) {
      chain = await chains.get(roomId, { force: true });
      if (!chain) return;
      if (me > chain.headN) {
        chains.freeze(roomId, "chain_withheld");
        return;
      }
    }
    if (me && !bytesEqual(chains.hashAt(roomId, me), mh)) chains.freeze(roomId, "chain_forked");
  }

  /** Only a member of the verified chain may speak in the room. */
  _checkSenderIsMember(roomId, user, me) {
    const chain = this.state.chains.states.get(roomId);
    if (!chain || !memberAt(chain, user, Math.max(1, Math.min(me, chain.headN)))) {
      throw new CryptoError("not_entitled", "the sender is not in the room's verified chain");
    }
  }

  /** Within one session, a later room seq must carry a later index; otherwise the server
   * reordered messages (reported, the content stays readable). */
  _checkOrder(key, seq, index) {
    const st = this.state;
    const last = st.order.get(key);
    if (last) {
      const [lastSeq, lastIndex] = last;
      if (seq > lastSeq !== index > lastIndex && seq !== lastSeq) {
        st.chains.warn("reordered", { room: splitKey(key)[0], seq });
      }
    }
    if (!last || seq > last[0]) st.order.set(key, [seq, index]);
  }

  _setWaiting(rec, key) {
    const st = this.state;
    if (rec.state !== WAITING || JSON.stringify(rec.needs) !== key) st.metrics.inc("waited");
    rec.state = WAITING;
    rec.needs = splitKey(key);
    if (!st.waiting.has(key)) st.waiting.set(key, new Set());
    st.waiting.get(key).add(rec.id);
  }

  /** The last message leaving a session's wait also clears its request. */
  _clearWaiting(rec) {
    const st = this.state;
    if (rec.needs) {
      const key = sessionKey(...rec.needs);
      const ids = st.waiting.get(key);
      if (ids) {
        ids.delete(rec.id);
        if (!ids.size) {
          st.waiting.delete(key);
          st.requested.delete(key);
        }
      }
      rec.needs = null;
    }
  }
}

