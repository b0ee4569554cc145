"""The aiortc adaptations (media/aiortc_adapt.py) and the defects they work around.

Two kinds of checks:
- "stock" tests pin aiortc's behaviour that made each adaptation necessary. If one fails after an
  upgrade, aiortc changed: re-check whether the adaptation is still needed or still right.
- the others prove our replacement does what the issue asks, against the installed aiortc.
"""

from __future__ import annotations

import fractions
import itertools
import math

import av
import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs import CODECS, opus, vpx
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTCP_RTPFB_NACK, AnyRtcpPacket, RtcpRtpfbPacket, RtpPacket

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


# Opus TOC (RFC 6716 §3.1): config = byte0 >> 3; 0-11 are SILK-only (duration by config % 4),
# 12-15 hybrid (10/20 ms), 16-31 CELT-only. Frame-count code = byte0 & 3 (0: one frame).
SILK_MS = (10, 20, 40, 60)


def _packet_ms(packet: bytes) -> float:
    config = packet[0] >> 3
    assert packet[0] & 3 == 0, "one frame per packet expected"
    if config < 12:
        return SILK_MS[config % 4]
    return (10, 20)[config % 2] if config < 16 else (2.5, 5, 10, 20)[config % 4]


def _silk_lbrr_flag(packet: bytes) -> bool:
    """Decode the first range-coded header bits of a mono single-frame SILK or hybrid Opus
    packet (RFC 6716 §4.1 and §4.2.3): one VAD flag per 20 ms SILK frame (1 for 10/20 ms
    packets, 2 for 40 ms, 3 for 60 ms), then the LBRR (in-band FEC) flag."""
    config = packet[0] >> 3
    assert config < 16, "CELT-only packets carry no SILK layer"
    n_frames = {40.0: 2, 60.0: 3}.get(_packet_ms(packet), 1)
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
    for _ in range(n_frames + 1):
        s = rng >> 1
        bit = val < s
        if not bit:
            val -= s
        rng = s if bit else rng - s
        normalize()
        bits.append(bit)
    return bool(bits[n_frames])


def speech_like_frames(n: int) -> list[av.AudioFrame]:
    """20 ms frames of a voiced, syllabic signal (harmonics of a gliding 120 Hz pitch under a
    4 syllables/s envelope). libopus codes FEC only for frames its VAD calls active; a steady
    tone soon stops being active."""
    frames, phase = [], 0.0
    for i in range(n):
        samples = []
        for k in range(960):
            t = (i * 960 + k) / 48000
            phase += 2 * math.pi * (120 + 30 * math.sin(2 * math.pi * 0.7 * t)) / 48000
            env = max(0.0, math.sin(2 * math.pi * 2 * t))
            samples.append(int(3000 * env * sum(math.sin(h * phase) / h for h in range(1, 8))))
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
        frame.sample_rate = 48000
        frame.pts = i * 960
        frame.time_base = fractions.Fraction(1, 48000)
        frames.append(frame)
    return frames


def _encode(encoder: AdaptiveOpusEncoder, frames: list[av.AudioFrame]) -> list[tuple[bytes, int]]:
    out = []
    for frame in frames:
        payloads, timestamp = encoder.encode(frame)
        assert len(payloads) <= 1
        out += [(p, timestamp) for p in payloads]
    return out


SPEECH = speech_like_frames(150)  # 3 s


@pytest.mark.parametrize(("cap", "ptime"), [(16_000, 60), (24_000, 60), (32_000, 20)])
def test_opus_is_mono_low_rate_with_in_band_fec(cap: int, ptime: int) -> None:
    encoder = AdaptiveOpusEncoder()
    encoder.set_cap(cap)
    assert encoder.ptime_ms == ptime
    packets = [p for p, _ in _encode(encoder, SPEECH)]
    assert len(packets) >= 3000 // ptime - 2
    assert all((p[0] >> 2) & 1 == 0 for p in packets), "stereo flag set"
    assert all(_packet_ms(p) == ptime for p in packets)
    assert all(p[0] >> 3 < 16 for p in packets), "CELT-only: FEC needs a SILK layer"
    rate = sum(len(p) for p in packets[3:]) * 8 / (len(packets[3:]) * ptime / 1000)
    assert 0.4 * cap <= rate <= 1.2 * cap, rate  # VBR: the envelope's troughs cost little
    with_fec = sum(_silk_lbrr_flag(p) for p in packets[3:])
    assert with_fec >= len(packets[3:]) // 4, with_fec  # LBRR rides on active frames


