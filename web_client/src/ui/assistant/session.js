// One assisted session, as the assistant follows it: waiting in the clinician's queue, then
// admitted (the walk-in patient is admitted with the assistant who represents them), refused,
// or ended by the clinician. The assistant sends `consult.join` on arrival and after every
// reconnection (the patient follows the assistant through the waiting room, server side); the
// server tells the assistant `consult.state` (admitted / denied, for the assistant's participant
// or the patient's), `consult.participants` once admitted and `consult.ended`. Every change is
// announced through the console's status line. Once admitted the shared device hosts the call
// (the clinician's CallPanel and the shared CallLeg, in the section labelled "Consultation");
// leaving the admitted phase or the screen hangs up and releases the camera and microphone.
//
// "End the session" (confirmed once) leaves the consultation (`consult.leave`: the patient
// leaves with the assistant) unless it is over already, then hands back to the console, which
// forgets the patient (console.js).
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, t } from "../../i18n/index.js";
import { CallPanel, useCallLeg } from "../clinician/call_panel.js";

const quiet = (err) => ["offline", "not_connected"].includes(err?.code);

export function AssistSession({ app, session, assistant, onAnnounce, onFinished }) {
  // "joining" → "waiting" → "admitted"; or "denied", "ended".
  const [phase, setPhase] = useState("joining");
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const heading = useRef(null);
  const endButton = useRef(null);
  const confirmButton = useRef(null);
  const phaseRef = useRef(phase);
  const id = session.consultation_id;
  const mine = new Set([session.assistant_participant_id, session.patient_participant_id]);
  const clinician = session.clinician.display_name;
  const patient = session.patient.full_name;
  // Display names by participant id, from the roster, for the call's announcements.
  const [names, setNames] = useState(() => new Map());
  // The shared device hosts the call once admitted (camera and microphone of the bus); leaving
  // the admitted phase or the screen hangs up and releases them (useCallLeg's cleanup).
  const leg = useCallLeg(app, id, phase === "admitted");

  function move(next) {
    if (phaseRef.current === next || phaseRef.current === "ended") return;
    phaseRef.current = next;
    setPhase(next);
    const say = { waiting: "assist.now_waiting", admitted: "assist.now_admitted", denied: "assist.now_denied", ended: "assist.now_ended" }[next];
    if (say) onAnnounce(t(say, { clinician, patient }));
  }

  useLayoutEffect(() => heading.current?.focus(), []);
  useLayoutEffect(() => {
    if (confirming) confirmButton.current?.focus();
  }, [confirming]);

  useEffect(() => {
    let gone = false;
    const join = async () => {
      try {
        const joined = await app.joinConsultation(id);
        if (!gone) move(joined.state === "admitted" ? "admitted" : "waiting");
      } catch (err) {
        if (gone) return;
        if (err.code === "consultation_ended") move("ended");
        else if (err.code === "not_admitted") move("denied");
        else if (!quiet(err)) setError(errorText(err.code));
      }
    };
    if (app.connected) join();
    const offs = [
      app.on("connection", (up) => up && phaseRef.current !== "ended" && phaseRef.current !== "denied" && join()),
      app.on("consult", (event, data) => {
        if (gone || data?.consultation_id !== id) return;
        if (event === "consult.state" && mine.has(data.participant_id)) move(data.state === "admitted" ? "admitted" : data.state === "denied" ? "denied" : phaseRef.current);
        else if (event === "consult.participants") {
          const roster = data.participants || [];
          setNames(new Map(roster.map((p) => [p.participant_id, p.display_name])));
          if (roster.some((p) => p.participant_id === session.assistant_participant_id)) move("admitted");
        }
        else if (event === "consult.ended") move("ended");
      }),
    ];
    return () => {
      gone = true;
      offs.forEach((off) => off());
    };
  }, [id]);

  async function end() {
    setBusy(true);
    setError("");
    try {
      // The device stops following the text channel before the leave removes it from it.
      await app.forgetRoom(session.chat_room_id);
      if (phaseRef.current === "waiting" || phaseRef.current === "admitted" || phaseRef.current === "joining") {
        await app.leaveConsultation(id).catch((err) => {
          // Over already (ended by the clinician, or refused): nothing to leave.
          if (!["consultation_ended", "not_found", "not_admitted"].includes(err?.code)) throw err;
        });
      }
      await app.leaveRoomIfMember(session.chat_room_id);
    } catch (err) {
      setBusy(false);
      setError(errorText(err.code));
      return;
    }
    onFinished();
  }

  const states = {
    joining: t("assist.state_joining"),
    waiting: t("assist.state_waiting", { clinician }),
    admitted: t("assist.state_admitted", { clinician }),
    denied: t("assist.state_denied", { clinician }),
    ended: t("assist.state_ended", { clinician }),
  };
  const over = phase === "denied" || phase === "ended";
  return html`<section class="assist-session" aria-labelledby="assist-session-title">
    <h1 id="assist-session-title" tabindex="-1" ref=${heading}>${t("assist.session_title")}</h1>
    <p class="acting-detail">${t("assist.acting", { patient, assistant })}</p>
    <p class=${`assist-phase ${phase}`} data-phase=${phase}>${states[phase]}</p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <section id="assisted-call" class="assist-call" aria-label=${t("assist.call_region")} data-consultation=${id}>
      ${leg ? html`<${CallPanel} leg=${leg} patientName=${clinician} names=${names} />` : html`<p class="hint">${t("assist.call_later")}</p>`}
    </section>
    ${confirming
      ? html`<div class="confirm" role="group" aria-labelledby="assist-end-question">
          <p id="assist-end-question">${over ? t("assist.clear_confirm", { patient }) : t("assist.end_confirm", { patient })}</p>
          <div class="row">
            <button type="button" class="danger" ref=${confirmButton} disabled=${busy} onClick=${end}>${t("assist.end_yes")}</button>
            <button type="button" onClick=${() => (setConfirming(false), requestAnimationFrame(() => endButton.current?.focus()))}>${t("common.cancel")}</button>
          </div>
        </div>`
      : html`<button type="button" class="danger" ref=${endButton} onClick=${() => setConfirming(true)}>${t("assist.end")}</button>`}
  </section>`;
}
