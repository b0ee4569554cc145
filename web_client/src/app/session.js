// The signed-in session of this browser: the token and device kept in the vault, so a reload
// resumes where the user was, and the two ways out. Each session fetches the device's vault key
// and unlocks the vault with it (store/vault.js). "Sign out" ends the session on the server, drops
// its token and locks the vault: the device's keys stay on disk, sealed under a key nothing on the
// machine holds any more, and the next sign-in on this browser unlocks them again. "Forget this
// device" also takes the device out of the user's signed device list and revokes it (the server
// erases its vault key), then deletes the whole vault: nothing of the user is left in the browser.
import { Api } from "../net/api.js";

const SESSION = "session";

export class Session {
  /** @param {import("../store/vault.js").Vault} vault @param {Api} api @param {object} record */
  constructor(vault, api, record) {
    this.vault = vault;
    this.api = api;
    this.record = record;
  }

  get userId() {
    return this.record.user_id;
  }
  get deviceId() {
    return this.record.device_id;
  }
  get token() {
    return this.record.token;
  }

  /** The saved session if its token still works; a revoked or expired one is dropped. */
  static async resume(vault, api = new Api()) {
    const record = await vault.get(SESSION);
    if (!record?.token) return null;
    api.token = record.token;
    try {
      const me = await api.get("/api/v1/me");
      const session = new Session(vault, api, { ...record, ...me });
      await session.unlock();
      return session;
    } catch (err) {
      if (err.code === "unauthorized") {
        api.token = null;
        await vault.put(SESSION, { device_id: record.device_id, user_id: record.user_id });
        return null;
      }
      // Offline or server down: keep the record; the vault stays locked until the server answers
      // (main.js waits and retries `unlock`).
      return new Session(vault, api, record);
    }
  }

  /** Password login, reusing this browser's device for the same user. */
  static async login(vault, { username, password, totp }, api = new Api()) {
    const previous = (await vault.get(SESSION)) || {};
    const body = { username, password, device_name: deviceName() };
    if (totp) body.totp = totp;
    if (previous.device_id) body.device_id = previous.device_id;
    let answer;
    try {
      answer = await api.post("/api/v1/auth/login", body);
    } catch (err) {
      // The remembered device was revoked elsewhere: a revoked device never returns, so this
      // browser starts as a new device (its old records are wiped just below).
      if (err.code !== "not_found" || !body.device_id) throw err;
      delete body.device_id;
      answer = await api.post("/api/v1/auth/login", body);
    }
    if (previous.user_id && (previous.user_id !== answer.user_id || previous.device_id !== answer.device_id)) {
      // Another person signs in on this browser, or this browser's device was revoked meanwhile:
      // the previous device's sealed records must not stay (they no longer open anyway).
      await vault.wipe(false);
    }
    api.token = answer.token;
    const me = await api.get("/api/v1/me");
    const record = { ...answer, ...me };
    const session = new Session(vault, api, record);
    await session.unlock();
    await vault.put(SESSION, record);
    return session;
  }

  /** Fetches this device's vault key and opens the vault with it. */
  async unlock() {
    const { key } = await this.api.post("/api/v1/auth/vault-key");
    await this.vault.unlock(key);
  }

  async signOut() {
    try {
      await this.api.post("/api/v1/auth/logout");
    } catch {
      // Offline: the token is dropped here anyway; it expires on the server.
    }
    this.api.token = null;
    await this.vault.put(SESSION, { device_id: this.deviceId, user_id: this.userId });
    this.vault.lock();
  }

  /** The server ended this session (signed out or revoked from another device): the token is
   * dropped and the vault locked; the next sign-in tells whether the device itself is still valid. */
  async endedElsewhere() {
    this.api.token = null;
    await this.vault.put(SESSION, { device_id: this.deviceId, user_id: this.userId });
    this.vault.lock();
  }

  /** @param {(() => Promise<void>)|null} unlist takes this device out of the signed device list
   * (and revokes it); without it, or when it fails, the server revocation alone is done. */
  async forgetDevice(unlist = null) {
    let revoked = false;
    if (unlist) {
      try {
        await unlist();
        revoked = true;
      } catch {
        // Offline, or the list could not be signed: the server revocation below still happens.
      }
    }
    if (!revoked) {
      try {
        await this.api.delete(`/api/v1/devices/${encodeURIComponent(this.deviceId)}`);
      } catch {
        // Already revoked, or offline: the local wipe below is what matters on a shared device.
      }
    }
    try {
      await this.api.post("/api/v1/auth/logout");
    } catch {
      // the device revocation already ended the session
    }
    this.api.token = null;
    await this.vault.wipe();
  }
}

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrom/.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Windows/.test(ua) ? "Windows" : /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  return `${browser}${os ? " · " + os : ""}`.slice(0, 200);
}
