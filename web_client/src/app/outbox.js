// What the user wrote and the server has not acknowledged yet. Kept sealed in the vault, so a
// message typed offline survives a reload, and sent strictly in order, one at a time, each
// under its own client_msg_id for every attempt: a send whose ack was lost is answered by the
// server as a duplicate, never stored twice (docs/protocol.md §4.1).
import { Emitter } from "../net/events.js";

const RECORD = "outbox";
// Refusals that say "not now" rather than "never": the item waits for the next reconnect.
const TRANSIENT = new Set(["offline", "not_connected", "send_failed", "unavailable", "rate_limited", "internal"]);

export class Outbox extends Emitter {
  /** @param {import("../store/vault.js").Vault} vault @param {(item: object) => Promise<void>} send */
  constructor(vault, send) {
    super();
    this.vault = vault;
    this.send = send;
    /** @type {Array<{id: string, room_id: string, content: object, ts: number, failed?: string}>} */
    this.items = [];
    this.sending = null;
    this._draining = false;
  }

  async load() {
    this.items = (await this.vault.get(RECORD)) || [];
  }

  async _save() {
    await this.vault.put(RECORD, this.items);
  }

  /** Queue a content for a room; resolves once it is sealed in the vault (not once sent). */
  async add(roomId, content) {
    const id = `web-${crypto.randomUUID()}`;
    this.items.push({ id, room_id: roomId, content, ts: Date.now() });
    await this._save();
    this.emit("changed", roomId);
    this.drain();
    return id;
  }

  forRoom(roomId) {
    return this.items.filter((item) => item.room_id === roomId);
  }

  /** Send what is queued, oldest first; stops when the link is down (the rest waits for the
   * next reconnect). An item refused for good stays, marked failed, and the rest goes on. */
  async drain() {
    if (this._draining) return;
    this._draining = true;
    let room = null;
    try {
      for (;;) {
        const item = this.items.find((i) => !i.failed);
        if (!item) break;
        room = item.room_id;
        this.sending = item.id;
        this.emit("changed", item.room_id);
        try {
          await this.send(item);
        } catch (err) {
          if (TRANSIENT.has(err?.code)) break;
          // Refused for good (removed from the room, ...): kept, visibly failed, not retried.
          item.failed = err?.code || "unknown";
        }
        if (!item.failed) this.items = this.items.filter((i) => i !== item);
        await this._save();
        this.emit("changed", item.room_id);
      }
    } finally {
      this.sending = null;
      this._draining = false;
      // The item that stopped the loop is no longer "sending": show it as waiting.
      if (room) this.emit("changed", room);
    }
  }

  async discard(id) {
    const item = this.items.find((i) => i.id === id);
    this.items = this.items.filter((i) => i.id !== id);
    await this._save();
    if (item) this.emit("changed", item.room_id);
  }
}
