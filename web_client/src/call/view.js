// The pictures of a call, shared by the patient's and the clinician's screens: the other side
// (its video, or an avatar when no picture arrives) and one's own small self-view. The <video>
// of the other side also carries its sound, so it stays in the page (only hidden) without video.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "../ui/html.js";
import { t } from "../i18n/index.js";

/**
 * @param {{leg: import("./leg.js").CallLeg, name: string, label: string, noPicture: string,
 *          pictureOff?: boolean}} props
 * `label` names the video, `noPicture` says why there is an avatar, `name` gives its initial;
 * `pictureOff`: the screen knows no picture can come (the mode carries no video).
 */
export function RemoteView({ leg, name, label, noPicture, pictureOff = false }) {
  const video = useRef(/** @type {HTMLVideoElement|null} */ (null));
  const [live, setLive] = useState(false);
  const [blocked, setBlocked] = useState(false);

  useEffect(() => {
    const el = video.current;
    if (!el) return undefined;
    el.srcObject = leg.remote;
    // A reload has no user gesture, and browsers then refuse to start sound by themselves:
    // play muted (always allowed) and offer a button that turns the sound on.
    const play = () => {
      if (!leg.remote.getTracks().length) return;
      el.play().catch((err) => {
        if (err?.name !== "NotAllowedError") return;
        el.muted = true;
        setBlocked(true);
        el.play().catch(() => {});
      });
    };
    const update = () => {
      setLive(leg.picture);
      play();
    };
    update();
    const offs = [leg.on("remote", update), leg.on("picture", update)];
    return () => offs.forEach((off) => off());
  }, [leg]);

  function soundOn() {
    const el = video.current;
    if (!el) return;
    el.muted = false;
    el.play().then(() => setBlocked(false)).catch(() => {});
  }

  const picture = live && !pictureOff;
  const initial = (name || "?").trim().charAt(0).toUpperCase() || "?";
  return html`<div class="remote">
    <video ref=${video} class=${picture ? "remote-video" : "remote-video off"} autoplay playsinline aria-label=${label}></video>
    ${!picture && html`<div class="avatar"><span class="initial" aria-hidden="true">${initial}</span><span class="caption">${noPicture}</span></div>`}
    ${blocked && html`<button type="button" class="sound-on" onClick=${soundOn}>${t("call.sound_on")}</button>`}
  </div>`;
}

/** One's own camera, small and muted (one's own voice is never played back). */
export function SelfView({ leg }) {
  const video = useRef(/** @type {HTMLVideoElement|null} */ (null));
  const [on, setOn] = useState(leg.cameraOn && !!leg.devices?.video);
  useEffect(() => {
    const update = () => {
      const el = video.current;
      if (el && leg.devices?.stream && el.srcObject !== leg.devices.stream) {
        el.srcObject = leg.devices.stream;
        el.play().catch(() => {});
      }
      setOn(leg.cameraOn && !!leg.devices?.video);
    };
    update();
    const offs = [leg.on("devices", update), leg.on("local", update)];
    return () => offs.forEach((off) => off());
  }, [leg]);
  return html`<div class=${on ? "self" : "self off"}>
    <video ref=${video} muted autoplay playsinline aria-label=${t("call.self_video")}></video>
  </div>`;
}
