// The one socket.io connection of a tab (docs/protocol.md §3). Every client→server event is a
// call with an ack; `call` turns the ack into a resolved result or a thrown ApiError, and gives up
// after a timeout so a screen never waits forever on a dead link.
import { io } from "socket.io-client";
import { ApiError, OFFLINE } from "./api.js";

const CALL_TIMEOUT_MS = 15000;

export class Socket {
  /**
   * @param {string} token
   * @param {{base?: string, transports?: string[], reconnectionDelay?: number,
   *          reconnectionDelayMax?: number, autoConnect?: boolean}} [opts]
   */
  constructor(token, opts = {}) {
    this.io = io(opts.base || "", {
      path: "/socket.io/",
      auth: { token },
      transports: opts.transports || ["websocket", "polling"],
      // A network that blocks WebSocket (some hospital proxies) falls back to long-polling
      // instead of retrying WebSocket forever.
      tryAllTransports: true,
      reconnectionDelay: opts.reconnectionDelay ?? 1000,
      reconnectionDelayMax: opts.reconnectionDelayMax ?? 30000,
      randomizationFactor: 0.5,
      autoConnect: opts.autoConnect ?? true,
    });
  }

  /** @param {string} event @param {object} payload @param {number} [timeoutMs] */
  call(event, payload = {}, timeoutMs = CALL_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      if (!this.io.connected) {
        reject(new ApiError(OFFLINE, "not connected"));
        return;
      }
      this.io.timeout(timeoutMs).emit(event, payload, (timeoutErr, ack) => {
        if (timeoutErr) reject(new ApiError(OFFLINE, "no answer"));
        else if (ack && ack.error) reject(new ApiError(ack.error.code, ack.error.message, ack.error.details || {}));
        else resolve(ack);
      });
    });
  }

  on(event, handler) {
    this.io.on(event, handler);
    return () => this.io.off(event, handler);
  }

  /** Every server event (not the connection lifecycle): handler(event, data). */
  onAny(handler) {
    const fn = (event, data) => handler(event, data);
    this.io.onAny(fn);
    return () => this.io.offAny(fn);
  }

  close() {
    this.io.disconnect();
  }
}
