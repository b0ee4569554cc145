// Sign in: password, and the TOTP code for accounts that turned it on. The server answers every
// wrong name, password or code with the same `invalid_credentials` (docs/protocol.md §2.1), so the
// code field is offered after a refusal, and always reachable through its toggle.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { errorText, t } from "../i18n/index.js";

/** @param {{onSignIn: (creds: object) => Promise<void>}} props */
export function SignIn({ onSignIn, initialError = "" }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [totp, setTotp] = useState("");
  const [askCode, setAskCode] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(initialError);
  const first = useRef(null);
  const errorRef = useRef(null);

  useLayoutEffect(() => first.current?.focus(), []);
  useLayoutEffect(() => {
    if (error) errorRef.current?.focus();
  }, [error]);

  async function submit(event) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError("");
    try {
      await onSignIn({ username: username.trim(), password, totp: askCode && totp ? totp : undefined });
    } catch (err) {
      if (err.code === "account_locked") {
        const minutes = Math.max(1, Math.ceil((err.details?.retry_after_ms || 60000) / 60000));
        setError(t("signin.locked", { minutes }));
      } else if (err.code === "invalid_credentials") {
        setError(t("signin.failed"));
        setAskCode(true);
      } else {
        setError(errorText(err.code));
      }
      setBusy(false);
    }
  }

  return html`
    <main id="main" class="signin" tabindex="-1">
      <h1>${t("signin.title")}</h1>
      <p>${t("signin.intro")}</p>
      <form onSubmit=${submit} novalidate>
        ${error &&
        html`<p class="error" role="alert" tabindex="-1" ref=${errorRef} id="signin-error">${error}</p>`}
        <label for="signin-username">${t("signin.username")}</label>
        <input
          id="signin-username"
          name="username"
          ref=${first}
          autocomplete="username"
          autocapitalize="none"
          spellcheck=${false}
          required
          value=${username}
          onInput=${(e) => setUsername(e.currentTarget.value)}
        />
        <label for="signin-password">${t("signin.password")}</label>
        <input
          id="signin-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value=${password}
          onInput=${(e) => setPassword(e.currentTarget.value)}
        />
        <div class="check">
          <input id="signin-usecode" type="checkbox" checked=${askCode} onChange=${(e) => setAskCode(e.currentTarget.checked)} />
          <label for="signin-usecode">${t("signin.totp_toggle")}</label>
        </div>
        ${askCode &&
        html`<label for="signin-totp">${t("signin.totp")}</label>
          <p class="hint" id="signin-totp-hint">${t("signin.totp_hint")}</p>
          <input
            id="signin-totp"
            name="totp"
            inputmode="numeric"
            autocomplete="one-time-code"
            pattern="[0-9]{6}"
            maxlength="6"
            aria-describedby="signin-totp-hint"
            value=${totp}
            onInput=${(e) => setTotp(e.currentTarget.value.replace(/\D/g, ""))}
          />`}
        <button type="submit" class="primary" disabled=${busy} aria-busy=${busy ? "true" : "false"}>
          ${busy ? t("signin.busy") : t("signin.submit")}
        </button>
      </form>
    </main>
  `;
}