def test_stock_libopus_codes_no_fec_at_16_kbps_with_10_percent_expected_loss() -> None:
    """Why the expected loss is raised at low rates: libopus's FEC threshold (loss-discounted
    rate vs 13-17 kbit/s by bandwidth) silently turns FEC off, with `fec` on."""
    codec = av.CodecContext.create("libopus", "w")
    codec.bit_rate, codec.format, codec.layout, codec.sample_rate = 16000, "s16", "mono", 48000
    codec.time_base = fractions.Fraction(1, 48000)
    codec.options = {"application": "voip", "fec": "1", "packet_loss": "10"}
    packets = [bytes(p) for f in SPEECH for p in codec.encode(f)]
    assert sum(_silk_lbrr_flag(p) for p in packets[3:] if p[0] >> 3 < 16) == 0
    assert AdaptiveOpusEncoder(16_000).expected_loss_pct == 25
    assert AdaptiveOpusEncoder(24_000).expected_loss_pct == 10


def test_stock_opus_sends_no_fec() -> None:
    stock = av.CodecContext.create("libopus", "w")
    stock.bit_rate, stock.format, stock.layout, stock.sample_rate = 20000, "s16", "mono", 48000
    stock.time_base = fractions.Fraction(1, 48000)
    stock.options = {"application": "voip"}
    plain = [bytes(p) for f in SPEECH for p in stock.encode(f)]
    assert sum(_silk_lbrr_flag(p) for p in plain[3:] if p[0] >> 3 < 16) == 0


def test_opus_long_packets_decode_and_timestamps_run_on_across_rebuilds() -> None:
    """A mode change rebuilds the encoder (new rate, new packet length); FFmpeg's pts restart
    then, the RTP timestamps must not."""
    encoder = AdaptiveOpusEncoder()
    encoder.set_cap(32_000)
    first = _encode(encoder, SPEECH[:50])
    encoder.set_cap(16_000)
    second = _encode(encoder, SPEECH[50:120])
    encoder.set_ptime(40)
    third = _encode(encoder, SPEECH[120:])
    assert encoder.rebuilds == 3
    assert {_packet_ms(p) for p, _ in first} == {20}
    assert {_packet_ms(p) for p, _ in second} == {60}
    assert {_packet_ms(p) for p, _ in third} == {40}
    stamps = [(ts, _packet_ms(p)) for p, ts in first + second + third]
    assert stamps[0][0] == 0
    for (ts, ms), (nxt, _) in itertools.pairwise(stamps):
        assert nxt == ts + int(48 * ms), (ts, ms, nxt)
    decoder = av.CodecContext.create("libopus", "r")
    decoder.format, decoder.layout, decoder.sample_rate = "s16", "mono", 48000
    for payload, _ in second:
        (frame,) = decoder.decode(av.Packet(payload))
        assert frame.samples == 2880
    with pytest.raises(ValueError):
        encoder.set_ptime(30)


def test_opus_mutes_and_changes_rate() -> None:
    encoder = AdaptiveOpusEncoder()
    frames = iter(tone_frames(50))

    def sent(n: int) -> list[bytes]:  # n 20 ms frames in, payloads out
        return [p for _ in range(n) for p in encoder.encode(next(frames))[0]]

    encoder.set_cap(32_000)
    assert len(sent(1)) == 1  # 20 ms packets
    encoder.set_cap(24_000)
    assert len(sent(3)) == 1  # one 60 ms packet
    encoder.set_cap(0)
    assert encoder.bitrate == 0 and sent(6) == []
    encoder.set_cap(16_000)
    assert encoder.bitrate == 16_000 and len(sent(3)) == 1


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


# ---------------------------------------------------------------------------------------------
# Relayed audio goes on packet by packet.


def _opus_packet(seq: int, ts: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=seq % 65536, timestamp=ts)
    packet._data = bytes([seq % 256])  # type: ignore[attr-defined]  # aiortc's depayloaded data
    return packet


def test_stock_audio_jitter_buffer_holds_everything_behind_a_lost_packet() -> None:
    """Why the relay replaces it: after one hole, nothing comes out until 16 packets pile up."""
    stock = JitterBuffer(capacity=16, prefetch=4)
    out = [stock.add(_opus_packet(seq, seq * 960))[1] for seq in range(10)]
    assert sum(f is not None for f in out) == 6  # 4 packets of delay, always
    held = [stock.add(_opus_packet(seq, seq * 960))[1] for seq in range(11, 20)]  # 10 is lost
    assert all(f is None for f in held)


