"""The server's answer tells a participant's Opus sender what its leg's mode needs: 60 ms packets,
a bitrate ceiling, in-band FEC and DTX (media/answer_shaping.py)."""

from __future__ import annotations

import re

from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription

from media.answer_shaping import opus_wishes, shape_answer
from media.policy import Mode


async def _answer() -> str:
    browser, server = RTCPeerConnection(), RTCPeerConnection()
    try:
        browser.addTransceiver("audio")
        browser.addTransceiver("video")
        await browser.setLocalDescription(await browser.createOffer())
        await server.setRemoteDescription(browser.localDescription)
        await server.setLocalDescription(await server.createAnswer())
        return str(server.localDescription.sdp)
    finally:
        await browser.close()
        await server.close()


def _audio_section(sdp: str) -> list[str]:
    section: list[str] = []
    inside = False
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            inside = line.startswith("m=audio")
        if inside:
            section.append(line)
    return section


async def test_each_mode_asks_its_packet_length_and_rate() -> None:
    answer = await _answer()
    for mode, (bps, ptime) in [
        (Mode.VIDEO_HIGH, (32_000, 20)),
        (Mode.VIDEO_LOW, (24_000, 60)),
        (Mode.AUDIO_ONLY, (24_000, 60)),
        (Mode.TEXT_ONLY, (24_000, 60)),
    ]:
        assert opus_wishes(mode) == (bps, ptime), mode
        shaped = shape_answer(answer, mode)
        audio = _audio_section(shaped)
        assert audio.count(f"a=ptime:{ptime}") == 1, audio
        pt = next(re.match(r"a=rtpmap:(\d+) opus", x).group(1) for x in audio if "opus/" in x)  # type: ignore[union-attr]
        fmtp = next(x for x in audio if x.startswith(f"a=fmtp:{pt} "))
        params = dict(p.split("=") for p in fmtp.split(" ", 1)[1].split(";"))
        assert params["maxaveragebitrate"] == str(bps)
        assert params["useinbandfec"] == "1" and params["usedtx"] == "1"
        assert params["stereo"] == "0"
        # Nothing else moved: the video section and the rest parse the same.
        before, after = SessionDescription.parse(answer), SessionDescription.parse(shaped)
        assert [m.kind for m in after.media] == [m.kind for m in before.media]
        assert after.media[1].rtp.codecs == before.media[1].rtp.codecs


async def test_shaping_twice_changes_nothing_more() -> None:
    once = shape_answer(await _answer(), Mode.AUDIO_ONLY)
    assert shape_answer(once, Mode.AUDIO_ONLY) == once
