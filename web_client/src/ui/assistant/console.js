// The health-bus assistant's console (WEB.md, third journey): a shared laptop in a mobile clinic,
// several walk-in patients a day. Two screens: the start form (identity check, consent, the
// clinician to queue to) and the assisted session (waiting in the clinician's queue, admitted,
// the call's mount point, the end). Who acts on behalf of whom is in the banner of both.
//
// What of a patient this page holds, and for how long: the session lives in this component's
// memory only (no address, no history entry, no vault record, no Web Storage); the form's fields
// are `autocomplete="off"`, so Chromium keeps no autofill entry of them. Ending the session
// leaves the consultation on the server (`consult.leave`, the patient with the assistant), makes
// the device forget the consultation's text channel (AppClient.forgetRoom: messages, keys, sync
// position, in memory and in the vault), drops the session object and mounts a new, empty form
// (a new `key`), so no field, no error and no announcement of the previous patient stays in the
// DOM. The assistant's own signed-in session (token, device keys, sealed in the vault) and the
// language choice stay: they are the assistant's, not the patient's (docs/architecture.md §10).
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { language, LANGUAGES, t } from "../../i18n/index.js";
import { AssistStart } from "./start.js";
import { AssistSession } from "./session.js";

/**
 * @param {{app: import("../../app/client.js").AppClient, onSignOut: () => void,
 *          onForget: () => void, onLanguage: (lang: string) => void}} props
 */
export function AssistantConsole({ app, onSignOut, onForget, onLanguage }) {
  /** The open assisted session: {consultation_id, chat_room_id, patient_participant_id,
   * assistant_participant_id, patient: {full_name}, clinician: {display_name}} or null. */
  const [session, setSession] = useState(/** @type {object|null} */ (null));
  const [round, setRound] = useState(0);
  const [announce, setAnnounce] = useState("");
  const [connected, setConnected] = useState(app.connected);
  const busyEnding = useRef(false);
  const me = app.session.record;
  const assistant = me.display_name || me.username;

  useEffect(() => app.on("connection", setConnected), [app]);
  // Sessions this browser lost (reload, crash) while the assistant still sits in a queue.
  const [leftovers, setLeftovers] = useState(/** @type {object[]} */ ([]));
  const loadLeftovers = () =>
    app
      .openAssistedSessions()
      .then(setLeftovers)
      .catch(() => {});
  useEffect(() => {
    if (session) return undefined;
    if (app.connected) loadLeftovers();
    return app.on("connection", (up) => up && loadLeftovers());
  }, [app, session]);

  async function leaveLeftover(c) {
    await app.leaveLeftover(c.consultation_id);
    setAnnounce(t("assist.leftover_left"));
    await loadLeftovers();
  }
  useLayoutEffect(() => {
    document.title = `${t(session ? "assist.session_title" : "assist.start_title")} · ${t("app.name")}`;
  }, [session, round]);

  function opened(made) {
    setAnnounce(t("assist.opened", { clinician: made.clinician.display_name }));
    setSession(made);
  }

  /** Everything of this patient goes; the next one starts on a new form. */
  async function finished() {
    if (busyEnding.current) return;
    busyEnding.current = true;
    const chat = session?.chat_room_id;
    setSession(null);
    setRound((n) => n + 1);
    setAnnounce(t("assist.cleared"));
    try {
      await app.forgetRoom(chat);
    } finally {
      busyEnding.current = false;
    }
  }

  const patient = session?.patient.full_name;
  return html`
    <a class="skip" href="#main" onClick=${(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>${t("app.skip")}</a>
    <header class="bar">
      <span class="brand">${t("app.name")}</span>
      <span class="status" role="status">${connected ? "" : t("assist.offline")}</span>
      <span class="who">${t("workspace.signed_in_as", { name: assistant })}</span>
      <label class="lang">
        <span>${t("lang.label")}</span>
        <select value=${language()} onChange=${(e) => onLanguage(e.currentTarget.value)}>
          ${LANGUAGES.map((l) => html`<option value=${l}>${t(`lang.${l}`)}</option>`)}
        </select>
      </label>
      ${!session &&
      html`<button type="button" onClick=${onSignOut}>${t("workspace.sign_out")}</button>
        <button type="button" class="danger" onClick=${onForget}>${t("workspace.forget")}</button>`}
    </header>
    <p class="acting" data-testid="acting">
      ${patient ? t("assist.acting", { patient, assistant }) : t("assist.acting_none", { assistant })}
    </p>
    <p class="assist-status" role="status">${announce}</p>
    <main id="main" tabindex="-1" class="assist">
      ${session
        ? html`<${AssistSession} key=${session.consultation_id} app=${app} session=${session} assistant=${assistant} onAnnounce=${setAnnounce} onFinished=${finished} />`
        : html`<${AssistStart} key=${`start-${round}`} app=${app} leftovers=${leftovers} onLeaveLeftover=${leaveLeftover} onOpened=${opened} />`}
    </main>
  `;
}
