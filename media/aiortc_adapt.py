"""Every place where Relais adapts aiortc, in one module.

aiortc's defaults were written for good links. On the 30-300 kbit/s links of rural patients they
fail, so this module changes them, without editing the installed package:

1. **VP8 rate floor.** aiortc clamps the VP8 target to >= 250 kbit/s (`codecs/vpx.py`
   `MIN_BITRATE`), so a 100 kbit/s link is flooded. `AdaptiveVp8Encoder` goes down to 30 kbit/s and
   picks resolution and frame rate from the rate (media/video_ladder.py), as browsers do.
2. **Encoder rebuild on every >10 % change.** aiortc rebuilds the libvpx context (a keyframe) each
   time REMB moves by 10 %; FFmpeg's libvpx wrapper cannot change the rate of an open encoder
   (checked: setting `bit_rate` after opening changes nothing). We rebuild only on a real step:
   at once when the rate must fall by > 15 %, upward only after a 30 % gain held for 4 s.
3. **`pict_type` leak.** aiortc sets `frame.pict_type = I` to force a keyframe and never resets
   it; a relayed decoded frame that arrives marked as a keyframe stays one. We set the picture type
   on every frame: I when a keyframe is asked for, NONE otherwise.
4. **Opus 96 kbit/s stereo, no FEC, 20 ms packets.** `AdaptiveOpusEncoder` sends mono at
   16-32 kbit/s with in-band FEC (FFmpeg's `fec` + `packet_loss` options; the expected loss is
   raised where libopus would otherwise code no FEC) in 60 ms packets at <= 24 kbit/s; our SDP
   advertises `useinbandfec=1`, so browsers send FEC to us too. DTX is not exposed by FFmpeg's
   libopus wrapper (checked: the option is ignored), so it is not used.
5. **Rate from REMB only.** aiortc feeds REMB into the video encoder and nothing else. Encoders
   here take two inputs: the REMB estimate (`target_bitrate`, set by aiortc) and a cap set by the
   adaptation policy (`set_cap`); they send at the lower one. Audio rate comes from the policy.
6. **No way to relay without decoding.** An aiortc receiver always decodes. `tap_receiver` hands
   each complete encoded frame to a callback as an `av.Packet` instead, so the media layer can
   forward it untouched (the sender's `pack` path); nothing is decoded or re-encoded on the way.
7. **No RTCP hooks.** `tap_sender` / `tap_receiver` see every RTCP and RTP packet of a leg (REMB,
   receiver reports, PLI, arrival times) for the link measurement, and `cap_remb` rewrites the
   REMB our receiver sends so a source never sends more than its receivers can take.

8. **A consent task that outlives its peer** (aioice): `close_peer` cancels it.
9. **Retransmissions carry their original send time.** aiortc resends a lost packet as it was
   first serialised, abs-send-time included, so a receive-side estimator reads its NACK round
   trip as queueing: on a 1 Mbit/s link with 5 % loss, an RTX packet 17 ms "late" made aiortc's
   estimator detect overuse and cut its REMB from 640 to 350 kbit/s (the shaped-link test). Our
   senders stamp a packet afresh when it is resent, as libwebrtc's pacer does (`tap_sender`), and
   our receivers keep retransmissions out of their estimator (`tap_receiver`): senders such as
   aiortc itself do not restamp them.

Each touch point on aiortc internals is named in `INTERNALS` and checked by
`tests/unit/test_aiortc_adapt.py`, which fails if an aiortc upgrade renames or removes one.
"""

from __future__ import annotations

import fractions
import logging
import queue
import time
from collections.abc import Awaitable, Callable
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, clock
from aiortc.codecs import CODECS, is_rtx
from aiortc.codecs.base import Encoder
from aiortc.codecs.vpx import Vp8Encoder, number_of_threads
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import convert_timebase
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RTP_HISTORY_SIZE,
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)
from av.frame import Frame
from av.packet import Packet

from media.retransmits import RetransmitBudget
from media.video_ladder import Picture, rung_at

log = logging.getLogger("relais.media.aiortc")

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48000)

