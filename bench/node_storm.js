// The reconnection storm's clients, through the real socket.io client (driven by
// bench/reconnect_storm.py):   NODE_PATH=web_client/node_modules node bench/node_storm.js
//
// Every client does what the browser app does after its link comes back: a new socket.io
// connection (websocket first, then polling, the library's defaults otherwise), then `sync` from
// the seq it last had in its room, page after page while `more`, keeping message.new meanwhile.
// A client is caught up when it holds every seq of its room up to the room's last one.
//
// Protocol on stdin/stdout, one JSON object a line:
//   in : {url, clients: [[token, room, sender]], per_room, lanes}
//   out: {type: "ready", connected, failed, error}     (everyone connected once: the "before")
//   in : {type: "drop"}      every non-sender closes its socket (their link is gone)
//   out: {type: "dropped"}
//   in : {type: "send"}      each sender sends `per_room` messages to its room, acked
//   out: {type: "sent", acked, errors, error}
//   in : {type: "storm", t0} (epoch seconds) every dropped client reconnects at t0 and syncs
//   out: {type: "result", ...}
"use strict";
const { receive, say } = require("./node_lines.js");
const { io } = require("socket.io-client");

const CT = require("crypto").randomBytes(100).toString("hex");
const CALL_MS = 30000;
const STORM_LIMIT_S = 120;

function sleepUntil(epochS) {
  return new Promise((r) => setTimeout(r, Math.max(0, epochS * 1000 - Date.now())));
}

function open(url, token) {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      auth: { token },
      transports: ["websocket", "polling"],
      forceNew: true,
      reconnection: false,
      timeout: CALL_MS,
    });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

// One client of the storm: its room, the seqs it holds, and the ids it saw (duplicates count).
class Client {
  constructor(token, room) {
    this.token = token;
    this.room = room;
    this.seqs = new Set();
    this.ids = new Set();
    this.duplicates = 0;
    this.base = 0; // the seq it held when its link went (everything before is not counted)
    this.lastSeq = 0; // the room's, as sync reports it
    this.socket = null;
  }
  take(msg) {
    if (!msg || msg.room_id !== this.room) return;
    if (this.ids.has(msg.id)) {
      this.duplicates += 1;
      return;
    }
    this.ids.add(msg.id);
    this.seqs.add(msg.seq);
  }
  highest() {
    let s = this.base;
    while (this.seqs.has(s + 1)) s += 1;
    return s;
  }
  caughtUp() {
    return this.highest() >= this.lastSeq;
  }
}

async function connectAll(spec, clients, res) {
  let i = 0;
  async function lane() {
    while (i < clients.length) {
      const c = clients[i++];
      try {
        c.socket = await open(spec.url, c.token);
        c.socket.on("message.new", (m) => c.take(m));
        // Up to date before the link goes: where the room is now (a position past the end
        // returns no messages, only the room's last seq).
        const page = await c.socket.timeout(CALL_MS).emitWithAck("sync", {
          since: { [c.room]: 2 ** 31 },
          limit: 1,
        });
        if (page && page.error) throw new Error(JSON.stringify(page.error));
        const mine = page.rooms.find((r) => r.room_id === c.room);
        c.base = c.lastSeq = mine ? mine.last_seq : 0;
      } catch (err) {
        res.failed += 1;
        res.error = res.error || String(err && err.message).slice(0, 300);
      }
    }
  }
  await Promise.all(Array.from({ length: spec.lanes }, lane));
}

async function send(spec, senders) {
  const out = { acked: 0, errors: 0, error: "" };
  const tag = Math.random().toString(16).slice(2, 8);
  await Promise.all(
    senders.map(async (c, i) => {
      for (let k = 0; k < spec.per_room; k++) {
        const body = {
          room_id: c.room,
          client_msg_id: `storm-${tag}-${i}-${k}`,
          envelope: { v: 1, alg: "bench", ct: CT },
        };
        try {
          const ack = await c.socket.timeout(CALL_MS).emitWithAck("message.send", body);
          if (ack && ack.error) throw new Error(JSON.stringify(ack.error));
          out.acked += 1;
        } catch (err) {
          out.errors += 1;
          out.error = out.error || String(err && err.message).slice(0, 300);
        }
      }
    }),
  );
  return out;
}

// Reconnect, then sync until nothing more; returns [connected_at, caught_up_at] (ms since t0).
async function catchUp(spec, c, t0ms) {
  const socket = await open(spec.url, c.token);
  c.socket = socket;
  socket.on("message.new", (m) => c.take(m));
  const connected = Date.now() - t0ms;
  for (;;) {
    const since = { [c.room]: c.highest() };
    const page = await socket.timeout(CALL_MS).emitWithAck("sync", { since });
    if (page && page.error) throw new Error(JSON.stringify(page.error));
    for (const room of page.rooms) {
      if (room.room_id !== c.room) continue;
      c.lastSeq = Math.max(c.lastSeq, room.last_seq);
      for (const m of room.messages) c.take(m);
    }
    if (page.to_device && page.to_device.length) {
      await socket.timeout(CALL_MS).emitWithAck("todevice.ack", {
        up_to: page.to_device[page.to_device.length - 1].id,
      });
    }
    if (!page.more && c.caughtUp()) break;
    if (!page.more && !c.caughtUp()) throw new Error(`sync ended at ${c.highest()} of ${c.lastSeq}`);
  }
  return [connected, Date.now() - t0ms];
}

async function storm(spec, dropped, t0) {
  const res = {
    clients: dropped.length, caught_up: 0, failed: 0, error: "",
    connect_ms: [], caught_up_ms: [], messages: 0, duplicates: 0, missing: 0,
  };
  await sleepUntil(t0);
  const t0ms = t0 * 1000;
  const deadline = new Promise((r) => setTimeout(r, STORM_LIMIT_S * 1000, "deadline"));
  await Promise.race([
    deadline,
    Promise.all(
      dropped.map(async (c) => {
        try {
          const [connected, done] = await catchUp(spec, c, t0ms);
          res.connect_ms.push(connected);
          res.caught_up_ms.push(done);
          res.caught_up += 1;
        } catch (err) {
          res.failed += 1;
          res.error = res.error || String(err && err.message).slice(0, 300);
        }
      }),
    ),
  ]);
  for (const c of dropped) {
    res.messages += c.ids.size;
    res.duplicates += c.duplicates;
    let got = 0;
    for (const s of c.seqs) if (s > c.base) got += 1;
    res.missing += Math.max(0, spec.per_room - got);
  }
  return res;
}

(async () => {
  const spec = await receive();
  const clients = spec.clients.map(([token, room, sender]) => {
    const c = new Client(token, room);
    c.sender = sender;
    return c;
  });
  const res = { failed: 0, error: "" };
  await connectAll(spec, clients, res);
  const live = clients.filter((c) => c.socket);
  say({ type: "ready", connected: live.length, failed: res.failed, error: res.error });
  let result = {};
  for (;;) {
    const msg = await receive();
    if (msg.type === "drop") {
      for (const c of live) {
        if (c.sender) continue;
        c.socket.close();
        c.socket = null;
      }
      say({ type: "dropped" });
    } else if (msg.type === "send") {
      say({ type: "sent", ...(await send(spec, live.filter((c) => c.sender))) });
    } else if (msg.type === "storm") {
      result = await storm(spec, live.filter((c) => !c.sender), msg.t0);
      break;
    } else {
      break;
    }
  }
  for (const c of clients) if (c.socket) c.socket.close();
  say({ type: "result", ...result }, () => process.exit(0));
})();
