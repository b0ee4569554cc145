// The consultation's written channel on screen (WEB.md, "Call": text is the last mode, and stays
// one tap away in the others). The same component serves the patient's page, the assistant's
// console and the clinician's consultation screen; the words it shows come from the caller's
// catalogue keys, so "the other side" reads "the clinician" to a patient.
//
// Messages from others are announced in one polite live region, one at a time, so a screen reader
// user hears the newest text without moving focus; one's own are not (they were just typed).
// A message that cannot be read yet says so in plain words instead of showing nothing.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../ui/html.js";
import { errorText, formatTime, t } from "../i18n/index.js";

const DECRYPTED = "decrypted";
const FAILED = "failed";
/** Longer than any consultation message a person types; the server's own limit is far above. */
const MAX_CHARS = 4000;

/**
 * @param {{text: import("../e2ee/consult_text.js").ConsultationText|null,
 *   nameOf: (userId: string) => string, focusOnOpen?: boolean}} props
 */
export function TextChannel({ text, nameOf, focusOnOpen = false }) {
  const [items, setItems] = useState(() => (text ? text.texts() : []));
  const [draft, setDraft] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [say, setSay] = useState("");
  const seen = useRef(/** @type {Set<string>|null} */ (null));
  const field = useRef(null);
  const list = useRef(null);

  useEffect(() => {
    if (!text) return undefined;
    const show = (texts) => {
      // Those already on screen when the panel opened are not announced again.
      const fresh = seen.current ? texts.filter((m) => !m.mine && m.state === DECRYPTED && !seen.current.has(m.id)) : [];
      seen.current = new Set(texts.filter((m) => m.state === DECRYPTED).map((m) => m.id));
      const last = fresh[fresh.length - 1];
      if (last) setSay(t("text.said", { name: nameOf(last.sender), body: last.body }));
      setItems(texts);
    };
    show(text.texts());
    return text.on("texts", show);
  }, [text]);

  useLayoutEffect(() => {
    if (focusOnOpen && text) field.current?.focus();
  }, [text]);

  // The newest message in view, as in any chat; the list keeps its own scroll otherwise.
  useLayoutEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [items.length]);

  async function submit(event) {
    event.preventDefault();
    const body = draft.trim();
    if (!body || busy || !text) return;
    setBusy(true);
    setError("");
    try {
      await text.send(body);
      setDraft("");
      field.current?.focus();
    } catch (err) {
      setError(errorText(err.code));
    } finally {
      setBusy(false);
    }
  }

  if (!text)
    return html`<section class="text-channel" aria-labelledby="text-title">
      <h2 id="text-title">${t("text.title")}</h2>
      <p>${t("text.preparing")}</p>
    </section>`;
  return html`<section class="text-channel" aria-labelledby="text-title">
    <h2 id="text-title">${t("text.title")}</h2>
    <p class="visually-hidden" aria-live="polite">${say}</p>
    <div class="text-list" ref=${list} tabindex="0" aria-label=${t("text.list_label")}>
      ${items.length === 0
        ? html`<p class="empty">${t("text.empty")}</p>`
        : html`<ol>
            ${items.map(
              (m) => html`<li key=${m.id} class=${m.mine ? "mine" : "theirs"}>
                <p class="meta"><strong>${m.mine ? t("text.me") : nameOf(m.sender)}</strong>${m.ts ? html` · <time>${formatTime(m.ts)}</time>` : ""}</p>
                <p class=${m.state === DECRYPTED ? "body" : "body pending"}>
                  ${m.state === DECRYPTED ? m.body : m.state === FAILED ? t("text.failed") : t("text.waiting")}
                </p>
              </li>`,
            )}
          </ol>`}
    </div>
    <form onSubmit=${submit}>
      ${error && html`<p class="error" role="alert" id="text-error">${error}</p>`}
      <label for="text-draft">${t("text.draft_label")}</label>
      <textarea
        id="text-draft"
        ref=${field}
        rows="2"
        maxlength=${MAX_CHARS}
        aria-describedby=${error ? "text-error" : undefined}
        value=${draft}
        onInput=${(e) => setDraft(e.currentTarget.value)}
        onKeyDown=${(e) => e.key === "Enter" && !e.shiftKey && !e.isComposing && submit(e)}
      ></textarea>
      <button type="submit" disabled=${busy || !draft.trim()} aria-busy=${busy ? "true" : "false"}>${t("text.send")}</button>
    </form>
  </section>`;
}