MIN_VIDEO_BPS = 30_000
MAX_VIDEO_BPS = 2_500_000
# A REMB under this is the server's deliberate "send no video" (it sends 1 bit/s when nobody can
# receive a source's video, or the source's own link cannot carry it); any other low REMB, such as
# a receive-side estimator's first guess, only floors the encoder at MIN_VIDEO_BPS. Stopping on
# an estimator's low value would starve the estimator that could raise it again.
VIDEO_STOP_BPS = 1_000

# Below this audio ceiling nothing is sent (text-only).
AUDIO_OFF_BPS = 1_000

# Private aiortc names this module relies on; tests assert each still exists.
INTERNALS = {
    "sender_encoder": "_RTCRtpSender__encoder",
    "sender_rtp_history": "_RTCRtpSender__rtp_history",
    "sender_handle_rtcp": "_handle_rtcp_packet",
    "sender_send_keyframe": "_send_keyframe",
    "receiver_decoder_queue": "_RTCRtpReceiver__decoder_queue",
    "receiver_jitter_buffer": "_RTCRtpReceiver__jitter_buffer",
    "receiver_kind": "_RTCRtpReceiver__kind",
    "receiver_codecs": "_RTCRtpReceiver__codecs",
    "receiver_handle_rtp": "_handle_rtp_packet",
    "receiver_handle_rtcp": "_handle_rtcp_packet",
    "receiver_send_rtcp": "_send_rtcp",
    "receiver_send_pli": "_send_rtcp_pli",
    "receiver_rtcp_ssrc": "_RTCRtpReceiver__rtcp_ssrc",
    "ice_connection": "_connection",
    "transceiver_codecs": "_codecs",
    "ice_consent_start": "query_consent",
}


# ---------------------------------------------------------------------------------------------
# Video: the encoder, on the rate ladder of media/video_ladder.py.


def rung_for(bps: int) -> Picture:
    """The picture the encoder sends at `bps` of video."""
    return rung_at(bps / 1000).encoder


