// Starting a consultation from a care room: the server creates it (with its own encrypted text
// channel) and a single-use link for the patient, which the clinician copies into an SMS or an
// e-mail, then opens the consultation screen (consult_screen.js) to admit them.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, t } from "../../i18n/index.js";

export function StartConsultation({ app, roomId, onClose }) {
  const [name, setName] = useState("");
  const [withCode, setWithCode] = useState(true);
  const [made, setMade] = useState(/** @type {object|null} */ (null));
  const [busy, setBusy] = useState(false);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState("");
  const first = useRef(null);
  const result = useRef(null);

  useLayoutEffect(() => first.current?.focus(), []);
  useLayoutEffect(() => {
    if (made) result.current?.focus();
  }, [made]);

  async function start(event) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      setMade(await app.startConsultation(roomId, name.trim(), withCode));
    } catch (err) {
      setError(errorText(err.code));
    } finally {
      setBusy(false);
    }
  }

  async function copy() {
    try {
      await navigator.clipboard.writeText(made.link);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  }

  if (made) {
    return html`<section class="consult-made" aria-labelledby="consult-made-title">
      <h2 id="consult-made-title" tabindex="-1" ref=${result}>${t("consult.created")}</h2>
      <p>${t("consult.link_intro")}</p>
      <label for="consult-link">${t("consult.link")}</label>
      <div class="row">
        <input id="consult-link" readonly value=${made.link} onFocus=${(e) => e.currentTarget.select()} />
        <button type="button" onClick=${copy}>${t("consult.copy")}</button>
      </div>
      <p role="status">${copied ? t("consult.copied") : ""}</p>
      ${made.code && html`<p>${t("consult.code", { code: made.code })}</p>`}
      <p class="hint">${t("consult.link_once")}</p>
      <div class="row">
        <a class="button-like primary" href=${`#/rooms/${encodeURIComponent(roomId)}/consultations/${encodeURIComponent(made.consultation_id)}`}>${t("consult.open")}</a>
        <button type="button" onClick=${onClose}>${t("common.close")}</button>
      </div>
    </section>`;
  }

  return html`<form class="consult-start" onSubmit=${start} aria-labelledby="consult-title">
    <h2 id="consult-title">${t("consult.start")}</h2>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <label for="consult-name">${t("consult.patient_name")}</label>
    <p class="hint" id="consult-name-hint">${t("consult.patient_name_hint")}</p>
    <input id="consult-name" ref=${first} required maxlength="120" aria-describedby="consult-name-hint" value=${name} onInput=${(e) => setName(e.currentTarget.value)} />
    <div class="check">
      <input id="consult-code" type="checkbox" checked=${withCode} onChange=${(e) => setWithCode(e.currentTarget.checked)} />
      <label for="consult-code">${t("consult.with_code")}</label>
    </div>
    <div class="row">
      <button type="submit" class="primary" disabled=${busy || !name.trim()}>${t("consult.create")}</button>
      <button type="button" onClick=${onClose}>${t("common.cancel")}</button>
    </div>
  </form>`;
}
