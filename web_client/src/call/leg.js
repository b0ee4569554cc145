// One participant's media leg: this browser's RTCPeerConnection with the server's aiortc peer
// (docs/protocol.md "Consultation media", docs/media.md). The patient's join page and the
// clinician's consultation screen both use it; each hands it its own signalling door, because the
// join page owns a bare socket while the workspace talks through AppClient.
//
// What the server expects of a participant, and why this module is shaped by it:
// - The participant always offers, audio and video `sendrecv`, even without a camera or a
//   microphone (a transceiver without a track sends nothing but can still receive).
// - aiortc gathers all its candidates before answering; ours trickle with `consult.ice`, but only
//   once the answer is in (before it, the server has no leg to give them to).
// - aiortc cannot restart ICE: after a lost leg (`consult.leg` failed / ice_timeout, our own
//   connection failing, or a reload) the cure is a *new* peer connection and a new offer, which
//   the server answers with a fresh leg while the consultation and the admission stay untouched.
//   Retried with growing spacing, as `client/consult.py` does.
// - `consult.send` is an order: what this link may send. It is applied to the encoders at once.
import { Emitter } from "../net/events.js";
import { openDevices } from "./devices.js";
import { missedChange } from "./modes.js";
import { readStats } from "./stats.js";

const OFFER_TIMEOUT_MS = 30000;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 8000;
// Leg states after which the server holds no leg for us any more.
const LOST = ["failed", "ice_timeout"];
// No new decoded video frame for this long: the other side shows no picture (avatar).
const PICTURE_GONE_MS = 2000;
const PICTURE_CHECK_MS = 1000;

/**
 * @typedef {{call: (event: string, payload: object, timeoutMs?: number) => Promise<any>,
 *            subscribe: (handler: (event: string, data: any) => void) => () => void}} Signal
 * The leg's only way to the server: an acked call, and every server event.
 */

/**
 * Events: "state" (idle | starting | connecting | connected | reconnecting | closed),
 * "devices" (what openDevices found), "remote" (the MediaStream of the other side, its tracks
 * come and go), "mode" (consult.mode), "quality" (consult.quality), "plan" (consult.send),
 * "local" (microphone / camera on or off), "picture" (whether the other side's video is
 * arriving), "ended", "refused" (no longer admitted).
 */
