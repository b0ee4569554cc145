// The server's mode changes, reduced to what the call screens say (src/call/modes.js): the cause
// of each reason media/policy.py and consultations/media_bridge.py actually write.
import { test } from "node:test";
import assert from "node:assert/strict";
import { causeOf, missedChange, modeFamily, modeKey } from "../../src/call/modes.js";

test("a mode is a catalogue key and one of three families", () => {
  assert.equal(modeKey("video-high"), "video_high");
  assert.equal(modeKey("audio-only"), "audio_only");
  assert.equal(modeKey("warp-speed"), "unknown");
  assert.deepEqual(["video-high", "video-low", "audio-only", "text-only"].map(modeFamily), ["video", "video", "audio", "text"]);
});

test("each reason of the policy has its cause", () => {
  const change = (previous, mode, reason) => causeOf({ previous, mode, reason });
  assert.equal(change("video-high", "audio-only", "loss 14% >= 10% for 2 s"), "weak");
  assert.equal(change("video-high", "video-low", "rate 60 kbit/s < 340 for 2 s"), "weak");
  assert.equal(change("audio-only", "text-only", "no packets for 2.8 s"), "cut");
  assert.equal(change("audio-only", "video-low", "headroom 180 kbit/s for 2 s, probe ok (594 >= 425 kbit/s, loss 0%)"), "better");
  assert.equal(change("text-only", "audio-only", "signs of life for 1 s, probe ok (loss 0%)"), "better");
  assert.equal(change("text-only", "audio-only", "fresh media leg"), "resumed");
  // Chosen by hand (consult.set_mode), and back to automatic, whichever way the mode moved.
  assert.equal(change("video-high", "audio-only", "manual"), "manual");
  assert.equal(change("audio-only", "video-high", "automatic again"), "automatic");
  // The first mode of a leg, or a change without a reason, explains nothing.
  assert.equal(causeOf({ previous: null, mode: "video-high", reason: "" }), "");
  assert.equal(change("video-high", "audio-only", ""), "");
});

test("a quality sample naming another mode than the screen knows is the change it missed", () => {
  const sample = (mode) => ({ participant_id: "p1", mode, probing: null, measured: {} });
  // Seen already: nothing to announce.
  assert.equal(missedChange({ mode: "video-low" }, sample("video-low")), null);
  // The first sample of a participant who joined after the last change names the mode, no cause.
  assert.deepEqual(missedChange(undefined, sample("audio-only")), { participant_id: "p1", mode: "audio-only", previous: null, reason: "" });
  assert.equal(causeOf(missedChange(undefined, sample("audio-only"))), "");
  // The climb back to video went while the patient's socket was down: the screen said text.
  const climbed = missedChange({ mode: "text-only", previous: "audio-only" }, sample("video-low"));
  assert.deepEqual([climbed.previous, climbed.mode, causeOf(climbed)], ["text-only", "video-low", "better"]);
  assert.equal(causeOf(missedChange({ mode: "video-high" }, sample("audio-only"))), "weak");
  // Missed while the host had chosen sound only for the patient: chosen by hand, not weak.
  assert.equal(causeOf(missedChange({ mode: "video-high" }, sample("audio-only"), "audio-only")), "manual");
  // A mode this screen does not know is no change to announce.
  assert.equal(missedChange({ mode: "video-high" }, sample("warp-speed")), null);
});
