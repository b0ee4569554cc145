// One load-generator worker that speaks socket.io through the real client, as browsers do.
//   NODE_PATH=web_client/node_modules node bench/node_loadgen.js   (driven by bench/loadgen.py)
//
// Why: a lean client of our own (bench/eio.py) never negotiates permessage-deflate and parses
// nothing, so it measured a server that browsers never meet. This worker uses socket.io-client
// (the version web_client/ locks) with the options the browser app passes (websocket first,
// then polling) and its defaults otherwise: the `ws` transport offers permessage-deflate as a
// browser does, acks are matched by the client library, events are decoded by it.
//
// Protocol on stdin/stdout, one JSON object a line:
//   in : the spec {url, mode, event, clients: [[token, room, sends]], inflight, warmup, duration}
//   out: {type: "ready", connected, failed, error}
//   in : {type: "start", t0} (epoch seconds)   or {type: "stop"}
//   out: {type: "result", ...} (the fields of bench/loadgen.py Result)
//   in : {type: "stop"} ends an idle worker
"use strict";
const { receive, say } = require("./node_lines.js");
const { io } = require("socket.io-client");

const SEND_TAIL_MS = 10000; // as bench/loadgen.py SEND_TAIL_S
const CT = require("crypto").randomBytes(100).toString("hex");

function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
function sleepUntil(epochS) {
  return new Promise((r) => setTimeout(r, Math.max(0, epochS * 1000 - Date.now())));
}

function connect(url, token, res) {
  return new Promise((resolve) => {
    const socket = io(url, {
      auth: { token },
      transports: ["websocket", "polling"],
      forceNew: true,
      reconnection: false,
      timeout: 30000,
    });
    socket.events = 0;
    socket.onAny(() => {
      socket.events += 1;
    });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      res.failed += 1;
      res.error_sample = res.error_sample || String(err && err.message).slice(0, 300);
      socket.close();
      resolve(null);
    });
  });
}

async function connectAll(spec, res) {
  const out = [];
  let i = 0;
  async function lane() {
    while (i < spec.clients.length) {
      const [token, room, sends] = spec.clients[i++];
      const socket = await connect(spec.url, token, res);
      if (socket) out.push({ socket, room, sends });
    }
  }
  await Promise.all(Array.from({ length: 64 }, lane));
  return out;
}

function payload(event, room, cmid) {
  const envelope = { v: 1, alg: "bench", ct: CT };
  return event === "message.send"
    ? { room_id: room, client_msg_id: cmid, envelope }
    : { room_id: room, envelope };
}

async function drive(spec, res, clients, t0) {
  const tWarm = t0 + spec.warmup;
  const tEnd = tWarm + spec.duration;
  const now = () => Date.now() / 1000;

  function record(ack, startedWall, latencyMs) {
    const t = now();
    if (tWarm <= t && t < tEnd) res.completed += 1;
    if (!(tWarm <= startedWall && startedWall < tEnd)) return;
    if (ack && typeof ack === "object" && ack.error) {
      res.errors += 1;
      res.error_sample = res.error_sample || JSON.stringify(ack).slice(0, 300);
      return;
    }
    res.acks += 1;
    res.lat_ms.push(latencyMs);
  }

  async function closed(socket, room, uniq) {
    let n = 0;
    while (now() < tEnd) {
      n += 1;
      const started = now();
      const t = performance.now();
      res.sent += 1;
      let ack;
      try {
        ack = await socket.timeout(SEND_TAIL_MS).emitWithAck(spec.event, payload(spec.event, room, `${uniq}-${n}`));
      } catch (err) {
        res.timeouts += 1;
        return;
      }
      record(ack, started, performance.now() - t);
    }
  }

  async function opened(socket, room, uniq, rate) {
    const interval = 1 / rate;
    const start = t0 + Math.random() * interval;
    const pending = [];
    for (let k = 0; start + k * interval < tEnd; k++) {
      const intended = start + k * interval;
      await sleepUntil(intended);
      res.sent += 1;
      pending.push(
        socket
          .timeout(SEND_TAIL_MS)
          .emitWithAck(spec.event, payload(spec.event, room, `${uniq}-${k}`))
          .then((ack) => record(ack, intended, (now() - intended) * 1000))
          .catch(() => {
            res.timeouts += 1;
          }),
      );
    }
    await Promise.all(pending);
  }

  const window = (async () => {
    await sleepUntil(tWarm);
    const d0 = clients.reduce((s, c) => s + c.socket.events, 0);
    const c0 = cpuSeconds();
    await sleepUntil(tEnd);
    return [clients.reduce((s, c) => s + c.socket.events, 0) - d0, cpuSeconds() - c0];
  })();

  await sleepUntil(t0);
  const tag = Math.random().toString(16).slice(2, 8);
  const tasks = [];
  clients.forEach(({ socket, room, sends }, i) => {
    if (!sends) return;
    if (spec.mode === "closed") {
      for (let j = 0; j < spec.inflight; j++) tasks.push(closed(socket, room, `n${tag}${i}x${j}`));
    } else {
      tasks.push(opened(socket, room, `n${tag}${i}`, spec.rate_per_sender));
    }
  });
  await Promise.all(tasks);
  [res.deliveries, res.cpu_s] = await window;
}

(async () => {
  const spec = await receive();
  const res = {
    connected: 0, failed: 0, acks: 0, completed: 0, errors: 0, timeouts: 0, sent: 0,
    deliveries: 0, lat_ms: [], cpu_s: 0, error_sample: "",
  };
  const clients = await connectAll(spec, res);
  res.connected = clients.length;
  say({ type: "ready", connected: res.connected, failed: res.failed, error: res.error_sample });
  const msg = await receive();
  if (msg.type === "start" && spec.mode !== "idle") {
    await drive(spec, res, clients, msg.t0);
  } else if (msg.type === "start") {
    await receive(); // idle: hold the connections until "stop"
  }
  for (const { socket } of clients) socket.close();
  say({ type: "result", ...res }, () => process.exit(0));
})();
