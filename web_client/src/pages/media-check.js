// Relais media check: one participant's WebRTC leg with the server's peer, in a plain page.
//
// Why it looks like this: the page must run without a build step or third-party code, so it
// speaks the few Engine.IO v4 / Socket.IO v5 packets it needs over one WebSocket itself. The
// session token comes in the URL fragment (#token=...), which browsers never send to the server,
// and is removed from the address bar at once. `window.relais` is what the browser tests read.
"use strict";

(() => {
  const EVENT_LOG_MAX = 1000;
  const CALL_TIMEOUT_MS = 30000;

  // -- Socket.IO over a plain WebSocket ---------------------------------------------------------
  // Engine.IO packet = type digit + payload (0 open, 1 close, 2 ping, 3 pong, 4 message).
  // A Socket.IO packet rides in a message: type digit (0 connect, 1 disconnect, 2 event, 3 ack,
  // 4 connect error), then an optional ack id, then JSON. Only the default namespace is used.
  class SocketIo {
    constructor(token, onEvent, onClose) {
      this.token = token;
      this.onEvent = onEvent;
      this.onClose = onClose;
      this.nextId = 1;
      this.pending = new Map();
      this.ws = null;
    }

    connect() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const url = `${scheme}://${location.host}/socket.io/?EIO=4&transport=websocket`;
      return new Promise((resolve, reject) => {
        let connected = false;
        const ws = new WebSocket(url);
        this.ws = ws;
        ws.onmessage = (msg) => {
          if (typeof msg.data !== "string") return; // no binary events in this protocol
          const text = msg.data;
          const eio = text[0];
          if (eio === "0") {
            ws.send("40" + JSON.stringify({ token: this.token }));
          } else if (eio === "2") {
            ws.send("3" + text.slice(1));
          } else if (eio === "1") {
            ws.close();
          } else if (eio === "4") {
            const p = SocketIo.decode(text.slice(1));
            if (p.type === "0") {
              connected = true;
              resolve(p.data);
            } else if (p.type === "4") {
              const err = (p.data && p.data.data && p.data.data.error) || {};
              reject(new RelaisError(err.code || "connect_error", err.message || "refused"));
            } else if (p.type === "1") {
              ws.close();
            } else if (p.type === "2" && Array.isArray(p.data)) {
              this.onEvent(p.data[0], p.data[1]);
            } else if (p.type === "3" && p.id !== null) {
              const waiter = this.pending.get(p.id);
              if (waiter) {
                this.pending.delete(p.id);
                waiter(Array.isArray(p.data) ? p.data[0] : undefined);
              }
            }
          }
        };
        ws.onclose = () => {
          for (const waiter of this.pending.values()) waiter(undefined);
          this.pending.clear();
          if (!connected) reject(new RelaisError("not_connected", "WebSocket closed"));
          this.onClose();
        };
      });
    }

    static decode(body) {
      const p = { type: body[0], id: null, data: undefined };
      let rest = body.slice(1);
      if (rest[0] === "/") {
        const comma = rest.indexOf(",");
        rest = comma === -1 ? "" : rest.slice(comma + 1);
      }
      const digits = /^[0-9]+/.exec(rest);
      if (digits) {
        p.id = Number(digits[0]);
        rest = rest.slice(digits[0].length);
      }
      if (rest) p.data = JSON.parse(rest);
      return p;
    }

    // An event with an ack: resolves with the server's answer, rejects with its typed error.
    call(name, data, timeoutMs = CALL_TIMEOUT_MS) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        return Promise.reject(new RelaisError("not_connected", "socket closed"));
      }
      const id = this.nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new RelaisError("timeout", `${name}: no answer`));
        }, timeoutMs);
        this.pending.set(id, (answer) => {
          clearTimeout(timer);
          if (answer === undefined) {
            reject(new RelaisError("not_connected", `${name}: socket closed`));
          } else if (answer && typeof answer.error === "object" && answer.error !== null) {
            reject(new RelaisError(answer.error.code, answer.error.message));
          } else {
            resolve(answer);
          }
        });
        this.ws.send("42" + id + JSON.stringify([name, data]));
      });
    }

    close() {
      if (this.ws) this.ws.close();
    }
  }

  class RelaisError extends Error {
    constructor(code, message) {
      super(`${code}: ${message}`);
      this.code = code;
    }
  }

  // -- page state -------------------------------------------------------------------------------
  const statusEl = document.getElementById("status");
  const remoteEl = document.getElementById("remote");
  const soundBtn = document.getElementById("sound");
  const hangupBtn = document.getElementById("hangup");

  const relais = {
    pc: null,
    events: [],
    state: "loading",
    error: null,
    plan: null,
    renegotiate: () => negotiate(),
    stats: () => stats(),
    hangup: () => hangup(),
  };
  window.relais = relais;

  let socket = null;
  let consultationId = null;
  const senders = {};
  let answered = false; // candidates wait for the first answer: the leg exists only then
  let queuedCandidates = [];
  let planChain = Promise.resolve();
  let admitted = null;

  function setStatus(state, text) {
    relais.state = state;
    statusEl.textContent = text;
  }

  function fail(err) {
    relais.error = String((err && err.message) || err);
    setStatus("error", `Erreur : ${relais.error}`);
  }

  function onEvent(name, data) {
    relais.events.push({ event: name, data });
    if (relais.events.length > EVENT_LOG_MAX) {
      relais.events.splice(0, relais.events.length - EVENT_LOG_MAX);
    }
    if (!data || data.consultation_id !== consultationId) return;
    if (name === "consult.state" && admitted) {
      if (data.state === "admitted") admitted.resolve();
      else if (data.state === "denied") admitted.reject(new RelaisError("not_admitted", "refusé"));
    } else if (name === "consult.send") {
      relais.plan = data.send;
      applyPlan();
    } else if (name === "consult.ended") {
      closeMedia();
      setStatus("ended", "La consultation est terminée.");
    } else if (name === "consult.leg" && ["failed", "ice_timeout"].includes(data.state)) {
      setStatus("media-lost", "Connexion média perdue.");
    }
  }

  // -- signalling ---------------------------------------------------------------------------------
  function sendCandidate(candidate) {
    return socket
      .call("consult.ice", { consultation_id: consultationId, candidate })
      .catch((err) => relais.events.push({ event: "local.ice_error", data: String(err.message) }));
  }

  function onIceCandidate(e) {
    const ice = e.candidate;
    const c = ice && ice.candidate
      ? { candidate: ice.candidate, sdpMid: ice.sdpMid, sdpMLineIndex: ice.sdpMLineIndex }
      : null;
    if (answered) sendCandidate(c);
    else queuedCandidates.push(c);
  }

  // The participant always offers: the first time and for every renegotiation on the same pc
  // (same ICE credentials, so the server renegotiates the same leg).
  async function negotiate() {
    const pc = relais.pc;
    await pc.setLocalDescription(await pc.createOffer());
    const answer = await socket.call("consult.offer", {
      consultation_id: consultationId,
      sdp: pc.localDescription.sdp,
    });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    if (!answered) {
      answered = true;
      const queued = queuedCandidates;
      queuedCandidates = [];
      for (const c of queued) await sendCandidate(c);
    }
    return answer.participant_id;
  }

  // Follow `consult.send`: what the server says this link and the receivers can carry.
  function applyPlan() {
    const plan = relais.plan;
    if (!plan || !senders.video) return planChain;
    planChain = planChain
      .then(async () => {
        await setEncoding(senders.video, plan.video === true, plan.video ? plan.video_kbps : 0);
        await setEncoding(senders.audio, plan.audio !== false, plan.audio_kbps);
      })
      .catch((err) => relais.events.push({ event: "local.plan_error", data: String(err.message) }));
    return planChain;
  }

  async function setEncoding(sender, active, kbps) {
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) params.encodings = [{}];
    const enc = params.encodings[0];
    enc.active = active;
    if (active && kbps > 0) enc.maxBitrate = Math.round(kbps * 1000);
    else delete enc.maxBitrate;
    await sender.setParameters(params);
  }

  // -- media --------------------------------------------------------------------------------------
  async function startMedia() {
    const config = await socket.call("consult.media_config", { consultation_id: consultationId });
    // `?relay=1` sends all media through the TURN servers (no direct path is tried): a check
    // that TURN, and the credential the server issued for it, work.
    const relayOnly = new URLSearchParams(location.search).get("relay") === "1";
    const pc = new RTCPeerConnection({
      iceServers: config.ice_servers || [],
      iceTransportPolicy: relayOnly ? "relay" : "all",
    });
    relais.pc = pc;
    pc.onicecandidate = onIceCandidate;
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "connected") setStatus("connected", "Connecté.");
      else if (pc.connectionState === "failed") setStatus("media-lost", "Connexion média perdue.");
    };
    const remote = new MediaStream();
    remoteEl.srcObject = remote;
    pc.ontrack = (e) => {
      remote.addTrack(e.track);
      remoteEl.play().catch(() => {});
    };
    const local = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: 640, height: 480 },
    });
    for (const track of local.getTracks()) {
      const t = pc.addTransceiver(track, { direction: "sendrecv", streams: [local] });
      senders[track.kind] = t.sender;
    }
    setStatus("negotiating", "Connexion audio et vidéo…");
    await negotiate();
    await applyPlan();
    soundBtn.disabled = false;
    hangupBtn.disabled = false;
  }

  async function stats() {
    const pc = relais.pc;
    const empty = () => ({
      packetsReceived: 0, bytesReceived: 0, framesDecoded: 0, packetsSent: 0,
      codecIn: null, codecOut: null,
    });
    const out = {
      connectionState: pc ? pc.connectionState : "none",
      audio: empty(),
      video: empty(),
    };
    if (!pc) return out;
    const report = await pc.getStats();
    const codec = (id) => (id && report.get(id) ? report.get(id).mimeType : null);
    report.forEach((s) => {
      const k = out[s.kind];
      if (!k) return;
      if (s.type === "inbound-rtp") {
        k.packetsReceived += s.packetsReceived || 0;
        k.bytesReceived += s.bytesReceived || 0;
        k.framesDecoded += s.framesDecoded || 0;
        k.codecIn = codec(s.codecId) || k.codecIn;
      } else if (s.type === "outbound-rtp") {
        k.packetsSent += s.packetsSent || 0;
        k.codecOut = codec(s.codecId) || k.codecOut;
      }
    });
    return out;
  }

  function closeMedia() {
    if (relais.pc) relais.pc.close();
    for (const sender of Object.values(senders)) if (sender.track) sender.track.stop();
    soundBtn.disabled = true;
    hangupBtn.disabled = true;
  }

  async function hangup() {
    closeMedia();
    await socket.call("consult.hangup", { consultation_id: consultationId });
    setStatus("hung-up", "Vous avez raccroché. La consultation reste ouverte.");
  }

  // -- start --------------------------------------------------------------------------------------
  async function main() {
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    consultationId = new URLSearchParams(location.search).get("consultation");
    history.replaceState(null, "", location.pathname + location.search);
    if (!token || !consultationId) {
      throw new RelaisError("bad_request", "lien incomplet (consultation ou jeton manquant)");
    }
    setStatus("connecting", "Connexion au serveur…");
    socket = new SocketIo(token, onEvent, () => {
      if (!["ended", "error"].includes(relais.state)) {
        setStatus("offline", "Connexion au serveur perdue.");
      }
    });
    await socket.connect();
    admitted = {};
    const wait = new Promise((resolve, reject) => Object.assign(admitted, { resolve, reject }));
    const joined = await socket.call("consult.join", { consultation_id: consultationId });
    if (joined.state !== "admitted") {
      setStatus("waiting", "Salle d'attente : le praticien va vous faire entrer.");
      await wait;
    }
    admitted = null;
    await startMedia();
  }

  soundBtn.addEventListener("click", () => {
    remoteEl.muted = !remoteEl.muted;
    soundBtn.textContent = remoteEl.muted ? "Activer le son" : "Couper le son";
  });
  hangupBtn.addEventListener("click", () => hangup().catch(fail));

  main().catch(fail);
})();
