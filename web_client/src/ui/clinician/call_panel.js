// The host's side of the call, inside the consultation screen: their own media leg (camera and
// microphone, through the shared CallLeg of src/call/), the patient's picture and sound, the two
// switches, and a polite region that says each change of the call. The modes and link figures
// of every participant are shown by the participant list (ParticipantMedia below), from the
// same leg's `consult.mode` / `consult.quality` events.
//
// ModeSwitch is the manual mode switch (`consult.set_mode`): sound only or text only by hand, a
// ceiling on the server's adaptation, or automatic again; the host has one per participant.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, t } from "../../i18n/index.js";
import { CallLeg } from "../../call/leg.js";
import { causeOf, modeKey } from "../../call/modes.js";
import { RemoteView, SelfView } from "../../call/view.js";

/** The leg of this screen, created once the call is live and closed with the screen. */
export function useCallLeg(app, consultationId, live) {
  const [leg, setLeg] = useState(/** @type {CallLeg|null} */ (null));
  useEffect(() => {
    if (!live) return undefined;
    const made = new CallLeg(app.mediaSignal(), consultationId);
    window.relaisCall = made; // read by the browser tests (getStats of the leg)
    setLeg(made);
    made.start();
    // After a reconnection the server may have dropped the leg (past its grace): offer again.
    const off = app.on("connection", (up) => up && made.resume());
    return () => {
      off();
      made.hangup();
      if (window.relaisCall === made) delete window.relaisCall;
      setLeg(null);
    };
  }, [consultationId, live]);
  return leg;
}

/** @param {{leg: CallLeg, patientName?: string, names: Map<string, string>}} props
 * `names`: display names by participant id, to say whose mode changed. */
