// The link check's verdict: the server's adaptation thresholds decide which mode a call starts in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { verdictOf, VIDEO_KBPS, AUDIO_KBPS } from "../../src/net/link_check.js";

test("a link that keeps video starts in video", () => {
  assert.equal(verdictOf({ opened: true, kbps: 600, loss: 0 }), "video");
  assert.equal(verdictOf({ opened: true, kbps: VIDEO_KBPS, loss: 0.09 }), "video");
});

test("too thin or too lossy for video: sound only", () => {
  assert.equal(verdictOf({ opened: true, kbps: VIDEO_KBPS - 1, loss: 0 }), "audio");
  assert.equal(verdictOf({ opened: true, kbps: 600, loss: 0.1 }), "audio");
  assert.equal(verdictOf({ opened: true, kbps: AUDIO_KBPS, loss: 0.29 }), "audio");
});

test("below sound, or no UDP path at all: text", () => {
  assert.equal(verdictOf({ opened: true, kbps: AUDIO_KBPS - 1, loss: 0 }), "text");
  assert.equal(verdictOf({ opened: true, kbps: 600, loss: 0.3 }), "text");
  assert.equal(verdictOf({ opened: false, kbps: 600, loss: 0 }), "text");
});
