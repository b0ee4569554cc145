// A JS E2EE client controlled over stdin/stdout, one JSON object per line, for the interop tests
// (tests/integration/test_js_interop.py). Each command {"id", "cmd", ...args} is answered by
// {"id", "ok": true, "result"} or {"id", "ok": false, "error": {"code", "message"}}; commands run
// one at a time, in order. The device state lives in a Map saved to `state_file` (JSON, byte
// arrays as {"$b64": ...}) on every save, so a new peer started on the same file is the same
// device after a restart.
//
//   node test/interop/peer.mjs
import { existsSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { createInterface } from "node:readline";
import { E2EEClient, MemoryStorage, STATE_NAME } from "../../src/e2ee/client.js";
import { RelaisClient } from "../../src/net/sdk.js";

// `node --test test/` runs every .mjs under test/: this driver is not a test, leave at once.
if (process.env.NODE_TEST_CONTEXT) process.exit(0);

const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const unb64 = (text) => new Uint8Array(Buffer.from(text, "base64"));

function toJsonText(value) {
  return JSON.stringify(value, (_k, v) => (v instanceof Uint8Array ? { $b64: b64(v) } : v));
}
function fromJsonText(text) {
  return JSON.parse(text, (_k, v) => (v && typeof v === "object" && typeof v.$b64 === "string" && Object.keys(v).length === 1 ? unb64(v.$b64) : v));
}

/** The Map written to a file after every save. */
class FileStorage extends MemoryStorage {
  constructor(path) {
    super(path && existsSync(path) ? Object.entries(fromJsonText(readFileSync(path, "utf8"))) : []);
    this.path = path;
  }
  async save(name, value) {
    await super.save(name, value);
    this.flush();
  }
  async delete(name) {
    await super.delete(name);
    this.flush();
  }
  flush() {
    if (!this.path) return;
    writeFileSync(this.path + ".tmp", toJsonText(Object.fromEntries(this.map)));
    renameSync(this.path + ".tmp", this.path);
  }
}

let api = null;
let e2ee = null;
let storage = null;
/** Every state each record went through, in order (waiting_for_key, then decrypted, ...). */
const seenStates = new Map();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function summary(rec) {
  return {
    id: rec.id,
    room_id: rec.room_id,
    seq: rec.seq,
    state: rec.state,
    sender_user: rec.sender_user,
    sender_device: rec.sender_device,
    content: rec.content,
    error: rec.error,
    sid: rec.envelope && rec.envelope.sid,
    states: seenStates.get(rec.id) || [],
  };
}

function matches(rec, q) {
  if (q.room && rec.room_id !== q.room) return false;
  if (q.text != null && !(rec.content && rec.content.type === "text" && rec.content.body === q.text)) return false;
  if (q.type && !(rec.content && rec.content.type === q.type)) return false;
  if (q.from && rec.sender_user !== q.from) return false;
  if (q.state && rec.state !== q.state) return false;
  return true;
}

async function waitFor(pred, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = pred();
    if (got) return got;
    if (Date.now() > deadline) throw Object.assign(new Error("timed out"), { code: "timeout" });
    await sleep(20);
  }
}