class AdaptiveVp8Encoder(Encoder):
    """VP8 encoder that follows low rates without a keyframe storm.

    `target_bitrate` is what aiortc's sender sets from REMB; `set_cap` is the adaptation
    policy's ceiling. The encoder sends at min(REMB, cap), from 30 kbit/s up.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._codec: Any = None
        self._codec_bps = 0
        self._codec_size = (0, 0)
        self._remb_bps = 500_000
        self._cap_bps = MAX_VIDEO_BPS
        self._raise_since: float | None = None
        self._last_pts: int | None = None
        self._picture_id = 0
        self._paused = False
        self.rebuilds = 0
        self.frames_dropped_for_rate = 0

    # aiortc's sender writes REMB here.
    @property
    def target_bitrate(self) -> int:
        return self.effective_bps

    @target_bitrate.setter
    def target_bitrate(self, bps: int) -> None:
        self._remb_bps = max(0, int(bps))

    def set_cap(self, bps: int) -> None:
        self._cap_bps = max(0, int(bps))

    @property
    def effective_bps(self) -> int:
        bps = min(self._remb_bps, self._cap_bps, MAX_VIDEO_BPS)
        return max(bps, MIN_VIDEO_BPS) if bps >= VIDEO_STOP_BPS else 0

    def _needs_rebuild(self, bps: int, size: tuple[int, int]) -> bool:
        if self._codec is None or size != self._codec_size:
            return True
        if bps < self._codec_bps * 0.85:
            self._raise_since = None
            return True
        if bps > self._codec_bps * 1.3:
            now = self._clock()
            if self._raise_since is None:
                self._raise_since = now
            elif now - self._raise_since >= 4.0:
                return True
        else:
            self._raise_since = None
        return False

    def _open(self, bps: int, width: int, height: int, fps: int) -> None:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width = width
        codec.height = height
        codec.bit_rate = bps
        codec.pix_fmt = "yuv420p"
        codec.framerate = fractions.Fraction(fps, 1)
        codec.time_base = VIDEO_TIME_BASE
        codec.gop_size = 3000
        codec.qmin = 2
        codec.qmax = 56
        codec.options = {
            "bufsize": str(bps),
            "cpu-used": "-6",
            "deadline": "realtime",
            "lag-in-frames": "0",
            "minrate": str(bps),
            "maxrate": str(bps),
            "noise-sensitivity": "4",
            "overshoot-pct": "15",
            "partitions": "0",
            "static-thresh": "1",
            "undershoot-pct": "100",
        }
        codec.thread_count = number_of_threads(width * height, 2)
        self._codec = codec
        self._codec_bps = bps
        self._codec_size = (width, height)
        self._raise_since = None
        self.rebuilds += 1

    def encode(self, frame: Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        assert isinstance(frame, av.VideoFrame)
        bps = self.effective_bps
        if bps == 0:
            self._paused = True
            return [], 0
        if self._paused:  # the receiver's decoder state is stale after a pause
            self._paused = False
            force_keyframe = True
        rung = rung_for(bps)
        # Frame-rate decimation: keep a frame only when a whole frame interval has passed.
        pts90 = convert_timebase(
            frame.pts or 0, frame.time_base or VIDEO_TIME_BASE, VIDEO_TIME_BASE
        )
        if (
            not force_keyframe
            and self._last_pts is not None
            and 0 <= pts90 - self._last_pts < 90000 // rung.fps - 90000 // 200
        ):
            self.frames_dropped_for_rate += 1
            return [], 0
        if (
            frame.width != rung.width
            or frame.height != rung.height
            or frame.format.name != "yuv420p"
        ):
            frame = frame.reformat(width=rung.width, height=rung.height, format="yuv420p")
        rebuilt = self._needs_rebuild(bps, (rung.width, rung.height))
        if rebuilt:
            self._open(bps, rung.width, rung.height, rung.fps)
        # Fix 3: decide the picture type here, every frame.
        frame.pict_type = (
            av.video.frame.PictureType.I
            if force_keyframe and not rebuilt
            else av.video.frame.PictureType.NONE
        )
        data = b"".join(bytes(p) for p in self._codec.encode(frame))
        self._last_pts = pts90
        payloads = Vp8Encoder._packetize(data, self._picture_id)
        self._picture_id = (self._picture_id + 1) % (1 << 15)
        return payloads, pts90

    def pack(self, packet: Packet[Any]) -> tuple[list[bytes], int]:
        payloads = Vp8Encoder._packetize(bytes(packet), self._picture_id)
        self._picture_id = (self._picture_id + 1) % (1 << 15)
        tb = packet.time_base or VIDEO_TIME_BASE
        return payloads, convert_timebase(packet.pts or 0, tb, VIDEO_TIME_BASE)


# ---------------------------------------------------------------------------------------------
# Audio.


class AdaptiveOpusEncoder(Encoder):
    """Mono Opus at the policy's rate (16-32 kbit/s) with in-band FEC that is really coded, in
    packets long enough for the headers not to cost as much as the speech.

    - **FEC**: libopus codes LBRR (in-band FEC) only when `packet_loss_perc` > 0 *and* its
      loss-discounted rate clears a per-bandwidth threshold (`decide_fec` in opus_encoder.c,
      lowering the bandwidth to narrowband at most). At 16 kbit/s with 10 % expected loss it
      clears none, and libopus silently sends no FEC (checked in the bitstream); 25 % (the most
      libopus's threshold counts) clears narrowband. So the expected loss is a floor: 10 %, or
      25 % below `FEC_LOW_RATE_BPS`. FFmpeg applies options only when the encoder opens, so
      following the measured loss would mean a rebuild per change; the floor is what a poor
      link needs anyway.
    - **Packet length**: every packet carries ~64 bytes of IPv4/UDP/RTP (with aiortc's header
      extensions)/SRTP. At 20 ms (50 packets/s) that is ~26 kbit/s, more than 16-24 kbit/s of
      speech; at 60 ms ~9 kbit/s. So at or below `LONG_PACKET_BPS` (audio-only and video-low
      rates) we send 60 ms packets (one SILK frame of 60 ms, RFC 6716 config 3/7/11), above it
      20 ms. Browsers decode any Opus packet length (NetEq, and its FEC for 60 ms SILK).
      Cost: 40 ms more packetisation delay, and a lost packet is 60 ms of audio (FEC covers
      single losses). `set_ptime` overrides the choice.
    - **Timestamps**: counted here, by packet duration, rather than taken from FFmpeg's pts,
      which restart (negative, the encoder's delay) every time the encoder is rebuilt for a new
      rate or packet length: the RTP timestamp would jump back at each mode change.
    """

    FEC_LOW_RATE_BPS = 20_000
    LONG_PACKET_BPS = 24_000
    PTIMES_MS = (20, 40, 60)

    def __init__(self, bps: int = 32_000, expected_loss_pct: int = 10) -> None:
        self._cap_bps = bps
        self._remb_bps: int | None = None
        self._bps = bps
        self._loss_floor = expected_loss_pct
        self._forced_ptime: int | None = None
        self._codec: Any = None
        self._open_key: tuple[int, int, int] = (0, 0, 0)
        self._resampler: Any = None
        self._timestamp = 0
        self.muted = False
        self.rebuilds = 0

    def set_cap(self, bps: int) -> None:
        """The send plan's audio rate (0: send nothing, text-only)."""
        self._cap_bps = max(0, int(bps))
        self._update()

    def set_ptime(self, ms: int | None) -> None:
        """Force the packet length (20, 40 or 60 ms); None: choose from the rate."""
        if ms is not None and ms not in self.PTIMES_MS:
            raise ValueError(f"Opus packet length {ms} ms not in {self.PTIMES_MS}")
        self._forced_ptime = ms

    # aiortc's sender writes a REMB here when it names our SSRC: the server uses that to quiet
    # a participant whose link cannot carry audio, over RTCP, faster than signalling on a
    # starved TCP connection.
    @property
    def target_bitrate(self) -> int:
        return self.bitrate

    @target_bitrate.setter
    def target_bitrate(self, bps: int) -> None:
        self._remb_bps = max(0, int(bps))
        self._update()

    @property
    def bitrate(self) -> int:
        return 0 if self.muted else self._bps

    @property
    def ptime_ms(self) -> int:
        """The packet length the next packets get."""
        if self._forced_ptime is not None:
            return self._forced_ptime
        return self.ptime_for(self._bps)

    @classmethod
    def ptime_for(cls, bps: int) -> int:
        """The packet length chosen for a rate (benches count frames by it)."""
        return 60 if bps <= cls.LONG_PACKET_BPS else 20

    @property
    def expected_loss_pct(self) -> int:
        """What libopus is told to expect (its FEC strength, and whether it codes FEC at all)."""
        return max(self._loss_floor, 25 if self._bps < self.FEC_LOW_RATE_BPS else 0)

    def _update(self) -> None:
        bps = self._cap_bps if self._remb_bps is None else min(self._cap_bps, self._remb_bps)
        self.muted = bps < AUDIO_OFF_BPS
        if not self.muted:
            self._bps = max(12_000, min(bps, 64_000))

    def _open(self, key: tuple[int, int, int]) -> None:
        bps, ptime, loss = key
        codec = av.CodecContext.create("libopus", "w")
        codec.bit_rate = bps
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = 48000
        codec.time_base = AUDIO_TIME_BASE
        codec.options = {
            "application": "voip",
            "fec": "1",
            "packet_loss": str(loss),
            "frame_duration": str(ptime),
        }
        self._codec = codec
        if self._resampler is None or self._open_key[1] != ptime:
            # A new chunk size needs a new resampler; the < 1 packet it held is dropped, at a
            # rate change that rebuilds the encoder anyway.
            self._resampler = av.AudioResampler(
                format="s16", layout="mono", rate=48000, frame_size=48 * ptime
            )
        self._open_key = key
        self.rebuilds += 1

    def encode(self, frame: Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        assert isinstance(frame, av.AudioFrame)
        key = (self._bps, self.ptime_ms, self.expected_loss_pct)
        if self._codec is None or self._open_key != key:
            self._open(key)
        packets: list[Packet[Any]] = []
        for chunk in self._resampler.resample(frame):
            packets += self._codec.encode(chunk)
        if not packets:
            return [], 0
        timestamp = self._timestamp
        # aiortc gives every payload of one call the same RTP timestamp: with 20 ms input
        # frames and packets of >= 20 ms there is at most one.
        self._timestamp += sum(int(p.duration or 48 * key[1]) for p in packets)
        if self.muted:
            return [], 0
        return [bytes(p) for p in packets], timestamp

    def pack(self, packet: Packet[Any]) -> tuple[list[bytes], int]:
        tb = packet.time_base or AUDIO_TIME_BASE
        return [bytes(packet)], convert_timebase(packet.pts or 0, tb, AUDIO_TIME_BASE)


def install_codec_parameters() -> None:
    """Advertise in-band FEC for Opus in every SDP we write (answers copy our local table)."""
    for codec in CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters.setdefault("useinbandfec", 1)
            codec.parameters.setdefault("minptime", 10)


def use_encoder(sender: RTCRtpSender, encoder: Encoder) -> None:
    """Make `sender` encode with `encoder` (aiortc creates its own only when none is set)."""
    setattr(sender, INTERNALS["sender_encoder"], encoder)


def encoder_of(sender: RTCRtpSender) -> Encoder | None:
    found = getattr(sender, INTERNALS["sender_encoder"], None)
    return found if isinstance(found, Encoder) else None


# ---------------------------------------------------------------------------------------------
# Relaying without decoding, and RTCP hooks.


RAW_SEND = "_relais_raw_send_rtcp"
FrameSink = Callable[[str, "Packet[Any]", bool], None]


def is_vp8_keyframe(data: bytes) -> bool:
    """RFC 6386 §9.1: bit 0 of the first byte of a VP8 frame is 0 for a key frame."""
    return bool(data) and (data[0] & 0x01) == 0


class _PassThroughQueue(queue.Queue[Any]):
    """Replaces a receiver's decoder queue: complete frames go to `on_frame` as packets.

    aiortc puts `(codec, JitterFrame)` here from the event loop and `None` to stop its decoder
    thread; the thread only ever sees the `None`, so it exits when the receiver stops.
    """

    def __init__(self, on_frame: FrameSink) -> None:
        super().__init__()
        self._on_frame = on_frame

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None)
            return
        codec, frame = item
        assert isinstance(codec, RTCRtpCodecParameters) and isinstance(frame, JitterFrame)
        packet = Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = fractions.Fraction(1, codec.clockRate)
        kind, _, name = codec.mimeType.lower().partition("/")
        key = kind == "audio" or (name == "vp8" and is_vp8_keyframe(frame.data))
        try:
            self._on_frame(name, packet, key)
        except Exception:  # a relay bug must not kill the receiver's RTP path
            log.exception("relay callback failed")


def _not_newer(seq: int, newest: int) -> bool:
    """A duplicate, or older (the upper half of the 16-bit space: RFC 3550 wrap-around)."""
    delta = (seq - newest) % 65536
    return delta == 0 or delta >= 32768


class _AudioFramesAsTheyCome:
    """Replaces an audio receiver's jitter buffer when the server only relays.

    aiortc's audio buffer (capacity 16, prefetch 4) releases a frame only when the packets after
    it have arrived in order: it adds 4 packets of delay always, and after one lost packet it
    holds everything behind the hole until 16 packets have piled up, then stays that deep — 320
    ms more at 20 ms packets, ~1 s at 60 ms. A relay needs none of it: every Opus packet is one
    frame, its timestamp says where it belongs, and the receiving browser's NetEq reorders,
    conceals and uses FEC. So each packet goes on at once; duplicates and packets older than
    the newest seen (already concealed downstream) are dropped.
    """

    capacity = 16

    def __init__(self) -> None:
        self._newest: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        seq = packet.sequence_number
        if self._newest is not None and _not_newer(seq, self._newest):
            return False, None
        self._newest = seq
        return False, JitterFrame(data=getattr(packet, "_data", b""), timestamp=packet.timestamp)


RtcpHook = Callable[[AnyRtcpPacket], None]


def tap_receiver(
    receiver: RTCRtpReceiver,
    on_frame: FrameSink,
    on_rtp: Callable[[RtpPacket, int], None],
    on_rtcp: RtcpHook,
) -> None:
    """Relay `receiver`'s frames without decoding and observe its packets. Call before
    negotiation completes (the decoder thread takes the queue when the receiver starts)."""
    setattr(receiver, INTERNALS["receiver_decoder_queue"], _PassThroughQueue(on_frame))
    if getattr(receiver, INTERNALS["receiver_kind"]) == "audio":
        setattr(receiver, INTERNALS["receiver_jitter_buffer"], _AudioFramesAsTheyCome())
    handle_rtcp = getattr(receiver, INTERNALS["receiver_handle_rtcp"])

    def rtp(packet: RtpPacket, arrival_time_ms: int, resent: bool) -> None:
        on_rtp(packet, arrival_time_ms)
        if resent:
            # Out of the receive-side estimator (it only reads packets with a send time):
            # a resent packet's time may be its first sending's (aiortc's own senders).
            packet.extensions.abs_send_time = None

    async def rtcp(packet: AnyRtcpPacket) -> None:
        on_rtcp(packet)
        if isinstance(packet, RtcpByePacket):
            # aiortc stops the receiver's decoder thread on BYE, and with it our relay, for
            # good; browsers may send BYE when they merely pause a sender (Firefox does).
            # A leg ends by signalling or by the dead-link rule, never by BYE.
            return
        await handle_rtcp(packet)

    observe_rtp(receiver, rtp)
    setattr(receiver, INTERNALS["receiver_handle_rtcp"], rtcp)


def observe_rtp(receiver: RTCRtpReceiver, on_rtp: Callable[[RtpPacket, int, bool], None]) -> None:
    """Call `on_rtp(packet, arrival_ms, resent)` before `receiver` handles each RTP packet;
    `resent` is true for an RTX retransmission (its SSRC and sequence are not the stream's)."""
    handle_rtp = getattr(receiver, INTERNALS["receiver_handle_rtp"])
    codecs: dict[int, RTCRtpCodecParameters] = getattr(receiver, INTERNALS["receiver_codecs"])

    async def rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
        codec = codecs.get(packet.payload_type)
        on_rtp(packet, arrival_time_ms, codec is not None and is_rtx(codec))
        await handle_rtp(packet, arrival_time_ms)

    setattr(receiver, INTERNALS["receiver_handle_rtp"], rtp)


def restart_video_frames(receiver: RTCRtpReceiver) -> None:
    """Start the receiver's video frame assembly afresh from the next packet, when a packet
    lost for good holds every later frame back (media/frame_stall.py). The caller asks the
    source for a keyframe: frames until then reference pictures the decoder never had."""
    old = getattr(receiver, INTERNALS["receiver_jitter_buffer"])
    setattr(
        receiver,
        INTERNALS["receiver_jitter_buffer"],
        JitterBuffer(capacity=old.capacity, is_video=True),
    )


def tap_sender(
    sender: RTCRtpSender,
    on_rtcp: RtcpHook,
    on_keyframe_request: Callable[[], None],
    retransmits: RetransmitBudget | None = None,
) -> None:
    """Observe the RTCP a participant sends about our stream, forward keyframe requests (a
    relayed stream's keyframes come from its source, not from an encoder of ours), and let
    `retransmits` choose which lost packets aiortc resends (it would resend them all)."""
    handle = getattr(sender, INTERNALS["sender_handle_rtcp"])
    history: dict[int, RtpPacket] = getattr(sender, INTERNALS["sender_rtp_history"])

    async def rtcp(packet: AnyRtcpPacket) -> None:
        on_rtcp(packet)
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            on_keyframe_request()
        if (
            retransmits is not None
            and isinstance(packet, RtcpRtpfbPacket)
            and packet.fmt == RTCP_RTPFB_NACK
        ):
            packet.lost = retransmits.allow(packet.lost)
            if not packet.lost:
                return
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            restamp(history, packet.lost, abs_send_time_now())
        await handle(packet)

    setattr(sender, INTERNALS["sender_handle_rtcp"], rtcp)


def abs_send_time_now() -> int:
    """The abs-send-time header value for now: NTP seconds in 6.18 fixed point, 24 bits."""
    return (clock.current_ntp_time() >> 14) & 0x00FFFFFF


def restamp(history: dict[int, RtpPacket], lost: list[int], abs_send_time: int) -> None:
    """Give the packets about to be resent the send time they will really leave at."""
    for seq in lost:
        packet = history.get(seq % RTP_HISTORY_SIZE)
        if packet is not None and packet.sequence_number == seq:
            packet.extensions.abs_send_time = abs_send_time


def cap_remb(
    receiver: RTCRtpReceiver,
    ceiling: Callable[[int], int | None],
    on_estimate: Callable[[int], None],
) -> None:
    """Own the REMB our receiver sends to its source. Each estimate aiortc computes goes to
    `on_estimate` (the measurement of the participant's uplink); what the source is told is
    `ceiling(estimate)`, decided by the media layer (the policy's rate unless the estimate shows
    congestion). aiortc would forward its AIMD estimate as is, which starts at the first second's
    throughput and climbs ~8 %/s: after a pause, video would take tens of seconds to come back."""
    send = getattr(receiver, INTERNALS["receiver_send_rtcp"])
    setattr(receiver, RAW_SEND, send)

    async def clamped(packet: AnyRtcpPacket) -> None:
        bps = remb_of(packet)
        if bps is not None and isinstance(packet, RtcpPsfbPacket):
            on_estimate(bps)
            told = ceiling(bps)
            if told is not None and told != bps:
                ssrcs = unpack_remb_fci(packet.fci)[1]
                packet = RtcpPsfbPacket(
                    fmt=RTCP_PSFB_APP,
                    ssrc=packet.ssrc,
                    media_ssrc=0,
                    fci=pack_remb_fci(max(told, 1), ssrcs),
                )
        await send(packet)

    setattr(receiver, INTERNALS["receiver_send_rtcp"], clamped)


async def send_remb(receiver: RTCRtpReceiver, bps: int, ssrcs: list[int]) -> None:
    """Tell a source its new ceiling now, without waiting for the estimator's next report."""
    rtcp_ssrc = getattr(receiver, INTERNALS["receiver_rtcp_ssrc"], None)
    if rtcp_ssrc is None or not ssrcs:
        return
    # Our own REMB is not an estimate: bypass the `cap_remb` hook when it is installed.
    send: Callable[[AnyRtcpPacket], Awaitable[None]] = getattr(
        receiver, RAW_SEND, getattr(receiver, INTERNALS["receiver_send_rtcp"])
    )
    await send(
        RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(max(bps, 1), ssrcs)
        )
    )


async def request_keyframe(receiver: RTCRtpReceiver, ssrc: int) -> None:
    send_pli: Callable[[int], Awaitable[None]] = getattr(receiver, INTERNALS["receiver_send_pli"])
    await send_pli(ssrc)


def report_blocks(packet: AnyRtcpPacket) -> list[Any]:
    """Reception report blocks of an RR or SR (loss and jitter of one of our streams)."""
    if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
        return list(packet.reports)
    return []


def remb_of(packet: AnyRtcpPacket) -> int | None:
    if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
        try:
            return int(unpack_remb_fci(packet.fci)[0])
        except ValueError:
            return None
    return None


async def close_peer(pc: RTCPeerConnection) -> None:
    """Close a peer connection without leaving an ICE consent task behind.

    aioice race (0.13): when a peer is closed while ICE checks are finishing,
    `Connection.connect()` wakes after `close()` and starts its consent-freshness task on the
    closed connection; with no nominated pair left, that task loops forever (one leaked task per
    such leg; a fault test caught it). Before closing we make that late start a no-op.
    """

    async def no_consent() -> None:
        return None

    ice_transports = [t.receiver.transport.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:  # a data-channel peer (media/probe.py)
        ice_transports.append(pc.sctp.transport.transport)
    for ice in ice_transports:
        setattr(
            getattr(ice, INTERNALS["ice_connection"]), INTERNALS["ice_consent_start"], no_consent
        )
    await pc.close()


RELAYED_CODECS = {"audio": "audio/opus", "video": "video/vp8"}


def pin_codecs(transceiver: Any) -> bool:
    """Keep only Opus (audio) or VP8 and its RTX (video) among a transceiver's negotiated
    codecs, before the answer is made. aiortc follows the offer's order, so an H264-first
    (Safari) or PCMU-first offer would otherwise be answered with a codec the relay cannot
    carry: frames are forwarded as they are, so every leg must use the same codec. Returns False
    when the offer has no usable codec for this kind."""
    name = INTERNALS["transceiver_codecs"]
    codecs = list(getattr(transceiver, name))
    wanted = RELAYED_CODECS.get(transceiver.kind)
    base = [c for c in codecs if c.mimeType.lower() == wanted]
    if not base:
        return False
    pts = {c.payloadType for c in base}
    rtx = [
        c for c in codecs if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") in pts
    ]
    setattr(
        transceiver,
        name,
        base[:1] + [r for r in rtx if r.parameters.get("apt") == base[0].payloadType],
    )
    return True
