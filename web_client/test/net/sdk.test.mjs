// The SDK (src/net/sdk.js) against a real server: tests/integration/test_js_interop.py starts
// `relais serve`, makes the accounts and runs this file with RELAIS_URL, RELAIS_USERS (a JSON
// list of usernames) and RELAIS_PASSWORD. Without RELAIS_URL every test is skipped.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ApiError, Inbox, RelaisClient } from "../../src/net/sdk.js";

const URL_ = process.env.RELAIS_URL;
const USERS = JSON.parse(process.env.RELAIS_USERS || "[]");
const PASSWORD = process.env.RELAIS_PASSWORD || "";
const skip = !URL_ && "RELAIS_URL not set (run through tests/integration/test_js_interop.py)";

const made = [];
after(async () => {
  for (const c of made) await c.close();
});

async function client(name, { connect = true } = {}) {
  const c = new RelaisClient(URL_);
  made.push(c);
  await c.login(name, PASSWORD, { deviceName: "node-test" });
  if (connect) await c.connect();
  return c;
}

const envelope = (text) => ({ v: 1, alg: "test.v1", ct: Buffer.from(text).toString("hex") });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(pred, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(20);
  }
}

test("Inbox: since moves only over contiguous seqs; duplicates still count", { skip: false }, () => {
  const inbox = new Inbox();
  assert.equal(inbox.accept({ id: "m3", room_id: "r", seq: 3 }), true);
  assert.equal(inbox.since.r, 0);
  assert.equal(inbox.accept({ id: "m1", room_id: "r", seq: 1 }), true);
  assert.equal(inbox.since.r, 1);
  assert.equal(inbox.accept({ id: "m2", room_id: "r", seq: 2 }), true);
  assert.equal(inbox.since.r, 3);
  assert.equal(inbox.accept({ id: "m2", room_id: "r", seq: 2 }), false);
  const back = Inbox.fromJSON(JSON.parse(JSON.stringify(inbox)));
  assert.deepEqual(back.since, { r: 3 });
  assert.equal(back.accept({ id: "m1", room_id: "r", seq: 1 }), false);
});

test("login, rooms, members, idempotent send, sync from zero delivers once", { skip }, async () => {
  const [a, b] = [await client(USERS[0]), await client(USERS[1], { connect: false })];
  await assert.rejects(a.login(USERS[0], "wrong password!"), (err) => err instanceof ApiError && err.code === "invalid_credentials");
  const room = await a.createRoom();
  await a.addMember(room, b.userId);
  const state = await a.getRoom(room);
  assert.deepEqual(state.members.map((m) => m.user_id).sort(), [a.userId, b.userId].sort());
  const first = await a.send(room, envelope("one"), { clientMsgId: "cmid-1" });
  const again = await a.send(room, envelope("one"), { clientMsgId: "cmid-1" });
  assert.equal(again.duplicate, true);
  assert.equal(again.id, first.id);
  await a.send(room, envelope("two"));
  const got = [];
  b.on("message", (m) => got.push(m));
  await b.connect();
  await b.sync(); // other tests' rooms come along too: look at this room only
  assert.equal(await b.sync(), 0);
  assert.deepEqual(got.filter((m) => m.room_id === room).map((m) => m.seq), [1, 2]);
  assert.equal(b.inbox.since[room], 2);
});

test("a message sent while the socket was down arrives through the sync after reconnect", { skip }, async () => {
  const a = await client(USERS[0]);
  const b = await client(USERS[1]);
  const room = await a.createRoom();
  await a.addMember(room, b.userId);
  await b.sync();
  const got = [];
  b.on("message", (m) => m.room_id === room && got.push(m.id));
  let reconnected = 0;
  b.on("reconnect", () => reconnected++);
  b.reconnectionDelay = 500;
  // Drop the transport as a flaky link would: socket.io reconnects by itself.
  b.socket.io.io.engine.close();
  await until(() => !b.connected);
  const sent = await a.send(room, envelope("while away"));
  await until(() => reconnected > 0);
  await until(() => got.includes(sent.id));
  const live = await a.send(room, envelope("live again"));
  await until(() => got.includes(live.id));
  assert.deepEqual(got, [sent.id, live.id]);
  assert.equal(b.inbox.since[room], 2);
});

test("to-device: live, then again through sync until acked", { skip }, async () => {
  const a = await client(USERS[0]);
  const b = await client(USERS[1], { connect: false });
  const room = await a.createRoom(); // to-device needs a shared room
  await a.addMember(room, b.userId);
  const ack = await a.sendToDevice([{ device_id: b.deviceId, type: "relais.pairwise.v1", payload: "p1" }], { clientMsgId: "td-1" });
  assert.equal(ack.stored, 1);
  const dup = await a.sendToDevice([{ device_id: b.deviceId, type: "relais.pairwise.v1", payload: "p1" }], { clientMsgId: "td-1" });
  assert.equal(dup.duplicates, 1);
  const entries = [];
  b.onToDevice = async (list) => {
    entries.push(...list);
  };
  await b.connect();
  await b.sync();
  assert.deepEqual(entries.map((e) => e.payload), ["p1"]);
  await b.sync(); // acked: not returned again
  assert.equal(entries.length, 1);
  await a.sendToDevice([{ device_id: b.deviceId, type: "relais.pairwise.v1", payload: "p2" }]);
  await until(() => entries.length === 2);
  assert.equal(entries[1].sender.device_id, a.deviceId);
});

test("attachments: upload bytes, download the same bytes", { skip }, async () => {
  const a = await client(USERS[0], { connect: false });
  const room = await a.createRoom();
  const data = new Uint8Array(70000).map((_, i) => (i * 7919) & 255);
  const up = await a.uploadAttachment(room, data);
  assert.equal(up.size, data.length);
  const back = await a.downloadAttachment(up.attachment_id);
  assert.deepEqual(back, data);
  await assert.rejects(a.downloadAttachment("a_nope"), (err) => err.code === "not_found");
});
