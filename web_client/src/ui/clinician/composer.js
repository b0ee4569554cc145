// Writing in a room. A message goes to the outbox first (sealed in the vault), so what is typed
// while offline is kept across a reload and sent in order once the link is back; Enter sends,
// Shift+Enter starts a new line. Files are encrypted in the browser before upload, with the
// upload's progress shown.
import { useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, t } from "../../i18n/index.js";

const TYPING_EVERY_MS = 3000;
const TYPING_IDLE_MS = 4000;

export function Composer({ app, roomId }) {
  const [text, setText] = useState("");
  const [upload, setUpload] = useState(/** @type {{name: string, done: number}|null} */ (null));
  const [error, setError] = useState("");
  const typing = useRef({ sentAt: 0, idle: 0 });
  const fileInput = useRef(null);

  function noteTyping() {
    const now = Date.now();
    if (now - typing.current.sentAt > TYPING_EVERY_MS) {
      typing.current.sentAt = now;
      app.typing(roomId, true);
    }
    clearTimeout(typing.current.idle);
    typing.current.idle = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typing.current.idle);
    if (typing.current.sentAt) app.typing(roomId, false);
    typing.current.sentAt = 0;
  }

  async function send(event) {
    event?.preventDefault();
    const body = text.trim();
    if (!body) return;
    setText("");
    stopTyping();
    try {
      await app.queueText(roomId, body);
    } catch (err) {
      setText(body);
      setError(errorText(err.code));
    }
  }

  function onKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
  }

  async function onFile(event) {
    const file = event.currentTarget.files?.[0];
    event.currentTarget.value = "";
    if (!file) return;
    setError("");
    setUpload({ name: file.name, done: 0 });
    try {
      await app.sendFile(roomId, file, (done) => setUpload({ name: file.name, done }));
    } catch (err) {
      setError(errorText(err.code));
    } finally {
      setUpload(null);
    }
  }

  return html`<form class="composer" onSubmit=${send}>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${upload &&
    html`<div class="upload" role="status">
      <label for="upload-progress">${t("file.uploading", { name: upload.name })}</label>
      <progress id="upload-progress" max="1" value=${upload.done}></progress>
    </div>`}
    <label for="composer-text">${t("composer.label")}</label>
    <div class="composer-row">
      <textarea id="composer-text" rows="2" value=${text} aria-describedby="composer-hint" onInput=${(e) => (setText(e.currentTarget.value), noteTyping())} onKeyDown=${onKey} onBlur=${stopTyping}></textarea>
      <button type="submit" class="primary">${t("composer.send")}</button>
    </div>
    <p id="composer-hint" class="hint">${t("composer.hint")}</p>
    <input ref=${fileInput} id="composer-file" type="file" class="visually-hidden" accept="image/*,application/pdf" onChange=${onFile} />
    <label for="composer-file" class="button-like">${t("composer.attach")}</label>
  </form>`;
}
