// What the user sees about each message: decrypted, waiting for a key (from whom), or failed.
// Nothing is ever dropped silently: every message the server delivered has exactly one record
// here, and `counts()` is what the application and the metrics show. (client/e2ee/records.py)

export const DECRYPTED = "decrypted";
export const WAITING = "waiting_for_key";
export const FAILED = "failed";

export class MessageRecord {
  constructor(id, roomId, seq, senderUser, senderDevice, envelope) {
    this.id = id;
    this.room_id = roomId;
    this.seq = seq;
    this.sender_user = senderUser;
    this.sender_device = senderDevice;
    this.envelope = envelope;
    /** The sender's id for the message: an app matches its own pending sends by it. */
    /** @type {string|null} */ this.client_msg_id = null;
    /** Server time the message was stored (ms), for display. */
    /** @type {number|null} */ this.ts = null;
    this.state = WAITING;
    /** @type {object|null} */ this.content = null;
    /** @type {string|null} */ this.error = null;
    /** Shown with the content, e.g. "sent from a since-revoked device". */
    /** @type {string|null} */ this.note = null;
    /** For WAITING: the session it needs [room, sd, sid] and the devices asked for it. */
    /** @type {string[]|null} */ this.needs = null;
    /** @type {string[]} */ this.asked = [];
  }

  statusLine() {
    if (this.state === DECRYPTED) return "decrypted";
    if (this.state === WAITING) return `waiting for key from ${this.sender_device} (asked ${this.asked.length} devices)`;
    return `cannot be decrypted: ${this.error}`;
  }

  toJSON() {
    return { ...this };
  }

  static fromJSON(d) {
    return Object.assign(new MessageRecord(d.id, d.room_id, d.seq, d.sender_user, d.sender_device, d.envelope), d);
  }
}

/** Client-side counters (docs/crypto.md §6.2): exported by bots, asserted by the tests. */
export class Metrics {
  constructor() {
    /** @type {Record<string, number>} */
    this.counters = {};
  }

  inc(name, n = 1) {
    this.counters[name] = (this.counters[name] || 0) + n;
  }

  get(name) {
    return this.counters[name] || 0;
  }
}
