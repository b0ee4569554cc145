// The patient's call screen (WEB.md, "Call"): the other side full width, the mode always visible
// with the plain reason of its last change, three big buttons (microphone, camera, leave), and
// one polite live region that says every change of the call. The leg itself is the shared
// CallLeg (src/call/); this screen only turns its events into words.
//
// Leaving hangs up the media leg and closes the socket but does not send `consult.leave`: the
// patient stays admitted, so opening the link again in this tab (the guest session is still in
// sessionStorage) brings them straight back into the call, without a new admission.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../ui/html.js";
import { t } from "../i18n/index.js";
import { CallLeg } from "../call/leg.js";
import { causeOf, modeFamily } from "../call/modes.js";
import { RemoteView, SelfView } from "../call/view.js";

/** The words for a change of one's own mode: the mode, then why, in the patient's terms. */
function modeWords(change) {
  const family = modeFamily(change.mode);
  const cause = causeOf(change);
  const why = cause === "weak" ? t(`call.why_weak_${family}`) : cause ? t(`call.why_${cause}`) : "";
  return { family, why };
}

const DEVICE_PROBLEMS = {
  denied: "call.devices_denied",
  busy: "call.devices_busy",
  missing: "call.devices_missing",
  unsupported: "call.devices_unsupported",
  no_camera: "call.devices_no_camera",
  no_microphone: "call.devices_no_microphone",
};

/**
 * @param {{socket: import("../net/socket.js").Socket, guest: {consultation_id: string,
 *   participant_id: string}, online: boolean, onLeave: () => void, onRefused: () => void,
 *   text: {TextChannel: any, channel: any, nameOf: (id: string) => string}|null,
 *   openDevices?: () => Promise<import("../call/devices.js").Devices>}} props
 *   `text`: the encrypted messages once ready (./text.js), null meanwhile; `openDevices`: the
 *   waiting room's already opened camera and microphone (./device_check.js)
 */