export function CallPanel({ leg, patientName, names }) {
  const [say, setSay] = useState("");
  const [local, setLocal] = useState({ mic: leg.micOn, camera: leg.cameraOn, hasMic: true, hasCamera: true });
  const namesRef = useRef(names);
  namesRef.current = names;
  useEffect(() => {
    const offs = [
      leg.on("state", (s) => {
        if (s === "connected") setSay(t("consult.call_connected"));
        else if (s === "reconnecting") setSay(t("consult.call_reconnecting"));
      }),
      leg.on("devices", (d) => {
        setLocal({ mic: leg.micOn, camera: leg.cameraOn, hasMic: d.audio, hasCamera: d.video });
        if (d.problem) setSay(t(`consult.devices_${d.problem}`));
      }),
      leg.on("local", (l) => setLocal((prev) => ({ ...prev, mic: l.mic, camera: l.camera }))),
      // Each change of anyone's mode (not a leg's first one) is said, with its cause.
      leg.on("mode", (change) => {
        if (!change.previous) return;
        const cause = causeOf(change);
        const name = change.participant_id === leg.participantId ? t("consult.you") : namesRef.current.get(change.participant_id) || t("people.unknown");
        const mode = t(`consult.mode_${modeKey(change.mode)}`);
        setSay(cause ? t("consult.mode_changed_why", { name, mode, cause: t(`consult.cause_${cause}`) }) : t("consult.mode_changed", { name, mode }));
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [leg]);

  function toggleMic() {
    const on = !local.mic;
    if (leg.setMicrophone(on)) setSay(t(on ? "consult.mic_on" : "consult.mic_off"));
  }
  function toggleCamera() {
    const on = !local.camera;
    if (leg.setCamera(on)) setSay(t(on ? "consult.camera_on" : "consult.camera_off"));
  }

  const who = patientName || t("people.unknown");
  return html`<section class="call" aria-labelledby="call-title">
    <h2 id="call-title">${t("consult.call_title")}</h2>
    <p class="call-status" role="status">${say}</p>
    <div class="stage">
      <${RemoteView} leg=${leg} name=${who} label=${t("consult.remote_video", { name: who })} noPicture=${t("consult.no_picture", { name: who })} />
      <${SelfView} leg=${leg} />
    </div>
    <div class="row" role="group" aria-label=${t("consult.call_controls")}>
      <button type="button" aria-pressed=${local.mic ? "false" : "true"} disabled=${!local.hasMic} onClick=${toggleMic}>${t("consult.mic_mute")}</button>
      <button type="button" aria-pressed=${local.camera ? "false" : "true"} disabled=${!local.hasCamera} onClick=${toggleCamera}>${t("consult.camera_mute")}</button>
    </div>
  </section>`;
}

function kbps(n) {
  return typeof n === "number" ? Math.round(n) : "–";
}

/** One participant's mode (with the cause of its last change) and link figures. */
export function ParticipantMedia({ leg, participantId }) {
  const [, redraw] = useState(0);
  useEffect(() => {
    if (!leg) return undefined;
    const mine = (data) => data?.participant_id === participantId && redraw((n) => n + 1);
    const offs = [leg.on("mode", mine), leg.on("quality", mine)];
    return () => offs.forEach((off) => off());
  }, [leg, participantId]);
  const change = leg?.modes.get(participantId);
  const quality = leg?.quality.get(participantId);
  if (!change && !quality) return null;
  const mode = quality?.mode || change?.mode;
  const cause = change && change.mode === mode ? causeOf(change) : "";
  const m = quality?.measured || {};
  const loss = Math.round(100 * Math.max(m.loss_up || 0, m.loss_down || 0));
  return html`<span class="media">
    <span class="mode"> · ${t(`consult.mode_${modeKey(mode)}`)}${cause ? ` (${t(`consult.cause_${cause}`)})` : ""}</span>
    ${quality &&
    html`<span class="quality"> · ${t("consult.quality", { up: kbps(m.in_kbps), down: kbps(m.out_kbps), loss, rtt: kbps(m.rtt_ms) })}</span>`}
  </span>`;
}

const CHOICES = ["auto", "audio-only", "text-only"];

/** Sound only / text only by hand, or automatic: a participant's (the host) or one's own. The
 * choice shown is the server's last word (`consult.mode_choice`), so two screens agree.
 * The select stays enabled while a choice is on its way (only `aria-busy`): a disabled control
 * drops the keyboard focus to the page, and the arrows that change a closed select would then
 * leave the keyboard user nowhere. Choices made meanwhile are sent one after the other; the last
 * one stands. */
export function ModeSwitch({ leg, participantId, label }) {
  const [choice, setChoice] = useState(() => leg?.choices.get(participantId) || "auto");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const queue = useRef(/** @type {Promise<unknown>} */ (Promise.resolve()));
  const pending = useRef(0);
  useEffect(() => {
    if (!leg) return undefined;
    setChoice(leg.choices.get(participantId) || "auto");
    return leg.on("choice", (d) => d.participant_id === participantId && setChoice(d.mode));
  }, [leg, participantId]);
  if (!leg) return null;
  async function change(event) {
    const mode = event.currentTarget.value;
    setChoice(mode);
    setBusy(true);
    setError("");
    pending.current += 1;
    const sent = queue.current.then(() => leg.chooseMode(participantId, mode));
    queue.current = sent.catch(() => {});
    try {
      await sent;
    } catch (err) {
      // The server's last word stands.
      setChoice(leg.choices.get(participantId) || "auto");
      setError(errorText(err.code));
    } finally {
      pending.current -= 1;
      if (!pending.current) setBusy(false);
    }
  }
  const id = `mode-${participantId}`;
  return html`<span class="mode-switch">
    <label for=${id}>${label}</label>
    <select id=${id} value=${choice} aria-busy=${busy ? "true" : "false"} onChange=${change}>
      ${CHOICES.map((c) => html`<option value=${c}>${t(`consult.choice_${c.replace("-", "_")}`)}</option>`)}
    </select>
    ${error && html`<span class="error" role="alert">${error}</span>`}
  </span>`;
}
