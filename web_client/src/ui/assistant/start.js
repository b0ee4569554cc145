// Starting an assisted session for a walk-in patient: the identity check (name, date of birth,
// the document seen), the consent (its text shown, how it was given, confirmed), the clinician
// whose queue gets it, then `POST /api/v1/consultations/assisted`. No field may be remembered by
// the browser (`autocomplete="off"`, no `name` attribute, nothing stored): the next patient finds
// an empty form. The whole form is one keyboard path, top to bottom; Enter in the clinician search
// searches rather than submits.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, formatTime, t } from "../../i18n/index.js";

/** The consent text's version recorded with the consent (the catalogues' `assist.consent_text`). */
export const CONSENT_VERSION = "assisted-v1";
const METHODS = ["id_card", "passport", "residence_permit", "health_card", "known_to_staff", "other"];
const CONSENT_METHODS = ["verbal", "written", "on_device"];

const today = () => new Date().toISOString().slice(0, 10);

/** "23/07/1941" (also with dots, dashes or spaces) → "1941-07-23", or null when it is no real
 * past date. A text field rather than `type="date"`: typed the same way in every browser and
 * language, and read out plainly by screen readers. */
export function isoDate(text) {
  const m = /^\s*(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})\s*$/.exec(text);
  if (!m) return null;
  const [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  const iso = date.toISOString().slice(0, 10);
  return iso > today() || y < 1880 ? null : iso;
}

/** Sessions this browser lost while the assistant still sits in a clinician's queue: left from
 * here (nothing of their patient is shown: this browser no longer knows it). */
function Leftovers({ list, onLeave }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  async function leave(c) {
    setBusy(true);
    setError("");
    try {
      await onLeave(c);
    } catch (err) {
      setError(errorText(err.code));
    } finally {
      setBusy(false);
    }
  }
  return html`<section class="panel leftovers" aria-labelledby="assist-leftover-title">
    <h2 id="assist-leftover-title">${t("assist.leftover_title")}</h2>
    <p>${t("assist.leftover_intro")}</p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <ul>
      ${list.map((c) => {
        const when = formatTime(c.created_at);
        return html`<li key=${c.consultation_id}>
          <button type="button" disabled=${busy} onClick=${() => leave(c)}>${t("assist.leftover_leave", { when })}</button>
        </li>`;
      })}
    </ul>
  </section>`;
}

