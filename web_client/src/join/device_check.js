// The waiting room's camera and microphone check (WEB.md: "camera and microphone, with what to do
// when refused or missing, per browser"). It asks for the devices as the patient arrives in the
// waiting room, so the browser's permission prompt is the second and last decision on the way in,
// and the call later starts on the same stream without asking again (the stream is handed over
// through `held`, see main.js). While waiting, the patient sees themselves and a bar that moves
// when they speak: the "is it working?" a clinician would otherwise spend the first minute on.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "../ui/html.js";
import { t } from "../i18n/index.js";
import { openDevices } from "../call/devices.js";

/** A level above this (RMS of the samples, 0..1) counts as "we hear you". */
const HEARD_LEVEL = 0.02;
const METER_MS = 150;

/**
 * Which family of browser this is, for the words that say where its permission switch is. Only
 * the families whose menus differ; everything Chromium-based shares Chrome's lock menu.
 * @param {string} ua
 * @returns {"firefox"|"safari_ios"|"safari"|"samsung"|"chromium"}
 */
export function browserFamily(ua) {
  if (/Firefox\/|FxiOS\//.test(ua)) return "firefox";
  if (/SamsungBrowser\//.test(ua)) return "samsung";
  if (/iPhone|iPad|iPod/.test(ua)) return "safari_ios"; // every iOS browser is Safari underneath
  if (/Safari\//.test(ua) && !/Chrome\/|Chromium\/|Edg\//.test(ua)) return "safari";
  return "chromium";
}

/**
 * Holds the opened devices until the call takes them (`take`); `release` stops what nobody took.
 * @returns {{devices: import("../call/devices.js").Devices|null,
 *   take: () => Promise<import("../call/devices.js").Devices>, release: () => void}}
 */
export function deviceHolder() {
  return {
    devices: null,
    /** The call's `openDevices`: the checked stream if it is still live, else a fresh ask. */
    async take() {
      const held = this.devices;
      this.devices = null;
      const live = held?.stream?.getTracks().some((track) => track.readyState === "live");
      return live && held ? held : openDevices();
    },
    release() {
      for (const track of this.devices?.stream?.getTracks() || []) track.stop();
      this.devices = null;
    },
  };
}

/** @param {{held: ReturnType<typeof deviceHolder>}} props */
export function DeviceCheck({ held }) {
  const [found, setFound] = useState(/** @type {import("../call/devices.js").Devices|null} */ (null));
  const [busy, setBusy] = useState(true);
  const [heard, setHeard] = useState(false);
  const video = useRef(/** @type {HTMLVideoElement|null} */ (null));
  const meter = useRef(/** @type {HTMLDivElement|null} */ (null));
  const alive = useRef(true);

  async function ask() {
    setBusy(true);
    held.release();
    const devices = await openDevices();
    if (!alive.current) {
      // Admitted meanwhile: the call asked on its own, this stream has nobody to go to.
      for (const track of devices.stream?.getTracks() || []) track.stop();
      return;
    }
    held.devices = devices;
    setFound(devices);
    setBusy(false);
  }

  useEffect(() => {
    alive.current = true;
    ask();
    return () => {
      alive.current = false;
    };
  }, []);

  // The preview, and the microphone's level every 150 ms (Web Audio; the consent tap was the
  // user gesture an AudioContext needs).
  useEffect(() => {
    const stream = found?.stream;
    if (!stream) return undefined;
    if (video.current && found.video) {
      video.current.srcObject = stream;
      video.current.play().catch(() => {});
    }
    if (!found.audio || typeof AudioContext === "undefined") return undefined;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(stream).connect(analyser);
    ctx.resume().catch(() => {});
    const samples = new Float32Array(analyser.fftSize);
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const level = Math.sqrt(sum / samples.length);
      // Drawn straight on the element: a re-render six times a second would be wasted work.
      if (meter.current) meter.current.style.width = `${Math.min(100, Math.round(level * 400))}%`;
      if (level >= HEARD_LEVEL) setHeard(true);
    }, METER_MS);
    return () => {
      clearInterval(timer);
      ctx.close().catch(() => {});
    };
  }, [found]);

  let words;
  if (busy) words = html`<p>${t("join.devices_asking")}</p>`;
  else if (found?.problem && found.problem !== "no_camera" && found.problem !== "no_microphone" && !found.stream)
    words = html`<${Problem} problem=${found.problem} />`;
  else
    words = html`
      ${found?.video ? html`<p>${t("join.devices_camera_ok")}</p>` : html`<p class="device-problem">${t("join.devices_no_camera")}</p>`}
      ${found?.audio
        ? html`<p aria-live="polite">${heard ? t("join.devices_heard") : t("join.devices_speak")}</p>`
        : html`<p class="device-problem">${t("join.devices_no_microphone")}</p>`}
    `;
  const hasProblem = !busy && !!found?.problem;
  return html`
    <section class="devices" aria-labelledby="devices-title">
      <h2 id="devices-title">${t("join.devices_title")}</h2>
      ${found?.video && html`<video ref=${video} class="preview" muted autoplay playsinline aria-label=${t("join.devices_preview")}></video>`}
      ${found?.audio &&
      html`<div class="level" role="img" aria-label=${heard ? t("join.devices_heard") : t("join.devices_level")}>
        <div class="level-bar" ref=${meter}></div>
      </div>`}
      ${words}
      ${hasProblem && html`<p>${t("join.devices_anyway")}</p>`}
      ${hasProblem && html`<button type="button" class="secondary" onClick=${ask}>${t("join.devices_again")}</button>`}
    </section>
  `;
}

/** A refusal, a missing or busy device, or a browser without them: what it means and what to do,
 * in the words of this browser's menus. */
function Problem({ problem }) {
  const family = browserFamily(typeof navigator !== "undefined" ? navigator.userAgent : "");
  return html`
    <div class="device-problem">
      <p>${t(`join.devices_${problem}`)}</p>
      ${problem === "denied" && html`<p>${t(`join.devices_allow_${family}`)}</p>`}
    </div>
  `;
}
