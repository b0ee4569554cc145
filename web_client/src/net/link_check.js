// The waiting room's network check: loss, round-trip time and goodput to this server's media
// peer, over the path the call will take (docs/media.md, "Link check").
//
// Why a data channel and not an HTTP download: the call is UDP through the same ICE/TURN servers;
// a TCP download would hide loss (retransmitted) and go through proxies the call never sees.
// The channel is unordered with no retransmission, so a datagram lost on the way is simply not
// echoed. The server only mirrors (media/probe.py); every figure is computed here.
//
// The verdict uses the server's own thresholds (media/policy.py, PolicyConfig): a mode is
// started only where the adaptation would keep it, so the call does not open in video to fall to
// sound a few seconds later.

const OPEN_TIMEOUT_MS = 10000;
const LATENCY_PACKETS = 30;
const LATENCY_GAP_MS = 40;
const LATE_MS = 1000; // an echo later than this counts as lost
// Rates tried one after the other, each for STEP_MS; the first one the link does not carry ends
// the check (no point congesting it further). Chosen around the policy's floors: sound (40),
// video (162.5), and room above it.
const STEPS_KBPS = [48, 100, 170, 400];
const STEP_MS = 1500;
const STEADY_FROM = 0.4; // the share of a step left out at its start
const STEP_DATAGRAM = 500;
const CARRIED = 0.9; // a step passes when its echoes come back at this share of its rate
// ... and no later than this after the quiet RTT: a rate above the link's is first absorbed by
// queues (the browser's SCTP, the modem), which shows as a delay that grows through the step.
const QUEUE_GRACE_MS = 200;
const MAX_QUEUED_BYTES = 4000; // never build a queue on the patient's link: unsent counts as lost
const HEADER = 12; // u32 sequence number + f64 send time

// media/policy.py: floors x climb_margin (1.25), and the loss that degrades each mode.
export const VIDEO_KBPS = 130 * 1.25;
export const AUDIO_KBPS = 24 * 1.25;
export const VIDEO_MAX_LOSS = 0.1;
export const AUDIO_MAX_LOSS = 0.3;

/** "video" | "audio" | "text", from what the check measured. */
export function verdictOf({ kbps, loss, opened }) {
  if (!opened) return "text";
  if (kbps >= VIDEO_KBPS && loss < VIDEO_MAX_LOSS) return "video";
  if (kbps >= AUDIO_KBPS && loss < AUDIO_MAX_LOSS) return "audio";
  return "text";
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function datagram(seq, size) {
  const buf = new ArrayBuffer(size);
  const view = new DataView(buf);
  view.setUint32(0, seq);
  view.setFloat64(4, performance.now());
  return buf;
}

/**
 * Runs the check on `socket` (net/socket.js) for a waiting or admitted participant.
 * Resolves {opened, loss, rtt_ms, kbps, verdict}; never rejects for a bad link (that is a
 * verdict), only for a refusal of the server (an ApiError).
 * @param {import("./socket.js").Socket} socket
 * @param {string} consultationId
 */
export async function checkLink(socket, consultationId) {
  const ref = { consultation_id: consultationId };
  const config = await socket.call("consult.link_probe_config", ref);
  const pc = new RTCPeerConnection({ iceServers: config.ice_servers || [] });
  try {
    const channel = pc.createDataChannel("probe", { ordered: false, maxRetransmits: 0 });
    channel.binaryType = "arraybuffer";
    pc.onicecandidate = (e) => {
      const candidate = e.candidate && e.candidate.candidate ? e.candidate.toJSON() : null;
      socket.call("consult.link_probe_ice", { ...ref, candidate }).catch(() => {});
    };
    await pc.setLocalDescription(await pc.createOffer());
    const ack = await socket.call("consult.link_probe", { ...ref, sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: "answer", sdp: ack.sdp });
    const opened = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), OPEN_TIMEOUT_MS);
      channel.onopen = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    if (!opened) return { opened, loss: 1, rtt_ms: null, kbps: 0, verdict: "text" };
    const maxSize = Math.min(STEP_DATAGRAM, config.max_datagram || STEP_DATAGRAM);
    return { opened, ...(await measure(channel, maxSize)) };
  } finally {
    pc.close();
  }
}

async function measure(channel, size) {
  const echoed = new Map(); // seq -> [arrival ms, bytes]
  const rtts = [];
  channel.onmessage = (e) => {
    if (!(e.data instanceof ArrayBuffer) || e.data.byteLength < HEADER) return;
    const view = new DataView(e.data);
    const now = performance.now();
    const seq = view.getUint32(0);
    const rtt = now - view.getFloat64(4);
    // An echo later than LATE_MS counts as lost (audio that late is useless).
    if (echoed.has(seq) || rtt > LATE_MS) return;
    if (seq < LATENCY_PACKETS) rtts.push(rtt);
    echoed.set(seq, [now, e.data.byteLength, rtt]);
  };

  // 1. Loss and RTT: small datagrams at a pace any link carries.
  for (let seq = 0; seq < LATENCY_PACKETS; seq++) {
    if (channel.readyState !== "open") break;
    channel.send(datagram(seq, 100));
    await sleep(LATENCY_GAP_MS);
  }
  await sleep(LATE_MS);
  let back = 0;
  for (let seq = 0; seq < LATENCY_PACKETS; seq++) if (echoed.has(seq)) back++;
  const loss = 1 - back / LATENCY_PACKETS;

  // 2. Rate steps: paced datagrams at each rate in turn; a step passes when its echoes come back
  // at CARRIED of its rate, within LATE_MS, in its steady part. What the browser could not even
  // hand to the network (its small queue full) counts as not carried.
  let seq = LATENCY_PACKETS;
  let kbps = 0;
  const budget = Math.min(size, STEP_DATAGRAM);
  for (const rate of STEPS_KBPS) {
    if (channel.readyState !== "open") break;
    const scheduled = []; // [seq, ms into the step] of every datagram due, sent or not
    const interval = (budget * 8) / rate; // ms between datagrams at this rate
    const start = performance.now();
    let due = 0;
    while (performance.now() - start < STEP_MS) {
      const now = Math.floor((performance.now() - start) / interval) + 1;
      for (; due < now; due++) {
        scheduled.push([seq, performance.now() - start]);
        if (channel.bufferedAmount < MAX_QUEUED_BYTES) channel.send(datagram(seq, budget));
        seq++; // a datagram that could not be sent is a lost one
      }
      await sleep(5);
    }
    // Until every datagram is back, or the last one is LATE_MS old.
    const last = scheduled.length ? scheduled[scheduled.length - 1][0] : seq;
    for (let waited = 0; waited < LATE_MS && !echoed.has(last); waited += 50) await sleep(50);
    await sleep(50);
    // Datagrams due in the step's steady part, and how many of those came back in time: a
    // link's burst allowance (a token bucket, a modem's buffer) lets a short step through at
    // first and only then shows the link's rate. Counted by send time, so a slow echo (a busy
    // server) is not mistaken for a thin link.
    const steady = scheduled.filter(([, at]) => at >= STEADY_FROM * STEP_MS);
    const late = (median(rtts) || 0) + QUEUE_GRACE_MS;
    const back = steady.filter(([s]) => echoed.has(s) && echoed.get(s)[2] <= late).length;
    const carried = steady.length ? back / steady.length : 0;
    if (carried < CARRIED) {
      kbps = Math.max(kbps, Math.round(rate * carried));
      break;
    }
    kbps = rate;
  }
  const rtt_ms = median(rtts);
  const verdict = verdictOf({ kbps, loss, opened: true });
  return { loss, rtt_ms, kbps, verdict };
}