def test_relayed_audio_frames_come_as_the_packets_do() -> None:
    frames = aiortc_adapt._AudioFramesAsTheyCome()
    seqs = [65533, 65534, 65535, 0, 2, 3, 1, 3, 4]  # wrap-around, a hole, a late one, a dup
    out = [frames.add(_opus_packet(seq, seq * 960))[1] for seq in seqs]
    passed = [f.data[0] for f in out if f is not None]
    assert passed == [65533 % 256, 65534 % 256, 255, 0, 2, 3, 4]
    assert all(f is None or f.timestamp % 960 == 0 for f in out)


async def test_tap_receiver_relays_audio_without_the_jitter_buffer() -> None:
    pc = RTCPeerConnection()
    try:
        for kind in ("audio", "video"):
            pc.addTransceiver(kind)
        for transceiver in pc.getTransceivers():
            receiver = transceiver.receiver
            aiortc_adapt.tap_receiver(receiver, lambda *a: None, lambda *a: None, lambda p: None)
            buffer = getattr(receiver, aiortc_adapt.INTERNALS["receiver_jitter_buffer"])
            if transceiver.kind == "audio":
                assert isinstance(buffer, aiortc_adapt._AudioFramesAsTheyCome)
            else:
                assert isinstance(buffer, JitterBuffer)  # video frames span packets: kept
    finally:
        await pc.close()


# ---------------------------------------------------------------------------------------------
# Retransmissions and the receive-side estimator (item 9).


def _video_packet(seq: int, pt: int, abs_send_time: int) -> RtpPacket:
    packet = RtpPacket(payload_type=pt, sequence_number=seq, timestamp=seq * 3000, ssrc=1234)
    packet.extensions.abs_send_time = abs_send_time
    packet.payload = b"\x10" + bytes(100)
    return packet


async def test_our_senders_restamp_a_packet_when_they_resend_it() -> None:
    """A NACKed packet leaves with the send time of its resending, not of its first sending,
    so the participant's estimator does not read our NACK round trip as queueing."""
    pc = RTCPeerConnection()
    try:
        sender = pc.addTransceiver("video").sender
        history = getattr(sender, aiortc_adapt.INTERNALS["sender_rtp_history"])
        for seq in (5, 6):
            history[seq] = _video_packet(seq, 96, abs_send_time=123)
        handled: list[AnyRtcpPacket] = []

        async def stock(packet: AnyRtcpPacket) -> None:
            handled.append(packet)

        setattr(sender, aiortc_adapt.INTERNALS["sender_handle_rtcp"], stock)
        aiortc_adapt.tap_sender(sender, lambda p: None, lambda: None)
        nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=1234, lost=[5])
        before = aiortc_adapt.abs_send_time_now()
        await getattr(sender, aiortc_adapt.INTERNALS["sender_handle_rtcp"])(nack)
        assert handled == [nack]
        resent = history[5].extensions.abs_send_time
        # 24-bit 6.18 seconds: within a second of now (and not the first sending's 123).
        assert resent != 123 and (resent - before) % (1 << 24) < (1 << 18)
        assert history[6].extensions.abs_send_time == 123  # not asked for: untouched
        # A stale slot (the history is a ring) is left alone.
        history[7] = _video_packet(7, 96, abs_send_time=123)
        aiortc_adapt.restamp(history, [7 + 128], 999)
        assert history[7].extensions.abs_send_time == 123
    finally:
        await pc.close()


async def test_our_receivers_keep_retransmissions_out_of_the_estimator() -> None:
    """aiortc's estimator reads every packet with a send time; a sender that resends a packet
    with its first send time (aiortc does) makes the NACK round trip look like queueing."""
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video").receiver
        codecs = getattr(receiver, aiortc_adapt.INTERNALS["receiver_codecs"])
        codecs[96] = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
        codecs[97] = RTCRtpCodecParameters(
            mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96}
        )
        seen: list[tuple[int, int | None]] = []

        async def stock(packet: RtpPacket, arrival_time_ms: int) -> None:
            seen.append((packet.payload_type, packet.extensions.abs_send_time))

        setattr(receiver, aiortc_adapt.INTERNALS["receiver_handle_rtp"], stock)
        aiortc_adapt.tap_receiver(receiver, lambda *a: None, lambda *a: None, lambda p: None)
        tapped = getattr(receiver, aiortc_adapt.INTERNALS["receiver_handle_rtp"])
        await tapped(_video_packet(1, 96, abs_send_time=500), 10)
        await tapped(_video_packet(2, 97, abs_send_time=400), 30)
        assert seen == [(96, 500), (97, None)]
    finally:
        await pc.close()
