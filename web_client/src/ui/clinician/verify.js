// Verifying a colleague's keys (docs/crypto.md §2.3): both people see the same 60-digit safety
// number, compare it in person or by phone, and the one who confirms pins the colleague's
// identity key as verified. The same fact as a QR code, for a colleague standing next to you.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, t } from "../../i18n/index.js";
import { QrCode } from "../qr.js";

/** @param {{app: object, userId: string, onClose: () => void}} props */
export function Verify({ app, userId, onClose }) {
  const [facts, setFacts] = useState(/** @type {{number: string, qr: string, state: string}|null} */ (null));
  const [error, setError] = useState("");
  const [name, setName] = useState(() => app.nameOf(userId));
  const heading = useRef(null);
  const status = useRef(null);

  useLayoutEffect(() => heading.current?.focus(), [userId]);
  useEffect(() => {
    const load = () => app.verificationFacts(userId).then(setFacts, (err) => setError(errorText(err.code)));
    load();
    // Opened from its address (a reload): the name is learnt from the rooms shared with them.
    app.learnName(userId).then((known) => known && setName(known));
    // Verified here or in another tab, or their key changed meanwhile: show the new state.
    return app.on("identity", (changed) => changed === userId && load());
  }, [userId]);

  async function confirmMatch() {
    try {
      await app.markVerified(userId);
      // The button is gone: focus goes to what it changed.
      status.current?.focus();
    } catch (err) {
      setError(errorText(err.code));
    }
  }

  const groups = facts ? facts.number.match(/.{1,5}/g) : [];
  return html`<section class="verify" aria-labelledby="verify-title">
    <h2 id="verify-title" tabindex="-1" ref=${heading}>${t("verify.title", { name })}</h2>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${facts &&
    html`<p>${t("verify.intro", { name })}</p>
      <p class="safety-number" aria-label=${t("verify.number_label")}>
        ${groups.map((g) => html`<span>${g}</span> `)}
      </p>
      <${QrCode} text=${facts.qr} label=${t("verify.qr_label", { name })} />
      <p role="status" tabindex="-1" ref=${status}>${facts.state === "verified" ? t("verify.is_verified", { name }) : facts.state === "changed" ? t("verify.changed", { name }) : t("verify.not_yet")}</p>
      ${facts.state !== "verified" && html`<button type="button" class="primary" onClick=${confirmMatch}>${t("verify.match")}</button>`}`}
    <button type="button" onClick=${onClose}>${t("common.close")}</button>
  </section>`;
}