export class CallLeg extends Emitter {
  /**
   * @param {Signal} signal
   * @param {string} consultationId
   * @param {{openDevices?: typeof openDevices}} [opts]
   */
  constructor(signal, consultationId, opts = {}) {
    super();
    this.signal = signal;
    this.consultationId = consultationId;
    this._openDevices = opts.openDevices || openDevices;
    this.state = "idle";
    /** @type {RTCPeerConnection|null} */ this.pc = null;
    /** @type {import("./devices.js").Devices|null} */ this.devices = null;
    /** @type {string|null} our participant id, from the server's answer */ this.participantId = null;
    this.remote = new MediaStream();
    /** The last consult.mode (or consult.quality mode) per participant id. */
    this.modes = new Map();
    /** The last consult.quality per participant id. */
    this.quality = new Map();
    /** Modes chosen by hand (consult.mode_choice) per participant id: "audio-only", "text-only";
     * absent: automatic. */
    this.choices = new Map();
    this.plan = null;
    this.micOn = true;
    this.cameraOn = true;
    /** Whether frames of the other side's video are being decoded now. */
    this.picture = false;
    this._frames = 0;
    this._frameAt = 0;
    this._watch = null;
    this._senders = /** @type {Record<string, RTCRtpSender>} */ ({});
    this._closed = false;
    this._retry = null;
    this._retryDelay = RETRY_FIRST_MS;
    this._negotiating = null;
    /** The Opus packet length (ms) the server's last answer asked for. */
    this.ptime = null;
    this._renegotiating = false;
    this._off = signal.subscribe((event, data) => this._onEvent(event, data));
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state);
  }

  /** Opens the devices (once) and negotiates a leg; never throws (a failure is retried). Safe
   * to call again: a leg that is up is kept, one that is not is replaced. */
  async start() {
    if (this._closed) return;
    if (this._negotiating) return this._negotiating;
    if (this.pc && ["connected", "connecting", "new"].includes(this.pc.connectionState) && this.state !== "reconnecting")
      return;
    this._negotiating = this._negotiate()
      .catch((err) => this._failed(err))
      .finally(() => (this._negotiating = null));
    return this._negotiating;
  }

  /** A negotiation that did not go through: retried, unless the server says we have no place in
   * this consultation any more (the screen hears it as "refused" and says so). */
  _failed(err) {
    if (this._closed) return;
    if (["not_admitted", "consultation_ended", "not_found"].includes(err?.code)) {
      this.close();
      this.emit("refused", err);
    } else this._lost();
  }

  async _negotiate() {
    if (!this._watch) this._watch = setInterval(() => this._checkPicture(), PICTURE_CHECK_MS);
    if (!this.devices) {
      this._setState("starting");
      this.devices = await this._openDevices();
      if (this._closed) return this._release();
      if (!this.devices.audio) this.micOn = false;
      if (!this.devices.video) this.cameraOn = false;
      this.emit("devices", this.devices);
    }
    const id = this.consultationId;
    const config = await this.signal.call("consult.media_config", { consultation_id: id });
    if (this._closed) return;
    this._dropPeer();
    const pc = new RTCPeerConnection({ iceServers: config.ice_servers || [] });
    this.pc = pc;
    this._setState("connecting");
    const stream = this.devices.stream;
    for (const kind of ["audio", "video"]) {
      const track = stream?.getTracks().find((t) => t.kind === kind) || null;
      const t = track
        ? pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] })
        : pc.addTransceiver(kind, { direction: "sendrecv" });
      this._senders[kind] = t.sender;
    }
    this._applyLocal();
    let answered = false;
    const early = [];
    pc.onicecandidate = (e) => {
      const c = e.candidate && e.candidate.candidate ? { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex } : null;
      if (answered) this._sendCandidate(pc, c);
      else early.push(c);
    };
    pc.ontrack = (e) => this._addRemote(e.track);
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === "connected") {
        this._retryDelay = RETRY_FIRST_MS;
        this._setState("connected");
      } else if (pc.connectionState === "failed") this._lost();
    };
    await pc.setLocalDescription(await pc.createOffer());
    const answer = await this.signal.call("consult.offer", { consultation_id: id, sdp: pc.localDescription.sdp }, OFFER_TIMEOUT_MS);
    if (pc !== this.pc) return;
    this.participantId = answer.participant_id;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    this.ptime = ptimeOf(answer.sdp);
    answered = true;
    for (const c of early) this._sendCandidate(pc, c);
    await this._applyPlan();
  }

  _sendCandidate(pc, candidate) {
    if (pc !== this.pc) return;
    this.signal.call("consult.ice", { consultation_id: this.consultationId, candidate }).catch(() => {
      // A candidate the server could not take (its leg was just replaced, the socket dropped):
      // the connection either succeeds on the others or fails, and then a fresh leg is offered.
    });
  }

  /** Keeps one stream of the other side, whose tracks are swapped as legs are renegotiated, so
   * the screen's <video> keeps its srcObject. */
  _addRemote(track) {
    for (const old of this.remote.getTracks()) if (old.kind === track.kind && old !== track) this.remote.removeTrack(old);
    if (!this.remote.getTracks().includes(track)) this.remote.addTrack(track);
    const changed = () => this.emit("remote", this.remote);
    track.onmute = changed;
    track.onunmute = changed;
    track.onended = changed;
    changed();
  }

  /** Whether a picture arrives, from the decoder's own count. A remote track is not muted when
   * its sender pauses (the other side turned its camera off), nor when the server stops
   * relaying video to a leg in audio-only: only the frames tell. */
  async _checkPicture() {
    const pc = this.pc;
    let frames = 0;
    if (pc) {
      try {
        frames = (await readStats(pc)).video.framesDecoded;
      } catch {
        frames = 0; // closed meanwhile
      }
    }
    const now = Date.now();
    if (frames > 0 && frames !== this._frames) this._frameAt = now;
    this._frames = frames;
    const picture = frames > 0 && now - this._frameAt < PICTURE_GONE_MS;
    if (picture !== this.picture && !this._closed) {
      this.picture = picture;
      this.emit("picture", picture);
    }
  }

  /** The leg is gone (our side saw it fail, or the server said so): offer a fresh one, spaced
   * out, until one connects. The consultation and the admission were never at stake. */
  _lost() {
    if (this._closed || this._retry) return;
    this._setState("reconnecting");
    const delay = this._retryDelay;
    this._retryDelay = Math.min(this._retryDelay * 2, RETRY_MAX_MS);
    this._retry = setTimeout(() => {
      this._retry = null;
      this.start();
    }, delay);
  }

  /** After the socket came back: if the server dropped our leg meanwhile (a socket gone longer
   * than its 45 s grace), offer again; a leg that still carries media is left alone. */
  resume() {
    if (this._closed) return;
    if (!this.pc || this.pc.connectionState === "failed" || this.pc.connectionState === "closed") this._lost();
  }

  /** Sound only or text only by hand, or "auto" again: one's own mode, or (host) anyone's. */
  async chooseMode(participantId, mode) {
    return this.signal.call("consult.set_mode", { consultation_id: this.consultationId, participant_id: participantId, mode });
  }

  _onEvent(event, data) {
    if (!data || data.consultation_id !== this.consultationId || this._closed) return;
    if (event === "consult.send") {
      this.plan = data.send;
      this._applyPlan();
      this._followPtime();
      this.emit("plan", this.plan);
    } else if (event === "consult.mode") {
      this.modes.set(data.participant_id, data);
      this.emit("mode", data);
    } else if (event === "consult.quality") {
      this.quality.set(data.participant_id, data);
      const missed = missedChange(this.modes.get(data.participant_id), data, this.choices.get(data.participant_id));
      if (missed) {
        this.modes.set(data.participant_id, missed);
        this.emit("mode", missed);
      }
      this.emit("quality", data);
    } else if (event === "consult.mode_choice") {
      if (data.mode === "auto") this.choices.delete(data.participant_id);
      else this.choices.set(data.participant_id, data.mode);
      this.emit("choice", data);
    } else if (event === "consult.leg") {
      if (LOST.includes(data.state)) this._lost();
    } else if (event === "consult.ended") {
      this.close();
      this.emit("ended");
    }
  }

  /** Follow `consult.send`: what the server says this link and the receivers can carry. Video
   * is also paused while the person has turned their camera off: nothing at all goes up (a
   * disabled track alone still sends black frames, a waste on a 2G uplink), and the other side,
   * whose picture then stops, shows the avatar. */
  async _applyPlan() {
    const plan = this.plan;
    if (!this.pc) return;
    const video = (plan ? plan.video === true : true) && this.cameraOn;
    try {
      await setEncoding(this._senders.video, video, video && plan ? plan.video_kbps : 0);
      if (plan) await setEncoding(this._senders.audio, plan.audio !== false, plan.audio_kbps);
    } catch {
      // The sender went with a replaced peer connection; the next plan applies to the new one.
    }
  }

  /** The Opus packet length is set by the server's answer (media/answer_shaping.py): 60 ms
   * where the link is thin (a third of the header overhead), 20 ms otherwise. It can only change
   * with a new offer, so when the plan names another length than the last answer, offer again
   * on the same peer connection (the server keeps the leg). */
  async _followPtime() {
    const pc = this.pc;
    const want = this.plan?.audio_ptime_ms;
    if (!pc || !want || !this.ptime || want === this.ptime) return;
    if (this._renegotiating || this._negotiating) return;
    if (pc.connectionState !== "connected" || pc.signalingState !== "stable") return;
    this._renegotiating = true;
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const answer = await this.signal.call(
        "consult.offer",
        { consultation_id: this.consultationId, sdp: pc.localDescription.sdp },
        OFFER_TIMEOUT_MS,
      );
      if (pc !== this.pc) return;
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      this.ptime = ptimeOf(answer.sdp);
      this.emit("ptime", this.ptime);
    } catch {
      // A refused or lost renegotiation leaves the leg as it was; the next plan tries again,
      // and a leg that is really gone is replaced by the usual path (consult.leg / failed).
      if (pc === this.pc && pc.signalingState === "have-local-offer") {
        await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
    } finally {
      this._renegotiating = false;
    }
  }

  /** Tracks are disabled, not stopped: a disabled microphone sends silence at once, and coming
   * back needs no new permission prompt. (The camera's sender is paused too: _applyPlan.) */
  _applyLocal() {
    const stream = this.devices?.stream;
    for (const t of stream?.getAudioTracks() || []) t.enabled = this.micOn;
    for (const t of stream?.getVideoTracks() || []) t.enabled = this.cameraOn;
    this.emit("local", { mic: this.micOn, camera: this.cameraOn });
  }

  /** @param {boolean} on */
  setMicrophone(on) {
    // Before the devices are open the wish is kept; `_negotiate` applies it once they are.
    if (this.devices && !this.devices.audio) return false;
    this.micOn = on;
    this._applyLocal();
    return true;
  }

  /** @param {boolean} on */
  setCamera(on) {
    if (this.devices && !this.devices.video) return false;
    this.cameraOn = on;
    this._applyLocal();
    this._applyPlan();
    return true;
  }

  /** Packets and frames in and out, per kind (what the tests read, and the clinician's own view). */
  async stats() {
    return readStats(this.pc);
  }

  _dropPeer() {
    const pc = this.pc;
    this.pc = null;
    if (!pc) return;
    pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = null;
    pc.close();
  }

  _release() {
    for (const t of this.devices?.stream?.getTracks() || []) t.stop();
  }

  /** Hang up: the server closes our leg, we stay admitted (the text channel goes on). */
  async hangup() {
    const wasUp = !!this.pc;
    this.close();
    if (wasUp) await this.signal.call("consult.hangup", { consultation_id: this.consultationId }).catch(() => {});
  }

  /** Local teardown only: the peer connection, the devices, the listeners. */
  close() {
    if (this._closed) return;
    this._closed = true;
    if (this._retry) clearTimeout(this._retry);
    this._retry = null;
    if (this._watch) clearInterval(this._watch);
    this._watch = null;
    this._off();
    this._dropPeer();
    this._release();
    this._setState("closed");
  }
}

/** The `a=ptime` of an answer's audio section, in ms (null when it names none). */
export function ptimeOf(sdp) {
  let audio = false;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) audio = line.startsWith("m=audio");
    else if (audio && line.startsWith("a=ptime:")) return Number(line.slice(8)) || null;
  }
  return null;
}

async function setEncoding(sender, active, kbps) {
  if (!sender) return;
  const params = sender.getParameters();
  if (!params.encodings || params.encodings.length === 0) params.encodings = [{}];
  const enc = params.encodings[0];
  enc.active = active;
  if (active && kbps > 0) enc.maxBitrate = Math.round(kbps * 1000);
  else delete enc.maxBitrate;
  await sender.setParameters(params);
}
