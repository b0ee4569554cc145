// A tiny listener API shared by the SDK and the E2EE layer (no DOM, runs in Node and browsers):
// `on(name, fn)` returns the function that removes the listener; a listener that throws (or
// rejects) is reported on the "error" channel, never breaks the emitter.

export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
  }

  /** @param {string} name @param {Function} fn @returns {() => void} */
  on(name, fn) {
    let set = this._listeners.get(name);
    if (!set) this._listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** @param {string} name @param {...any} args */
  emit(name, ...args) {
    const set = this._listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        const res = fn(...args);
        if (res && typeof res.catch === "function") res.catch((err) => this._failed(name, err));
      } catch (err) {
        this._failed(name, err);
      }
    }
  }

  _failed(name, err) {
    if (name !== "error" && this._listeners.get("error")?.size) this.emit("error", err, name);
    else console.error(`listener for ${name} failed`, err);
  }
}
