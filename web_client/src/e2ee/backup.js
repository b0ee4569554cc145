// The user's server-side key backup (client/e2ee/backup.py): what lets a device that lost
// everything read the past. Only the passphrase unlocks it (docs/crypto.md §6.3). Entries are
// queued as sessions change and uploaded in one go after each step of work.
import { backup as fmt, inbound, randomBytes, signingKey } from "./primitives.js";

/** Entries per upload request. */
export const UPLOAD_CHUNK = 1000;

export class KeyBackup {
  constructor(state) {
    this.state = state;
    /** @type {Map<string, string>} */
    this._queue = new Map();
  }

  /** A new backup version under a fresh key, filled at once with every session this device
   * holds. argon2id runs here: `onProgress(fraction)` reports it (seconds on a phone). */
  async enable(passphrase, { ops, mem, onProgress } = {}) {
    const st = this.state;
    const ik = st.requireIdentity();
    const bk = randomBytes(32);
    const info = await fmt.makeBackupInfo(st.user_id, passphrase, bk, signingKey.seed(ik), {
      ops,
      mem,
      onProgress,
    });
    const existing = await st.api.getBackup();
    const version = existing == null ? 1 : Number(existing.version) + 1;
    await st.api.putBackup(version, info);
    st.backup_key = bk;
    st.backup_version = version;
    for (const sess of st.inbound.values()) this.queue(sess);
    this.queueHead();
    await this.flush();
  }

  /** The user's newest verified device-list head, sealed under this backup's key. */
  queueHead() {
    const st = this.state;
    const head = st.directory.head(st.user_id);
    if (st.backup_key == null || head == null) return;
    const eid = fmt.headEntryId(st.backup_key);
    this._queue.set(eid, fmt.sealHead(st.backup_key, st.user_id, head[0], head[1]));
  }

  /** Part of signing a new list: uploaded at once, since a restore trusts this head. */
  async recordHead() {
    this.queueHead();
    await this.flush();
  }

  /** Seal now, while the session is at hand; a later seal of the same session replaces it. */
  queue(sess) {
    const st = this.state;
    if (st.backup_key == null) return;
    const eid = fmt.entryId(st.backup_key, sess.room, sess.sd, sess.sid);
    this._queue.set(eid, fmt.sealEntry(st.backup_key, st.user_id, eid, sessExport(sess)));
  }

  async flush() {
    const st = this.state;
    if (!this._queue.size || st.backup_version == null) return;
    const items = [...this._queue].map(([id, data]) => ({ id, data }));
    this._queue.clear();
    for (let start = 0; start < items.length; start += UPLOAD_CHUNK) {
      await st.api.putBackupEntries(st.backup_version, items.slice(start, start + UPLOAD_CHUNK));
    }
  }
}

const sessExport = (sess) => inbound.exportBody(sess);
