// Setting up this browser as one of the user's devices, before any message can be read.
// - First device of the user: a recovery passphrase protects the key backup (argon2id in the
//   browser, with progress), so a lost device does not lose the history.
// - A further device: approve it from a device already signed in (its code, as text and QR),
//   or restore from the recovery passphrase.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { errorText, t } from "../i18n/index.js";
import { QrCode } from "./qr.js";

const MIN_PASSPHRASE = 12;

function Progress({ value, label }) {
  return html`<div class="progress" role="status">
    <label for="kdf-progress">${label}</label>
    <progress id="kdf-progress" max="1" value=${value}></progress>
    <span>${Math.round(value * 100)} %</span>
  </div>`;
}

function PassphraseForm({ confirmField, submitLabel, onSubmit, busyLabel }) {
  const [pass, setPass] = useState("");
  const [again, setAgain] = useState("");
  const [progress, setProgress] = useState(/** @type {number|null} */ (null));
  const [error, setError] = useState("");
  const first = useRef(null);
  useLayoutEffect(() => first.current?.focus(), []);

  async function submit(event) {
    event.preventDefault();
    setError("");
    if (confirmField && pass.length < MIN_PASSPHRASE) return setError(t("setup.too_short", { n: MIN_PASSPHRASE }));
    if (confirmField && pass !== again) return setError(t("setup.mismatch"));
    setProgress(0);
    try {
      await onSubmit(pass, (f) => setProgress(f));
    } catch (err) {
      setProgress(null);
      setError(err.code === "bad_ciphertext" || err.code === "bad_passphrase" ? t("setup.wrong_passphrase") : errorText(err.code));
    }
  }

  return html`<form onSubmit=${submit}>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <label for="setup-pass">${t("setup.passphrase")}</label>
    <input id="setup-pass" ref=${first} type="password" autocomplete=${confirmField ? "new-password" : "current-password"} value=${pass} onInput=${(e) => setPass(e.currentTarget.value)} />
    ${confirmField &&
    html`<label for="setup-again">${t("setup.passphrase_again")}</label>
      <input id="setup-again" type="password" autocomplete="new-password" value=${again} onInput=${(e) => setAgain(e.currentTarget.value)} />`}
    ${progress !== null && html`<${Progress} value=${progress} label=${busyLabel} />`}
    <button type="submit" class="primary" disabled=${progress !== null}>${submitLabel}</button>
  </form>`;
}

/** @param {{app: object, status: "first_device"|"new_device", onReady: () => void}} props */
export function DeviceSetup({ app, status, onReady }) {
  const [mode, setMode] = useState(/** @type {"approve"|"restore"} */ ("approve"));
  const [code, setCode] = useState("");
  const [skipError, setSkipError] = useState("");
  const heading = useRef(null);
  // The heading takes focus unless a field of the screen already did (the passphrase form).
  useLayoutEffect(() => {
    const active = document.activeElement;
    if (!active || active === document.body) heading.current?.focus();
  }, [status]);

  useEffect(() => {
    if (status !== "new_device") return undefined;
    app.startNewDevice().then(setCode, () => {});
    return app.whenApproved(onReady);
  }, [status]);

  if (status === "first_device") {
    return html`<main id="main" class="setup" tabindex="-1">
      <h1 tabindex="-1" ref=${heading}>${t("setup.first_title")}</h1>
      <p>${t("setup.first_intro")}</p>
      <${PassphraseForm}
        confirmField=${true}
        submitLabel=${t("setup.first_submit")}
        busyLabel=${t("setup.protecting")}
        onSubmit=${async (pass, onProgress) => {
          await app.bootstrap(pass, onProgress);
          onReady();
        }}
      />
      <p class="hint">${t("setup.skip_hint")}</p>
      ${skipError && html`<p class="error" role="alert">${skipError}</p>`}
      <button type="button" onClick=${() => app.bootstrap(null).then(onReady, (err) => setSkipError(errorText(err.code)))}>${t("setup.skip")}</button>
    </main>`;
  }

  return html`<main id="main" class="setup" tabindex="-1">
    <h1 tabindex="-1" ref=${heading}>${t("setup.new_title")}</h1>
    <p>${t("setup.new_intro")}</p>
    <div role="group" aria-label=${t("setup.new_how")} class="row">
      <button type="button" aria-pressed=${mode === "approve"} onClick=${() => setMode("approve")}>${t("setup.by_other_device")}</button>
      <button type="button" aria-pressed=${mode === "restore"} onClick=${() => setMode("restore")}>${t("setup.by_passphrase")}</button>
    </div>
    ${mode === "approve"
      ? html`<section aria-labelledby="approve-title">
          <h2 id="approve-title">${t("setup.by_other_device")}</h2>
          <p>${t("setup.approve_steps")}</p>
          ${code && html`<${QrCode} text=${code} label=${t("setup.code_qr")} />`}
          <label for="approval-code">${t("setup.code_text")}</label>
          <textarea id="approval-code" readonly rows="3" value=${code}></textarea>
          <p role="status">${t("setup.waiting_approval")}</p>
        </section>`
      : html`<section aria-labelledby="restore-title">
          <h2 id="restore-title">${t("setup.by_passphrase")}</h2>
          <${PassphraseForm}
            confirmField=${false}
            submitLabel=${t("setup.restore_submit")}
            busyLabel=${t("setup.unlocking")}
            onSubmit=${async (pass, onProgress) => {
              await app.restore(pass, onProgress);
              onReady();
            }}
          />
        </section>`}
  </main>`;
}
