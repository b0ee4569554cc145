// The camera and microphone of this browser, asked for once per call. A patient whose camera is
// missing, broken or refused must still be heard, and one who refuses both can still write, so a
// refusal is never an error here: the call goes on with what was granted, and `problem` says
// what is missing in terms the screens turn into plain words.

/** Asked of the camera: what the server's video-high ladder tops out at (640x480, docs/media.md),
 * so the browser does not open a bigger picture only to scale it down. */
const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 25, max: 30 } };

/**
 * @typedef {{stream: MediaStream|null, audio: boolean, video: boolean,
 *            problem: null|"denied"|"busy"|"missing"|"unsupported"|"no_camera"|"no_microphone"}} Devices
 */

/** @returns {Promise<Devices>} */
export async function openDevices() {
  const md = typeof navigator !== "undefined" ? navigator.mediaDevices : undefined;
  if (!md || !md.getUserMedia) return { stream: null, audio: false, video: false, problem: "unsupported" };
  let firstError = null;
  // Both first (one permission prompt), then each alone: one broken device must not cost the other.
  for (const ask of [{ audio: true, video: VIDEO }, { audio: true }, { video: VIDEO }]) {
    try {
      const stream = await md.getUserMedia(ask);
      const audio = stream.getAudioTracks().length > 0;
      const video = stream.getVideoTracks().length > 0;
      return { stream, audio, video, problem: video ? (audio ? null : "no_microphone") : "no_camera" };
    } catch (err) {
      firstError = firstError || err;
      // A refusal covers both devices: asking again only shows the prompt again, or fails again.
      if (err?.name === "NotAllowedError" || err?.name === "SecurityError") break;
    }
  }
  const name = firstError?.name;
  // NotReadableError/AbortError: the device exists but another program holds it (a second
  // video call, on Windows especially) or it failed to start.
  let problem = "missing";
  if (name === "NotAllowedError" || name === "SecurityError") problem = "denied";
  else if (name === "NotReadableError" || name === "AbortError") problem = "busy";
  return { stream: null, audio: false, video: false, problem };
}
