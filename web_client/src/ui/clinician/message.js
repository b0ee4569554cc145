// One message of a room's timeline, in the words of its state: decrypted (its content), waiting
// for the key (who it is waiting on, that it will appear by itself), or failed (why, plainly),
// and for the user's own unsent messages, pending in the outbox.
import { useEffect, useState } from "preact/hooks";
import { html } from "../html.js";
import { formatTime, t } from "../../i18n/index.js";

const PREVIEW_MAX = 8 * 1024 * 1024; // decrypt images up to this size for an inline preview

/** @param {number} n */
export function formatSize(n) {
  if (n < 1000) return t("size.bytes", { n });
  if (n < 1e6) return t("size.kb", { n: Math.round(n / 100) / 10 });
  return t("size.mb", { n: Math.round(n / 1e5) / 10 });
}

/** The plain-words reason a message cannot be read (docs/crypto.md error codes). */
function failure(code) {
  const key = `message.failed.${code}`;
  const text = t(key);
  return text === key ? t("message.failed.other") : text;
}

function FileContent({ content, app }) {
  const [url, setUrl] = useState(/** @type {string|null} */ (null));
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const isImage = /^image\/(png|jpeg|gif|webp)$/.test(content.mime || "");

  async function plaintext() {
    const bytes = await app.downloadFile(content);
    return new Blob([bytes], { type: content.mime || "application/octet-stream" });
  }

  useEffect(() => {
    if (!isImage || content.size > PREVIEW_MAX) return undefined;
    let made = null;
    let live = true;
    plaintext()
      .then((blob) => {
        if (!live) return;
        made = URL.createObjectURL(blob);
        setUrl(made);
      })
      .catch(() => live && setError(t("file.unreadable")));
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [content.attachment_id]);

  async function save() {
    setBusy(true);
    setError("");
    try {
      const blob = await plaintext();
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = String(content.name || "document");
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch {
      setError(t("file.unreadable"));
    } finally {
      setBusy(false);
    }
  }

  return html`<div class="file">
    ${url && html`<img src=${url} alt=${t("file.preview_of", { name: content.name || "" })} />`}
    <p>
      <span class="file-name">${content.name || t("file.unnamed")}</span>
      <span class="file-size"> · ${formatSize(Number(content.size) || 0)}</span>
    </p>
    <button type="button" onClick=${save} disabled=${busy}>
      ${busy ? t("file.decrypting") : t("file.download", { name: content.name || "" })}
    </button>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </div>`;
}

function Body({ item, app }) {
  if (item.pending && item.failed) {
    return html`<p class="body">${item.content.body}</p>
      <p class="state failed">${t("outbox.failed")}</p>
      <button type="button" onClick=${() => app.outbox.discard(item.id)}>${t("outbox.discard")}</button>`;
  }
  if (item.pending) {
    return html`<p class="body">${item.content.type === "file" ? item.content.name : item.content.body}</p>`;
  }
  if (item.state === "waiting_for_key") {
    return html`<p class="body state">${t("message.waiting")}</p>`;
  }
  if (item.state === "failed") {
    return html`<p class="body state failed">${failure(item.error)}</p>`;
  }
  const content = item.content || {};
  if (content.type === "text") return html`<p class="body">${String(content.body ?? "")}</p>`;
  if (content.type === "file") return html`<${FileContent} content=${content} app=${app} />`;
  if (content.type === "room.title") return html`<p class="body state">${t("room.titled", { title: String(content.title ?? "") })}</p>`;
  return html`<p class="body state">${t("message.unsupported")}</p>`;
}

/** @param {{item: object, app: object, readers: string[], mine: boolean}} props */
export function Message({ item, app, readers, mine }) {
  const who = mine ? t("message.me") : app.nameOf(item.sender_user);
  return html`<li class=${`message${mine ? " mine" : ""}${item.pending ? " pending" : ""}`}>
    <p class="meta">
      <span class="sender">${who}</span>
      ${item.ts && html` <time datetime=${new Date(item.ts).toISOString()}>${formatTime(item.ts)}</time>`}
      ${item.pending && html` <span class="status">${item.sending ? t("outbox.sending") : t("outbox.pending")}</span>`}
    </p>
    <${Body} item=${item} app=${app} />
    ${readers.length > 0 && html`<p class="readers">${t("receipts.read_by", { names: readers.join(", ") })}</p>`}
  </li>`;
}
