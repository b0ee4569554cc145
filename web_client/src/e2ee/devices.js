// This device's own keys and its place in the user's signed device list (docs/crypto.md §2,
// §6.3; client/e2ee/devices.py). Three ways to get the identity key: be the first device
// (bootstrap), be approved by a device that already holds it (approval code), or unlock the key
// backup with the passphrase. Every list this device signs extends the newest one it verified
// (§2.5) and moves the head recorded in the key backup.
import {
  b64d,
  b64e,
  backup as fmt,
  CryptoError,
  dhKey,
  inbound,
  listGet,
  listGetRetired,
  makeDeviceList,
  makePrekey,
  newDeviceEntry,
  newRetiredDevice,
  signingKey,
  bytesEqual,
  trust as T,
} from "./primitives.js";
import { E2EEError } from "./state.js";

const sameEntry = (a, b) => a.id === b.id && bytesEqual(a.sign, b.sign) && bytesEqual(a.dh, b.dh);

export class OwnDevice {
  constructor(state, backup, sessions, outbox) {
    this.state = state;
    this.backup = backup;
    this.sessions = sessions;
    this.outbox = outbox;
  }

  /** First device of a user: it makes the identity key, so it is verified by definition. */
  async bootstrap(passphrase, { backupOps, backupMem, onProgress } = {}) {
    const st = this.state;
    st.ik = signingKey.generate();
    const pub = signingKey.public(st.ik);
    T.observe(st.trust, st.user_id, pub);
    T.markVerified(st.trust, st.user_id, pub);
    await this.publishPrekey();
    await this._publishDevices([st.ownEntry()]);
    if (passphrase != null) await this.backup.enable(passphrase, { ops: backupOps, mem: backupMem, onProgress });
  }

  /** The pre-key goes out first, so the approving device can encrypt to this one at once. */
  async startNewDevice() {
    await this.publishPrekey();
    await this.state.directory.ensure([this.state.user_id], { force: true });
    return this.approvalCode();
  }

  approvalCode() {
    const st = this.state;
    return { user: st.user_id, device: st.device_id, sign: signingKey.publicB64(st.dsk), dh: dhKey.publicB64(st.dx) };
  }

  /** On a trusted device: sign the new device into the list, then hand it the identity seed, the
   * backup key and every session this device holds, over the pairwise channel. */
  async approveDevice(code) {
    const st = this.state;
    const ik = st.requireIdentity();
    if (code.user !== st.user_id) throw new E2EEError("forbidden", "a device can only approve its own user's devices");
    const entry = newDeviceEntry(code.device, b64d(code.sign, 32), b64d(code.dh, 32));
    await st.lock.run(async () => {
      const current = await this._ownList();
      if (listGetRetired(current, entry.id)) throw new E2EEError("forbidden", "a revoked device never returns");
      const listed = listGet(current, entry.id);
      if (listed && !sameEntry(listed, entry)) throw new E2EEError("forbidden", "this device id is listed with other keys");
      if (!listed) await this._publishDevices([...current.devices, entry]);
      const secrets = { ik: b64e(signingKey.seed(ik)) };
      if (st.backup_key != null && st.backup_version != null) {
        secrets.bk = b64e(st.backup_key);
        secrets.bv = st.backup_version;
      }
      const items = [[st.user_id, entry.id, "device_secrets", secrets]];
      for (const sess of st.inbound.values()) items.push([st.user_id, entry.id, "room_key", inbound.exportBody(sess)]);
      await this.outbox.sendItems(items);
      st.metrics.inc("keys_forwarded", items.length - 1);
    });
  }