export function CallScreen({ socket, guest, online, onLeave, onRefused, text, openDevices }) {
  const [leg] = useState(
    () =>
      new CallLeg(
        { call: (event, payload, ms) => socket.call(event, payload, ms), subscribe: (fn) => socket.onAny(fn) },
        guest.consultation_id,
        { openDevices },
      ),
  );
  const [state, setState] = useState(leg.state);
  const [mode, setMode] = useState(/** @type {{family: string, why: string}|null} */ (null));
  const [local, setLocal] = useState({ mic: true, camera: true, hasMic: true, hasCamera: true });
  const [problem, setProblem] = useState("");
  const [say, setSay] = useState(t("call.starting"));
  const [confirming, setConfirming] = useState(false);
  // The messages: one tap away, opened by themselves when the call falls to text.
  const [showText, setShowText] = useState(false);
  const [unread, setUnread] = useState(0);
  const confirmRef = useRef(null);
  const leaveRef = useRef(null);
  const first = useRef(true);
  // What is missing of the patient's devices, repeated with "connected" so that announcement
  // does not replace it before a screen reader has read it.
  const missing = useRef("");

  useEffect(() => {
    // Read by the browser tests (getStats of the leg); nothing else uses it.
    window.relaisCall = leg;
    const offs = [
      leg.on("state", (s) => {
        setState(s);
        if (s === "connected") setSay([t("call.connected"), missing.current].filter(Boolean).join(" "));
        else if (s === "reconnecting") setSay(t("call.reconnecting"));
      }),
      leg.on("devices", (d) => {
        setLocal({ mic: leg.micOn, camera: leg.cameraOn, hasMic: d.audio, hasCamera: d.video });
        if (d.problem) {
          missing.current = t(DEVICE_PROBLEMS[d.problem]);
          setProblem(missing.current);
          setSay(missing.current);
        }
      }),
      leg.on("local", (l) => setLocal((prev) => ({ ...prev, mic: l.mic, camera: l.camera }))),
      leg.on("mode", (change) => {
        if (change.participant_id !== guest.participant_id) return;
        const words = modeWords(change);
        setMode(words);
        // The first video mode is what "the call has started" already said; any other first
        // mode, and every change, is announced.
        if (change.previous || words.family !== "video")
          setSay([t(`call.family_${words.family}`), words.why].filter(Boolean).join(". "));
      }),
      leg.on("refused", onRefused),
    ];
    leg.start();
    return () => {
      offs.forEach((off) => off());
      leg.close();
      if (window.relaisCall === leg) delete window.relaisCall;
    };
  }, [leg]);

  // The socket came back: the leg may have been dropped by the server meanwhile.
  useEffect(() => {
    if (first.current) first.current = false;
    else if (online) leg.resume();
    else setSay(t("join.reconnecting"));
  }, [online]);

  useLayoutEffect(() => {
    if (confirming) confirmRef.current?.focus();
  }, [confirming]);

  const showTextRef = useRef(false);
  showTextRef.current = showText;
  // Focus goes to the message field only when the patient opened the messages themselves.
  const tapped = useRef(false);
  useEffect(() => {
    if (mode?.family === "text") setShowText(true);
  }, [mode?.family]);

  // With the messages closed, a new one from the other side is counted on the button and said in
  // the call's own live region (the panel, which would say it, is not on screen).
  useEffect(() => {
    if (!text) return undefined;
    // What came before the messages were ready (the clinician often writes first) is new too.
    let seen = new Set();
    const update = (list) => {
      const fresh = list.filter((m) => !m.mine && m.state === "decrypted" && !seen.has(m.id));
      seen = new Set(list.filter((m) => m.state === "decrypted").map((m) => m.id));
      if (!fresh.length || showTextRef.current) return;
      setUnread((n) => n + fresh.length);
      const last = fresh[fresh.length - 1];
      setSay(t("text.said", { name: text.nameOf(last.sender), body: last.body }));
    };
    update(text.channel.texts());
    return text.channel.on("texts", update);
  }, [text]);
  useEffect(() => {
    if (showText) setUnread(0);
  }, [showText]);

  function toggleMic() {
    const on = !local.mic;
    if (leg.setMicrophone(on)) setSay(t(on ? "call.mic_on" : "call.mic_off"));
  }
  function toggleCamera() {
    const on = !local.camera;
    if (leg.setCamera(on)) setSay(t(on ? "call.camera_on" : "call.camera_off"));
  }
  async function leave() {
    await leg.hangup();
    onLeave();
  }

  // Until the server names the mode (its first sample, within a second of the leg connecting),
  // the indicator says the call is connecting rather than guess.
  const family = mode?.family || "connecting";
  return html`
    <main id="main" class="join call">
      <h1 tabindex="-1">${t("join.admitted_title")}</h1>
      <p class="status ok" role="status">${say}</p>
      <div class=${`mode mode-${family}`}>
        <p class="mode-now"><span>${t("call.mode_label")} </span><strong>${t(`call.family_${family}`)}</strong></p>
        ${mode?.why && html`<p class="mode-why">${mode.why}</p>`}
      </div>
      ${problem && html`<p class="problem">${problem}</p>`}
      <div class="stage">
        <${RemoteView} leg=${leg} name=${t("call.other_side")} label=${t("call.remote_video")} noPicture=${t("call.no_picture")} pictureOff=${family === "audio" || family === "text"} />
        <${SelfView} leg=${leg} />
      </div>
      ${confirming
        ? html`<div class="confirm" role="group" aria-labelledby="leave-question">
            <p id="leave-question">${t("call.leave_confirm")}</p>
            <button type="button" class="danger" ref=${confirmRef} onClick=${leave}>${t("call.leave_yes")}</button>
            <button type="button" class="secondary" onClick=${() => (setConfirming(false), setTimeout(() => leaveRef.current?.focus()))}>${t("call.leave_no")}</button>
          </div>`
        : html`<div class="controls" role="group" aria-label=${t("call.controls")}>
            <button type="button" class="toggle" aria-pressed=${local.mic ? "false" : "true"} disabled=${!local.hasMic} onClick=${toggleMic}>${t("call.mic_mute")}</button>
            <button type="button" class="toggle" aria-pressed=${local.camera ? "false" : "true"} disabled=${!local.hasCamera} onClick=${toggleCamera}>${t("call.camera_mute")}</button>
            <button type="button" class="toggle" aria-expanded=${showText ? "true" : "false"} aria-controls="call-text" onClick=${() => ((tapped.current = !showText), setShowText(!showText))}>
              ${t("text.open")}${unread > 0 ? html` <span class="badge">${t("text.unread", { count: unread })}</span>` : ""}
            </button>
            <button type="button" class="danger" ref=${leaveRef} onClick=${() => setConfirming(true)}>${t("call.leave")}</button>
          </div>`}
      <div id="call-text" hidden=${!showText}>
        ${showText &&
        (text
          ? html`<${text.TextChannel} text=${text.channel} nameOf=${text.nameOf} focusOnOpen=${tapped.current} />`
          : html`<section class="text-channel"><h2>${t("text.title")}</h2><p>${t("text.preparing")}</p></section>`)}
      </div>
    </main>
  `;
}
