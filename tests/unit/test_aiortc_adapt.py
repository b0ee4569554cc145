"""The aiortc adaptations (media/aiortc_adapt.py) and the defects they work around.

Two kinds of checks:
- "stock" tests pin aiortc's behaviour that made each adaptation necessary. If one fails after an
  upgrade, aiortc changed: re-check whether the adaptation is still needed or still right.
- the others prove our replacement does what the issue asks, against the installed aiortc.
"""

from __future__ import annotations

import fractions
import math

import av
import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs import CODECS, opus, vpx
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media import aiortc_adapt
from media.aiortc_adapt import AdaptiveOpusEncoder, AdaptiveVp8Encoder, rung_for


def video_frames(n: int, width: int = 640, height: int = 480, fps: int = 30) -> list[av.VideoFrame]:
    frames = []
    row = bytes((x * 7) & 0xFF for x in range(width + 256))
    for i in range(n):
        frame = av.VideoFrame(width=width, height=height, format="yuv420p")
        shift = (i * 5) % 256
        frame.planes[0].update(b"".join(row[(y + shift) % 256 :][:width] for y in range(height)))
        chroma = bytes([(i * 3) & 0xFF]) * frame.planes[1].buffer_size
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = i * (90000 // fps)
        frame.time_base = fractions.Fraction(1, 90000)
        frames.append(frame)
    return frames


def tone_frames(n: int) -> list[av.AudioFrame]:
    frames = []
    for i in range(n):
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        samples = (
            int(8000 * math.sin(2 * math.pi * 330 * (i * 960 + k) / 48000))
            * (1 + (k // 240) % 2)
            // 2
            for k in range(960)
        )
        frame.planes[0].update(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
        frame.sample_rate = 48000
        frame.pts = i * 960
        frame.time_base = fractions.Fraction(1, 48000)
        frames.append(frame)
    return frames


def kbps(payload_lists: list[list[bytes]], seconds: float) -> float:
    return sum(len(p) for ps in payload_lists for p in ps) * 8 / 1000 / seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------------
# aiortc internals we rely on still exist.


async def test_private_hooks_still_exist() -> None:
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio")
        pc.addTransceiver("video")
        for transceiver in pc.getTransceivers():
            sender, receiver = transceiver.sender, transceiver.receiver
            ice = receiver.transport.transport
            connection = getattr(ice, aiortc_adapt.INTERNALS["ice_connection"])
            for key, name in aiortc_adapt.INTERNALS.items():
                target = {
                    "sender": sender,
                    "receiver": receiver,
                    "ice": ice,
                    "transceiver": transceiver,
                }[key.split("_")[0]]
                if key == "ice_consent_start":
                    target = connection
                assert hasattr(target, name), f"aiortc no longer has {name} ({key})"
    finally:
        await pc.close()


# ---------------------------------------------------------------------------------------------
# Stock defects (if one of these fails, aiortc changed: revisit the adaptation).


def test_stock_vp8_clamps_to_250_kbps() -> None:
    encoder = vpx.Vp8Encoder()
    encoder.target_bitrate = 100_000
    assert encoder.target_bitrate == vpx.MIN_BITRATE == 250_000


def test_stock_vp8_rebuilds_on_an_11_percent_change() -> None:
    encoder = vpx.Vp8Encoder()
    frames = video_frames(4)
    encoder.encode(frames[0])
    first = encoder.codec
    encoder.target_bitrate = int(vpx.DEFAULT_BITRATE * 1.11)
    encoder.encode(frames[1])
    assert encoder.codec is not first


def test_stock_vp8_keeps_a_decoded_keyframe_marker() -> None:
    encoder = vpx.Vp8Encoder()
    keyframes = 0
    for frame in video_frames(6):
        frame.pict_type = av.video.frame.PictureType.I  # as a decoder marks a keyframe
        payloads, _ = encoder.encode(frame)
        keyframes += aiortc_adapt.is_vp8_keyframe(vpx.vp8_depayload(payloads[0]))
    assert keyframes == 6


def test_stock_opus_is_96k_stereo_without_fec_in_sdp() -> None:
    encoder = opus.OpusEncoder()
    assert encoder.codec.bit_rate == 96000
    assert encoder.codec.layout.name == "stereo"
    assert "fec" not in encoder.codec.options


# ---------------------------------------------------------------------------------------------
# Our encoders.


def test_ladder_puts_video_low_at_320x240_15fps() -> None:
    low = rung_for(120_000)
    assert (low.width, low.height, low.fps) == (320, 240, 15)
    assert rung_for(1_500_000).width == 640


@pytest.mark.parametrize("target", [60_000, 120_000, 400_000])
def test_vp8_follows_low_rates(target: int) -> None:
    clock = FakeClock()
    encoder = AdaptiveVp8Encoder(clock)
    encoder.target_bitrate = 2_000_000  # REMB says plenty; the cap rules
    encoder.set_cap(target)
    out = []
    for frame in video_frames(150):  # 5 s at 30 fps
        clock.now = frame.pts / 90000
        payloads, _ = encoder.encode(frame)
        out.append(payloads)
    measured = kbps(out[30:], 4.0) * 1000
    assert 0.4 * target <= measured <= 1.6 * target, measured
    assert encoder.rebuilds == 1


def test_vp8_rebuilds_only_on_real_steps() -> None:
    clock = FakeClock()
    encoder = AdaptiveVp8Encoder(clock)
    encoder.target_bitrate = 500_000
    frames = iter(video_frames(400))

    def run(seconds: float) -> None:
        for _ in range(int(seconds * 30)):
            frame = next(frames)
            clock.now = frame.pts / 90000
            encoder.encode(frame)

    run(1)
    assert encoder.rebuilds == 1
    encoder.target_bitrate = 460_000  # -8 %: REMB jitter, no keyframe
    run(1)
    encoder.target_bitrate = 530_000
    run(1)
    assert encoder.rebuilds == 1
    encoder.target_bitrate = 380_000  # -24 %: must fall at once
    run(0.2)
    assert encoder.rebuilds == 2
    encoder.target_bitrate = 600_000  # +58 %: only after holding 4 s
    run(2)
    assert encoder.rebuilds == 2
    run(3)
    assert encoder.rebuilds == 3


def test_vp8_sets_the_picture_type_on_every_frame() -> None:
    encoder = AdaptiveVp8Encoder(FakeClock())
    encoder.target_bitrate = 1_000_000  # 30 fps rung: no frame is skipped
    keys = []
    for i, frame in enumerate(video_frames(8)):
        frame.pict_type = av.video.frame.PictureType.I
        payloads, _ = encoder.encode(frame, force_keyframe=(i == 5))
        keys.append(aiortc_adapt.is_vp8_keyframe(vpx.vp8_depayload(payloads[0])))
    assert keys == [True, False, False, False, False, True, False, False]


def test_vp8_scales_to_the_ladder_and_drops_frames_for_rate() -> None:
    clock = FakeClock()
    encoder = AdaptiveVp8Encoder(clock)
    encoder.set_cap(120_000)
    sent = 0
    for frame in video_frames(60):
        payloads, _ = encoder.encode(frame)
        sent += bool(payloads)
    assert 28 <= sent <= 32  # 15 of 30 fps over 2 s
    assert encoder._codec_size == (320, 240)


def _silk_lbrr_flag(packet: bytes) -> bool:
    """Decode the first two range-coded header bits of a mono 20 ms SILK frame (RFC 6716
    §4.1 and §4.2.3): the VAD flag, then the LBRR (in-band FEC) flag."""
    data = packet[1:]
    pos = 0

    def byte() -> int:
        nonlocal pos
        value = data[pos] if pos < len(data) else 0
        pos += 1
        return value

    rem = byte()
    rng = 128
    val = 127 - (rem >> 1)

    def normalize() -> None:
        nonlocal rng, val, rem
        while rng <= 1 << 23:
            rng <<= 8
            sym = rem
            rem = byte()
            sym = ((sym << 8) | rem) >> 1
            val = ((val << 8) + (255 & ~sym)) & ((1 << 31) - 1)

    normalize()
    bits = []
    for _ in range(2):
        s = rng >> 1
        bit = val < s
        if not bit:
            val -= s
        rng = s if bit else rng - s
        normalize()
        bits.append(bit)
    return bits[1]


def test_opus_is_mono_low_rate_with_in_band_fec() -> None:
    encoder = AdaptiveOpusEncoder()
    encoder.set_cap(20_000)
    packets = []
    for frame in tone_frames(150):
        payloads, _ = encoder.encode(frame)
        packets += payloads
    assert len(packets) >= 140
    assert all((p[0] >> 2) & 1 == 0 for p in packets), "stereo flag set"
    assert all(p[0] >> 3 < 12 for p in packets), "not SILK mode: FEC needs SILK"
    rate = sum(len(p) for p in packets[25:]) * 8 / (len(packets[25:]) * 0.02)
    assert 12_000 <= rate <= 28_000, rate
    with_fec = sum(_silk_lbrr_flag(p) for p in packets[10:])
    assert with_fec >= len(packets[10:]) // 5, with_fec  # libopus adds LBRR to active frames

    stock = av.CodecContext.create("libopus", "w")
    stock.bit_rate, stock.format, stock.layout, stock.sample_rate = 20000, "s16", "mono", 48000
    stock.time_base = fractions.Fraction(1, 48000)
    stock.options = {"application": "voip"}
    plain = [bytes(p) for f in tone_frames(150) for p in stock.encode(f)]
    assert sum(_silk_lbrr_flag(p) for p in plain[10:]) == 0


def test_opus_mutes_and_changes_rate() -> None:
    encoder = AdaptiveOpusEncoder()
    frames = iter(tone_frames(50))
    encoder.set_cap(24_000)
    assert encoder.encode(next(frames))[0]
    encoder.set_cap(0)
    assert encoder.encode(next(frames))[0] == []
    encoder.set_cap(16_000)
    assert encoder.bitrate == 16_000 and encoder.encode(next(frames))[0]


def test_sdp_advertises_in_band_fec() -> None:
    aiortc_adapt.install_codec_parameters()
    opus_codec = next(c for c in CODECS["audio"] if c.mimeType == "audio/opus")
    assert opus_codec.parameters.get("useinbandfec") == 1


def test_pass_through_queue_hands_over_packets() -> None:
    seen = []
    q = aiortc_adapt._PassThroughQueue(lambda name, packet, key: seen.append((name, packet, key)))
    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)
    q.put((codec, JitterFrame(data=b"\x10\x02\x00\x9d\x01\x2a", timestamp=3000)))
    q.put((codec, JitterFrame(data=b"\x11\x02\x00", timestamp=6000)))
    q.put(None)
    assert [(n, k) for n, _, k in seen] == [("vp8", True), ("vp8", False)]
    assert seen[0][1].pts == 3000 and seen[0][1].time_base == fractions.Fraction(1, 90000)
    assert q.get() is None


def test_vp8_stops_only_on_the_servers_signal_and_resumes_with_a_keyframe() -> None:
    clock = FakeClock()
    encoder = AdaptiveVp8Encoder(clock)
    encoder.target_bitrate = 1_000_000
    frames = iter(video_frames(40))
    assert encoder.encode(next(frames))[0]
    encoder.target_bitrate = 18_000  # an estimator's first low guess: floor, not stop
    assert encoder.effective_bps == aiortc_adapt.MIN_VIDEO_BPS
    assert any(encoder.encode(next(frames))[0] for _ in range(4))  # 10 fps of 30: 1 in 3
    encoder.target_bitrate = 1  # the server's "nobody receives your video"
    assert all(encoder.encode(next(frames))[0] == [] for _ in range(5))
    encoder.target_bitrate = 1_000_000
    payloads, _ = encoder.encode(next(frames))
    assert aiortc_adapt.is_vp8_keyframe(vpx.vp8_depayload(payloads[0]))
