// What a leg's mode means for a person. The server names modes and gives the measured cause of a
// change in its own terms (`loss 14% >= 10% for 2 s`, `rate 60 kbit/s < 340 for 2 s`, `no packets
// for 2.8 s`, `probe ok (...)`, `fresh media leg`: media/policy.py, consultations/media_bridge.py);
// screens show catalogue words instead, so this module reduces a change to a mode key and a
// cause key. No DOM: the screens look the keys up in the catalogues.

export const MODES = ["video-high", "video-low", "audio-only", "text-only"];

/** The catalogue key part of a mode: "video-high" -> "video_high". */
export function modeKey(mode) {
  return MODES.includes(mode) ? mode.replace("-", "_") : "unknown";
}

/** Video modes count as "video" for the patient's three-way indicator (video / sound / text). */
export function modeFamily(mode) {
  if (mode === "video-high" || mode === "video-low") return "video";
  if (mode === "audio-only") return "audio";
  if (mode === "text-only") return "text";
  return "unknown";
}

/**
 * Why the mode changed, as a cause key: "weak" (loss or rate: the link cannot carry it), "cut"
 * (nothing arrived for seconds), "better" (the link proved it can carry more), "resumed" (a fresh
 * leg after a lost one), "manual" (chosen by hand: consult.set_mode), "automatic" (back to what
 * the link carries, by hand), or "" (no change to explain, e.g. the first mode of a leg).
 * @param {{mode: string, previous?: string|null, reason?: string}} change
 */
export function causeOf(change) {
  const reason = String(change?.reason || "");
  if (!change?.previous || !reason) return "";
  if (reason.startsWith("no packets")) return "cut";
  if (reason.startsWith("fresh media leg")) return "resumed";
  if (reason === "manual") return "manual";
  if (reason === "automatic again") return "automatic";
  const down = MODES.indexOf(change.mode) > MODES.indexOf(change.previous);
  if (reason.startsWith("loss") || reason.startsWith("rate")) return down ? "weak" : "better";
  if (reason.includes("probe ok") || !down) return "better";
  return "weak";
}

/**
 * The mode change a quality sample shows when the screen missed its `consult.mode`, or null.
 * Mode changes go once, at once; a participant whose socket was down at that moment (a link
 * that just recovered drops and reconnects it) never hears of it, while every quality sample
 * names the leg's mode (its first one also names the mode of a participant who joined after the
 * last change). Without this a patient's screen said "text only" for a whole minute of video.
 * The reason is the sample's: no measured cause, only the direction ("better" or "weak"), or
 * "manual" when the mode is the one chosen by hand for that participant (consult.mode_choice).
 * @param {{mode: string}|undefined} known the last mode change seen for that participant
 * @param {{participant_id: string, mode: string}} quality
 * @param {string|undefined} chosen the mode chosen by hand for that participant, if any
 */
export function missedChange(known, quality, chosen) {
  if (!MODES.includes(quality.mode) || (known && known.mode === quality.mode)) return null;
  if (!known) return { participant_id: quality.participant_id, mode: quality.mode, previous: null, reason: "" };
  const reason = chosen === quality.mode ? "manual" : "quality sample";
  return { participant_id: quality.participant_id, mode: quality.mode, previous: known.mode, reason };
}