const commands = {
  async start({ url, username, password, state_file = null, fresh_inbox = false, policy = {} }) {
    storage = new FileStorage(state_file);
    const saved = await storage.load(STATE_NAME);
    if (saved && fresh_inbox) {
      // Forget what was received (not the keys): sync then fetches, and decrypts, all history.
      saved.records = [];
      saved.inbox = null;
      saved.waiting = [];
      saved.requested = [];
      saved.order = [];
    }
    api = new RelaisClient(url);
    await api.login(username, password, { deviceName: "js-peer", deviceId: saved ? saved.device_id : undefined });
    e2ee = await E2EEClient.open(api, { storage, policy: { retry_interval_s: 0.5, ...policy } });
    e2ee.on("message", (rec) => {
      const list = seenStates.get(rec.id) || [];
      if (list[list.length - 1] !== rec.state) list.push(rec.state);
      seenStates.set(rec.id, list);
    });
    e2ee.on("error", (err, where) => process.stderr.write(`e2ee error (${where}): ${err && err.stack}\n`));
    return { user_id: api.userId, device_id: api.deviceId, restored: !!saved, has_identity: e2ee.hasIdentity };
  },
  async bootstrap({ passphrase = null, ops, mem }) {
    let progress = 0;
    await e2ee.bootstrap(passphrase, { backupOps: ops, backupMem: mem, onProgress: () => progress++ });
    return { progress_calls: progress };
  },
  async enable_backup({ passphrase, ops, mem }) {
    let progress = 0;
    await e2ee.enableBackup(passphrase, { ops, mem, onProgress: () => progress++ });
    return { progress_calls: progress };
  },
  async restore_from_backup({ passphrase }) {
    let progress = 0;
    const imported = await e2ee.restoreFromBackup(passphrase, { onProgress: () => progress++ });
    return { imported, progress_calls: progress };
  },
  async start_new_device() {
    return { code: await e2ee.startNewDevice() };
  },
  async approve_device({ code }) {
    await e2ee.approveDevice(code);
    return {};
  },
  async connect() {
    await e2ee.connect();
    return {};
  },
  async create_room({ patient = null, history = "shared" }) {
    return { room_id: await e2ee.createRoom(patient, { history }) };
  },
  async add_member({ room, user, role = "member", history = "shared" }) {
    await e2ee.addMember(room, user, { roomRole: role, history });
    return {};
  },
  async remove_member({ room, user }) {
    await e2ee.removeMember(room, user);
    return {};
  },
  async send_text({ room, text }) {
    return await e2ee.sendText(room, text);
  },
  async send_file({ room, data, name, mime }) {
    return await e2ee.sendFile(room, unb64(data), { name, mime });
  },
  async wait_message({ timeout = 15000, ...q }) {
    let synced = false;
    const rec = await waitFor(() => {
      const hit = [...e2ee.records.values()].find((r) => r.state === "decrypted" && matches(r, q));
      return hit || null;
    }, timeout / 2).catch(async (err) => {
      if (err.code !== "timeout") throw err;
      synced = true;
      await api.sync();
      return waitFor(() => [...e2ee.records.values()].find((r) => r.state === "decrypted" && matches(r, q)) || null, timeout / 2);
    });
    return { ...summary(rec), synced };
  },
  async messages({ room }) {
    return e2ee.messages(room).map(summary);
  },
  async download({ content }) {
    return { data: b64(await e2ee.downloadFile(content)) };
  },
  async safety_number({ user }) {
    await e2ee.directory.ensure([user]);
    return { number: e2ee.safetyNumber(user) };
  },
  async sync() {
    return { delivered: await api.sync() };
  },
  async idle() {
    await e2ee.idle();
    return {};
  },
  async state() {
    return { summary: e2ee.exportStateSummary(), metrics: e2ee.metrics.counters, warnings: e2ee.warnings() };
  },
  async close() {
    await e2ee.close();
    return {};
  },
};

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const rl = createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on("line", (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
    } catch {
      reply({ id: null, ok: false, error: { code: "bad_request", message: "not JSON" } });
      return;
    }
    const fn = commands[req.cmd];
    if (!fn) {
      reply({ id: req.id, ok: false, error: { code: "unknown_command", message: String(req.cmd) } });
      return;
    }
    try {
      const result = await fn(req);
      reply({ id: req.id, ok: true, result });
    } catch (err) {
      reply({ id: req.id, ok: false, error: { code: err.code || "error", message: String(err.message || err), stack: err.stack } });
    }
    if (req.cmd === "close") process.exit(0);
  });
});
rl.on("close", () => {
  chain.then(async () => {
    if (e2ee) await e2ee.close().catch(() => {});
    process.exit(0);
  });
});