export function AssistStart({ app, leftovers = [], onLeaveLeftover, onOpened }) {
  const [fullName, setFullName] = useState("");
  const [birth, setBirth] = useState("");
  const [method, setMethod] = useState("");
  const [detail, setDetail] = useState("");
  const [consentMethod, setConsentMethod] = useState("");
  const [agreed, setAgreed] = useState(false);
  const [query, setQuery] = useState("");
  const [found, setFound] = useState(/** @type {object[]|null} */ (null));
  const [clinician, setClinician] = useState(/** @type {object|null} */ (null));
  const [searching, setSearching] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [searchNote, setSearchNote] = useState("");
  const heading = useRef(null);
  const fields = { name: useRef(null), birth: useRef(null), method: useRef(null), consentMethod: useRef(null), agreed: useRef(null), query: useRef(null) };

  useLayoutEffect(() => {
    // After a session ended the heading takes focus (a new screen); on arrival, too, so the
    // screen reader starts at the top of the form.
    heading.current?.focus();
  }, []);

  async function search() {
    const q = query.trim();
    if (q.length < 2) {
      setSearchNote(t("assist.search_short"));
      fields.query.current?.focus();
      return;
    }
    setSearching(true);
    setSearchNote("");
    try {
      const list = await app.findClinicians(q);
      setFound(list);
      setClinician(list.length === 1 ? list[0] : null);
      setSearchNote(list.length ? t("assist.search_found", { count: list.length }) : t("assist.search_none"));
    } catch (err) {
      setFound(null);
      setSearchNote(errorText(err.code));
    } finally {
      setSearching(false);
    }
  }

  async function submit(event) {
    event.preventDefault();
    const missing = [];
    if (!fullName.trim()) missing.push(["name", "assist.full_name"]);
    if (!isoDate(birth)) missing.push(["birth", "assist.birth_date"]);
    if (!method) missing.push(["method", "assist.method"]);
    if (!consentMethod) missing.push(["consentMethod", "assist.consent_method"]);
    if (!agreed) missing.push(["agreed", "assist.consent_agree"]);
    if (!clinician) missing.push(["query", "assist.clinician"]);
    if (missing.length) {
      setError(t("assist.missing", { fields: missing.map(([, key]) => t(key)).join(" ; ") }));
      fields[missing[0][0]].current?.focus();
      return;
    }
    setBusy(true);
    setError("");
    const patient = { full_name: fullName.trim(), birth_date: isoDate(birth), method };
    if (detail.trim()) patient.detail = detail.trim();
    try {
      const made = await app.openAssisted({
        host_user_id: clinician.user_id,
        patient,
        consent: { text_version: CONSENT_VERSION, method: consentMethod },
      });
      onOpened({
        ...made,
        patient: { full_name: patient.full_name },
        clinician: { display_name: clinician.display_name || clinician.username },
      });
    } catch (err) {
      setError(errorText(err.code));
      setBusy(false);
    }
  }

  const off = { autocomplete: "off", autocapitalize: "off", spellcheck: false };
  return html`<form class="assist-start" onSubmit=${submit} aria-labelledby="assist-start-title" autocomplete="off" novalidate>
    <h1 id="assist-start-title" tabindex="-1" ref=${heading}>${t("assist.start_title")}</h1>
    <p>${t("assist.start_intro")}</p>
    ${leftovers.length > 0 && html`<${Leftovers} list=${leftovers} onLeave=${onLeaveLeftover} />`}
    ${error && html`<p class="error" role="alert">${error}</p>`}

    <fieldset>
      <legend>${t("assist.identity")}</legend>
      <label for="assist-name">${t("assist.full_name")}</label>
      <input id="assist-name" ref=${fields.name} ...${off} maxlength="200" required value=${fullName} onInput=${(e) => setFullName(e.currentTarget.value)} />
      <label for="assist-birth">${t("assist.birth_date")}</label>
      <p class="hint" id="assist-birth-hint">${t("assist.birth_date_hint")}</p>
      <input id="assist-birth" ref=${fields.birth} inputmode="numeric" ...${off} maxlength="10" required aria-describedby="assist-birth-hint" value=${birth} onInput=${(e) => setBirth(e.currentTarget.value)} />
      <label for="assist-method">${t("assist.method")}</label>
      <select id="assist-method" ref=${fields.method} ...${off} required value=${method} onChange=${(e) => setMethod(e.currentTarget.value)}>
        <option value="">${t("assist.choose")}</option>
        ${METHODS.map((m) => html`<option value=${m}>${t(`assist.method_${m}`)}</option>`)}
      </select>
      <label for="assist-detail">${t("assist.detail")}</label>
      <p class="hint" id="assist-detail-hint">${t("assist.detail_hint")}</p>
      <input id="assist-detail" ...${off} maxlength="200" aria-describedby="assist-detail-hint" value=${detail} onInput=${(e) => setDetail(e.currentTarget.value)} />
    </fieldset>

    <fieldset>
      <legend>${t("assist.consent")}</legend>
      <p id="assist-consent-text" class="consent-text">${t("assist.consent_text")}</p>
      <p class="hint">${t("assist.consent_read")}</p>
      <label for="assist-consent-method">${t("assist.consent_method")}</label>
      <select id="assist-consent-method" ref=${fields.consentMethod} required value=${consentMethod} onChange=${(e) => setConsentMethod(e.currentTarget.value)}>
        <option value="">${t("assist.choose")}</option>
        ${CONSENT_METHODS.map((m) => html`<option value=${m}>${t(`assist.consent_${m}`)}</option>`)}
      </select>
      <div class="check">
        <input id="assist-agree" ref=${fields.agreed} type="checkbox" aria-describedby="assist-consent-text" checked=${agreed} onChange=${(e) => setAgreed(e.currentTarget.checked)} />
        <label for="assist-agree">${t("assist.consent_agree")}</label>
      </div>
    </fieldset>

    <fieldset>
      <legend>${t("assist.clinician")}</legend>
      <label for="assist-query">${t("assist.search")}</label>
      <p class="hint" id="assist-query-hint">${t("assist.search_hint")}</p>
      <div class="row">
        <input id="assist-query" ref=${fields.query} type="search" ...${off} maxlength="120" aria-describedby="assist-query-hint" value=${query}
          onInput=${(e) => setQuery(e.currentTarget.value)}
          onKeyDown=${(e) => e.key === "Enter" && (e.preventDefault(), search())} />
        <button type="button" disabled=${searching} onClick=${search}>${t("assist.search_button")}</button>
      </div>
      <p role="status" class="hint">${searchNote}</p>
      ${found &&
      found.length > 0 &&
      html`<div role="radiogroup" aria-label=${t("assist.clinician_pick")} class="choices">
        ${found.map(
          (c) => html`<div class="check" key=${c.user_id}>
            <input type="radio" id=${`assist-c-${c.user_id}`} name="assist-clinician" checked=${clinician?.user_id === c.user_id} onChange=${() => setClinician(c)} />
            <label for=${`assist-c-${c.user_id}`}>${c.display_name || c.username}${c.display_name && c.display_name !== c.username ? ` (${c.username})` : ""}</label>
          </div>`,
        )}
      </div>`}
    </fieldset>

    <div class="row">
      <button type="submit" class="primary" disabled=${busy}>${t("assist.open")}</button>
    </div>
  </form>`;
}
