// "My devices": where this account is signed in, approving a new browser or phone (its code,
// pasted or scanned), and revoking a lost one (it leaves the signed device list, so colleagues
// stop encrypting to it, and its sessions end). Browsers of one kind share a name ("Chrome ·
// Linux"): each row also says when it signed in and a short device id, so they can be told apart.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, formatTime, t } from "../../i18n/index.js";

export function Devices({ app }) {
  const [devices, setDevices] = useState(/** @type {object[]|null} */ (null));
  const [code, setCode] = useState("");
  const [notice, setNotice] = useState("");
  const [error, setError] = useState("");
  const heading = useRef(null);

  async function refresh() {
    try {
      setDevices(await app.devices());
    } catch (err) {
      setError(errorText(err.code));
    }
  }

  useLayoutEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    refresh();
  }, []);

  async function approve(event) {
    event.preventDefault();
    setError("");
    setNotice("");
    try {
      await app.approveDevice(code.trim());
      setCode("");
      setNotice(t("devices.approved"));
      refresh();
    } catch (err) {
      setError(err.code === "bad_code" ? t("devices.bad_code") : errorText(err.code));
    }
  }

  async function revoke(d) {
    const name = t("devices.name", { name: d.name, id: d.short_id });
    if (!confirm(t("devices.revoke_confirm", { name }))) return;
    setError("");
    setNotice("");
    try {
      await app.revokeDevice(d.device_id);
      setNotice(t("devices.revoked", { name }));
      refresh();
    } catch (err) {
      setError(errorText(err.code));
    }
  }

  return html`<section class="devices" aria-labelledby="devices-title">
    <h1 id="devices-title" tabindex="-1" ref=${heading}>${t("devices.title")}</h1>
    <p role="status">${notice}</p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${devices === null
      ? html`<p>${t("app.loading")}</p>`
      : html`<ul class="device-list" aria-label=${t("devices.list")}>
          ${devices.map((d) => {
            const name = t("devices.name", { name: d.name, id: d.short_id });
            return html`<li key=${d.device_id}>
              <span class="name">${name}${d.current ? ` (${t("devices.this_one")})` : ""}</span>
              <span class="muted">${t("devices.signed_in", { when: formatTime(d.signed_in_at) })} · ${t("devices.last_seen", { when: formatTime(d.last_seen_at) })}</span>
              ${!d.current && html`<button type="button" class="danger" onClick=${() => revoke(d)}>${t("devices.revoke", { name })}</button>`}
            </li>`;
          })}
        </ul>`}
    <form onSubmit=${approve} class="approve">
      <h2>${t("devices.approve_title")}</h2>
      <p class="hint" id="approve-hint">${t("devices.approve_hint")}</p>
      <label for="approve-code">${t("devices.approve_code")}</label>
      <textarea id="approve-code" rows="3" aria-describedby="approve-hint" value=${code} onInput=${(e) => setCode(e.currentTarget.value)}></textarea>
      <button type="submit" class="primary" disabled=${!code.trim()}>${t("devices.approve")}</button>
    </form>
  </section>`;
}
