// The waiting room's network check (WEB.md: "a measured throughput and loss to the server with a
// verdict in plain words"). It runs while the patient waits anyway, so the way in stays one
// decision long; the measuring is src/net/link_check.js, this screen only says what it found.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "../ui/html.js";
import { t } from "../i18n/index.js";
import { checkLink } from "../net/link_check.js";

/** @param {{socket: import("../net/socket.js").Socket, consultationId: string,
 *   onDone?: () => void}} props `onDone`: the first measurement is over (done or failed) */
export function LinkCheck({ socket, consultationId, onDone }) {
  const [result, setResult] = useState(/** @type {any} */ (null));
  const [running, setRunning] = useState(false);
  const [failed, setFailed] = useState(false);
  const alive = useRef(true);

  async function run() {
    if (running) return;
    setRunning(true);
    setFailed(false);
    try {
      const found = await checkLink(socket, consultationId);
      // Read by the browser tests; nothing else uses it.
      window.relaisLinkCheck = found;
      if (alive.current) setResult(found);
    } catch {
      if (alive.current) setFailed(true); // refused or offline: the call itself will tell more
    } finally {
      if (alive.current) setRunning(false);
      onDone?.();
    }
  }

  useEffect(() => {
    alive.current = true;
    run();
    return () => {
      alive.current = false;
    };
  }, [socket, consultationId]);

  let words = t("join.check_running");
  if (!running && failed) words = t("join.check_failed");
  else if (!running && result) words = t(`join.check_${result.verdict}`);
  const figures =
    result && result.opened
      ? t("join.check_figures", {
          kbps: Math.round(result.kbps),
          loss: Math.round(result.loss * 100),
          rtt: result.rtt_ms == null ? "?" : Math.round(result.rtt_ms),
        })
      : "";
  return html`
    <section class="check" aria-labelledby="check-title">
      <h2 id="check-title">${t("join.check_title")}</h2>
      <p aria-live="polite" class=${result && !running ? `verdict ${result.verdict}` : "verdict"}>${words}</p>
      ${figures && !running && html`<p class="figures">${figures}</p>`}
      ${!running &&
      html`<button type="button" onClick=${run}>${t("join.check_again")}</button>`}
    </section>
  `;
}
