"""What the server's SDP answer asks of a participant's Opus sender.

A browser sends 20 ms Opus at up to ~32 kbit/s unless the remote description says otherwise;
with ~50 bytes of IP/UDP/RTP/SRTP per packet that is ~20 kbit/s of headers alone, so on a thin
uplink the patient's own audio failed before the server's downlink did. The answer's `a=ptime`
and Opus `fmtp` are the levers the browser honours for its encoder (libwebrtc reads `ptime`,
`maxaveragebitrate`, `useinbandfec` and `usedtx` from the negotiated send codec): they are set
here from the leg's current mode, the same targets the server's own encoders use
(`policy.targets_for`, `AdaptiveOpusEncoder.ptime_for`). The participant always offers, so the
packet length follows a mode change at the participant's next offer (the browser re-offers when
it crosses the audio-only boundary); the bitrate follows at once through `consult.send`
(`RTCRtpSender.setParameters`).

DTX is asked for in every mode: a silent participant (the patient listening) then sends a
comfort-noise packet every 400 ms instead of 50 packets a second, which frees most of a thin
uplink half of the time and costs nothing on a good one.
"""

from __future__ import annotations

import re

from media.aiortc_adapt import AdaptiveOpusEncoder
from media.policy import Mode, targets_for

_OPUS_RTPMAP = re.compile(r"^a=rtpmap:(\d+) opus/48000", re.IGNORECASE)


def opus_wishes(mode: Mode) -> tuple[int, int]:
    """(max average bitrate in bit/s, packet length in ms) asked of a sender in `mode`. Text-only
    asks what audio-only does: the sender stops anyway (`consult.send`), and if it comes back
    first in audio-only it starts right."""
    audio_kbps = targets_for(mode).audio_kbps or targets_for(Mode.AUDIO_ONLY).audio_kbps
    bps = audio_kbps * 1000
    return bps, AdaptiveOpusEncoder.ptime_for(bps)


def opus_wishes_for(audio_kbps: int) -> tuple[int, int]:
    """(bit/s, packet length in ms) for a sender asked for `audio_kbps` of Opus."""
    bps = audio_kbps * 1000
    return bps, AdaptiveOpusEncoder.ptime_for(bps)


def shape_answer(sdp: str, mode: Mode, audio_kbps: int | None = None) -> str:
    """`sdp` (our answer) with its audio section's Opus parameters and `a=ptime` for `mode`, or
    for `audio_kbps` when the call asks the sender for less than its mode (media/call.py)."""
    bps, ptime = opus_wishes(mode) if not audio_kbps else opus_wishes_for(audio_kbps)
    lines = sdp.split("\r\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")]
    out = lines[: starts[0]] if starts else list(lines)
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        section = lines[start:end]
        out += _shape_audio(section, bps, ptime) if section[0].startswith("m=audio") else section
    return "\r\n".join(out)


def _shape_audio(section: list[str], bps: int, ptime: int) -> list[str]:
    trailing = [""] if section and section[-1] == "" else []
    body = section[: len(section) - len(trailing)]
    opus = next((m.group(1) for m in map(_OPUS_RTPMAP.match, body) if m), None)
    if opus is None:
        return section
    fmtp = f"a=fmtp:{opus} "
    old = next((line for line in body if line.startswith(fmtp)), None)
    shaped = fmtp + _fmtp(old[len(fmtp) :] if old else "", bps, ptime)
    out: list[str] = []
    for line in body:
        if line.startswith(("a=ptime:", "a=maxptime:")) or line == old:
            continue
        out.append(line)
        if _OPUS_RTPMAP.match(line):
            out.append(shaped)
    return [*out, f"a=ptime:{ptime}", *trailing]


def _fmtp(params: str, bps: int, ptime: int) -> str:
    kept = [
        p
        for p in params.split(";")
        if p.strip()
        and p.split("=", 1)[0].strip().lower()
        not in ("maxaveragebitrate", "useinbandfec", "usedtx", "stereo", "minptime")
    ]
    wanted = [
        "minptime=10",
        "useinbandfec=1",
        "usedtx=1",
        "stereo=0",
        f"maxaveragebitrate={bps}",
    ]
    return ";".join([*(p.strip() for p in kept), *wanted])