  /** A new device that knows the recovery passphrase: the passphrase alone yields the identity
   * seed and the backup key. The new list builds on the newest list the server can prove, never
   * an older one (the backup names the last head the user signed). `onProgress(fraction)`
   * reports argon2id. Returns how many sessions were imported. */
  async restoreFromBackup(passphrase, { onProgress } = {}) {
    const st = this.state;
    const info = await st.api.getBackup();
    if (info == null) throw new E2EEError("no_backup", "this account has no key backup");
    const [bk, seed] = await fmt.unlockBackup(info.info, st.user_id, passphrase, { onProgress });
    const ik = signingKey.fromSeed(seed);
    const entries = await st.api.backupEntries();
    const headId = fmt.headEntryId(bk);
    let head = null;
    for (const entry of entries) {
      if (entry.id !== headId) continue;
      try {
        head = fmt.openHead(bk, st.user_id, entry.data);
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
        st.metrics.inc(`backup_${err.code}`);
      }
    }
    const pub = signingKey.public(ik);
    T.observe(st.trust, st.user_id, pub);
    T.markVerified(st.trust, st.user_id, pub);
    return st.lock.run(async () => {
      if (head) await st.directory.learnHead(st.user_id, head[0], head[1]);
      await st.directory.ensure([st.user_id], { force: true });
      const frozen = st.directory.frozen.get(st.user_id);
      const current = st.directory.lists.get(st.user_id) ?? null;
      if (frozen) {
        const served = st.directory.served.get(st.user_id);
        throw new E2EEError(
          frozen,
          `the server serves device list version ${served}, the backup names version ${head ? head[0] : null}: refusing to build on it`,
        );
      }
      if (current && listGetRetired(current, st.device_id)) throw new E2EEError("forbidden", "a revoked device never returns");
      st.ik = ik;
      st.backup_key = bk;
      st.backup_version = Number(info.version);
      await this.publishPrekey();
      const devices = (current ? current.devices : []).filter((d) => d.id !== st.device_id);
      await this._publishDevices([...devices, st.ownEntry()]);
      let imported = 0;
      for (const entry of entries) {
        if (entry.id === headId) continue;
        try {
          const body = fmt.openEntry(bk, st.user_id, entry.id, entry.data);
          this.sessions.store(body, { forwarded: true });
          imported++;
        } catch (err) {
          if (!(err instanceof CryptoError)) throw err;
          st.metrics.inc(`backup_${err.code}`);
        }
      }
      return imported;
    });
  }

  /** The signed list changes first; then the server revokes the device's sessions. */
  async revokeDevice(deviceId) {
    const st = this.state;
    await st.lock.run(async () => {
      const current = await this._ownList();
      if (listGet(current, deviceId)) await this._publishDevices(current.devices.filter((d) => d.id !== deviceId));
    });
    await st.api.revokeDevice(deviceId);
  }

  /** The old private half is kept for the grace period: messages to it may still be queued. */
  async rotatePrekey() {
    const st = this.state;
    if (st.prekeys.size) st.prekey_retired.set(Math.max(...st.prekeys.keys()), st.clock());
    await this.publishPrekey();
    this.eraseExpiredPrekeys();
  }

  /** Called on every (re)connect. */
  async rotatePrekeyIfDue() {
    const st = this.state;
    if (st.prekeys.size) {
      const current = Math.max(...st.prekeys.keys());
      if (st.clock() - st.prekey_made.get(current) >= st.policy.prekey_rotate_ms) await this.rotatePrekey();
    }
    this.eraseExpiredPrekeys();
  }

  /** Erasing the private half is what makes past pairwise messages unreadable later. */
  eraseExpiredPrekeys() {
    const st = this.state;
    const limit = st.clock() - st.policy.prekey_grace_ms;
    for (const [keyId, retired] of [...st.prekey_retired]) {
      if (retired <= limit) {
        st.prekeys.delete(keyId);
        st.prekey_retired.delete(keyId);
      }
    }
  }

  async publishPrekey() {
    const st = this.state;
    const keyId = (st.prekeys.size ? Math.max(...st.prekeys.keys()) : 0) + 1;
    const key = dhKey.generate();
    st.prekeys.set(keyId, key);
    st.prekey_made.set(keyId, st.clock());
    const wire = makePrekey(st.dsk, st.user_id, st.device_id, keyId, dhKey.public(key), st.clock());
    await st.api.publishDeviceKeys(wire);
  }

  /** The user's newest verified list; a frozen one (forked, withheld) is never built on. */
  async _ownList() {
    const st = this.state;
    await st.directory.ensure([st.user_id], { force: true });
    const frozen = st.directory.frozen.get(st.user_id);
    if (frozen) throw new E2EEError(frozen, "this user's device list log cannot be verified");
    const current = st.directory.lists.get(st.user_id);
    if (!current) throw new E2EEError("no_identity", "this user has no verified device list");
    return current;
  }

  /** Sign the next list on top of the verified head; a device that leaves goes to `retired`.
   * Then the backup's head moves, so a restore never builds on anything older. */
  async _publishDevices(devices) {
    const st = this.state;
    const ik = st.requireIdentity();
    let current = st.directory.lists.get(st.user_id) ?? null;
    if (current && !bytesEqual(current.ik, signingKey.public(ik))) current = null;
    const live = new Set(devices.map((d) => d.id));
    const retired = current ? [...current.retired] : [];
    for (const d of current ? current.devices : []) if (!live.has(d.id)) retired.push(newRetiredDevice(d.id, d.sign));
    const ver = current ? current.ver + 1 : 1;
    const wire = makeDeviceList(ik, st.user_id, ver, devices, st.clock(), { prev: current ? current.hash : null, retired });
    await st.api.publishDeviceList(signingKey.publicB64(ik), wire, ver);
    await st.directory.ensure([st.user_id], { force: true });
    await this.backup.recordHead();
  }
}
