// Keys at rest in the browser. Everything the app keeps between reloads lives in one IndexedDB
// database, each record sealed with AES-256-GCM, its name bound in as associated data so records
// cannot be swapped. Two keys, both WebCrypto non-extractable (script can use them, never read
// them):
//
// - the browser's own key, generated here and stored in the database, seals only the `session`
//   record (which user and device this browser is, and the session token while signed in). It
//   guards against script that can read IndexedDB but not use the key; it does NOT guard against
//   a copy of the profile folder: Chromium writes a non-extractable key's bytes into its IndexedDB
//   files, next to the records.
// - the user key seals everything else (device keys, pins, group sessions, the outbox, decrypted
//   history). It is derived (HKDF-SHA-256, a random salt kept here) from the device's vault key,
//   which the server hands only to a live session of this device (POST /api/v1/auth/vault-key),
//   and it is held in memory only. After "sign out" the token is gone, so nothing left on the
//   machine opens those records; signing in again on this browser fetches the same vault key and
//   the device is back as it was. Revoking the device erases the server's copy for good.
//
// The database is created at the first write, not when the page opens, and `wipe()` deletes it
// whole: after "forget this device" the browser holds nothing, not even an empty database.

const DB_NAME = "relais";
const DB_VERSION = 1;
const META = "meta";
const RECORDS = "records";
const WRAP_KEY_ID = "wrap-key";
const SALT_ID = "user-key-salt";
/** Records sealed under the browser's own key; every other record needs the user key. */
const DEVICE_RECORDS = new Set(["session"]);
const USER_KEY_INFO = new TextEncoder().encode("relais/web/vault/user-key/v1");

/** A record was asked for while the vault is locked (signed out, or the server not reached yet). */
export class VaultLocked extends Error {
  constructor() {
    super("the vault is locked");
    this.code = "vault_locked";
  }
}

/** @param {IDBRequest} req */
function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDb() {
  const req = indexedDB.open(DB_NAME, DB_VERSION);
  req.onupgradeneeded = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
    if (!db.objectStoreNames.contains(RECORDS)) db.createObjectStore(RECORDS);
  };
  return done(req);
}

// Records are JSON with byte strings tagged, so Uint8Array fields round-trip exactly.
function encode(value) {
  return new TextEncoder().encode(
    JSON.stringify(value, (_, v) => (v instanceof Uint8Array ? { $bytes: toB64(v) } : v)),
  );
}

function decode(bytes) {
  return JSON.parse(new TextDecoder().decode(bytes), (_, v) =>
    v && typeof v === "object" && typeof v.$bytes === "string" && Object.keys(v).length === 1 ? fromB64(v.$bytes) : v,
  );
}

function toB64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromB64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

async function exists() {
  if (!indexedDB.databases) return true; // cannot tell: open it (an old browser)
  return (await indexedDB.databases()).some((d) => d.name === DB_NAME);
}

export class Vault {
  /** @param {IDBDatabase|null} db @param {CryptoKey|null} key */
  constructor(db, key) {
    this.db = db;
    this.key = key;
    /** @type {CryptoKey|null} */
    this.userKey = null;
    /** Set by `wipe()`: this page never writes again (the next page starts a new vault). */
    this.wiped = false;
  }

  get locked() {
    return this.userKey === null;
  }

  /** Derives the user key from the device's vault key (base64url, 32 bytes, from the server). */
  async unlock(vaultKey) {
    await this.ensure();
    let salt = await done(this.db.transaction(META).objectStore(META).get(SALT_ID));
    if (!salt) {
      salt = crypto.getRandomValues(new Uint8Array(32));
      await done(this.db.transaction(META, "readwrite").objectStore(META).put(salt, SALT_ID));
    }
    const raw = fromB64(vaultKey.replace(/-/g, "+").replace(/_/g, "/"));
    if (raw.length !== 32) throw new Error("bad vault key");
    const ikm = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
    this.userKey = await crypto.subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt, info: USER_KEY_INFO },
      ikm,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"],
    );
  }

  /** Forgets the user key: records stay on disk, sealed, until the next unlock. */
  lock() {
    this.userKey = null;
  }

  _keyFor(name) {
    if (DEVICE_RECORDS.has(name)) return this.key;
    if (!this.userKey) throw new VaultLocked();
    return this.userKey;
  }

  /** The vault of this browser; empty (and not yet created) when nothing was ever stored. */
  static async open() {
    return (await exists()) ? Vault.create() : new Vault(null, null);
  }

  /** Opens or creates the database and its non-extractable key. */
  static async create() {
    const db = await openDb();
    let key = await done(db.transaction(META).objectStore(META).get(WRAP_KEY_ID));
    if (!key) {
      key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
      await done(db.transaction(META, "readwrite").objectStore(META).put(key, WRAP_KEY_ID));
    }
    return new Vault(db, key);
  }

  async ensure() {
    if (this.wiped) throw new VaultLocked();
    if (!this.db) {
      const made = await Vault.create();
      this.db = made.db;
      this.key = made.key;
    }
  }

  /** The record's name is bound into the seal, so a record cannot be swapped for another. */
  async put(name, value) {
    await this.ensure();
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ad = new TextEncoder().encode(`relais/web/vault/${name}`);
    const ct = new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: ad }, this._keyFor(name), encode(value)),
    );
    await done(this.db.transaction(RECORDS, "readwrite").objectStore(RECORDS).put({ iv, ct }, name));
  }

  /** The record, or undefined; a record that does not open is dropped rather than trusted
   * (sealed under a key that is gone for good: a revoked device's). */
  async get(name) {
    if (!this.db) return undefined;
    const key = this._keyFor(name);
    const sealed = await done(this.db.transaction(RECORDS).objectStore(RECORDS).get(name));
    if (!sealed) return undefined;
    const ad = new TextEncoder().encode(`relais/web/vault/${name}`);
    try {
      const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: sealed.iv, additionalData: ad }, key, sealed.ct);
      return decode(new Uint8Array(plain));
    } catch {
      await this.delete(name);
      return undefined;
    }
  }

  async delete(name) {
    if (!this.db) return;
    await done(this.db.transaction(RECORDS, "readwrite").objectStore(RECORDS).delete(name));
  }

  /** Names of the records held (for "sign out": drop some, keep the device). */
  async names() {
    if (!this.db) return [];
    return done(this.db.transaction(RECORDS).objectStore(RECORDS).getAllKeys());
  }

  /** Deletes the whole database, wrapping key included.
   * @param {boolean} final true on the way out ("forget"); false to start afresh in this page. */
  async wipe(final = true) {
    this.wiped = final;
    this.db?.close();
    this.db = null;
    this.key = null;
    this.userKey = null;
    await done(indexedDB.deleteDatabase(DB_NAME));
  }
}
