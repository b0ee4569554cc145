"""A three-way consultation (patient, local GP, remote specialist) through the media layer, with
real aiortc participants: everyone hears everyone but themselves (mix-minus), and everyone sees
the active speaker.

Each participant sends its own tone (440, 660, 990 Hz) and its own colour; the test measures
what each one decodes: the energy at each tone (Goertzel) and the chroma of the pictures.
Before mix-minus each receiver got the audio of one featured participant only."""

from __future__ import annotations

import array
import asyncio
import math
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

import av
import pytest

from client.consult import ConsultationMedia
from client.media_peer import MediaPeer
from client.sdk import RelaisClient
from media.call import Call
from media.events import MediaEvent, SendPlan
from media.leg import MediaConfig, live_peer_connections
from media.mixminus import MIX_SOURCE
from tests.integration.security_world import World
from tests.integration.test_consultation_media import admit, bridge, media_world, open_consultation
from tests.leakcheck import other_tasks, settle, udp_socket_count

pytestmark = pytest.mark.timeout(60)

TONES = {"patient": 440, "gp": 660, "specialist": 990}
# (U, V) chroma of each participant's picture.
TINTS = {"patient": (60, 200), "gp": (128, 60), "specialist": (200, 128)}
PRIORITY = {"patient": 3, "gp": 2, "specialist": 2}
# Keep VP8 small: three encoders and three decoders share the test machine's cores.
VIDEO_CAP_BPS = 120_000
KEEP_SAMPLES = 48000  # 1 s of received audio, per receiver
BLOCK = 960  # 20 ms
JUDGE_BLOCK = 4800  # 100 ms: 10 Hz bins, and enough blocks in a second to find a full one
SILENT_PEAK = 64  # below this a block is padding or codec noise, not a tone
__all__ = ["media_world"]


def cap_video(peer: MediaPeer) -> None:
    """Keep the peer's VP8 at VIDEO_CAP_BPS whatever the send plans allow."""
    follow = peer.apply_plan

    def capped(plan: dict[str, Any]) -> None:
        follow(plan)
        peer.video_encoder.set_cap(min(VIDEO_CAP_BPS, peer.video_encoder._cap_bps))

    peer.apply_plan = capped  # type: ignore[method-assign]
    peer.video_encoder.set_cap(VIDEO_CAP_BPS)


def tone_amplitude(samples: Sequence[float], hz: float) -> float:
    """Amplitude of the `hz` component of a 48 kHz signal (Goertzel), in sample units."""
    n = len(samples)
    if n == 0:
        return 0.0
    w = 2 * math.pi * hz / 48000
    coeff = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / n


def windowed_amplitude(samples: Sequence[int], hz: float) -> float:
    """`tone_amplitude` of a Hann-windowed block (the window's coherent gain, 0.5, undone)."""
    n = len(samples)
    window = [x * (0.5 - 0.5 * math.cos(2 * math.pi * i / n)) for i, x in enumerate(samples)]
    return 2 * tone_amplitude(window, hz)


class Ears:
    """What one participant decodes: the last second of audio, and whose picture it shows."""

    def __init__(self) -> None:
        self.audio: deque[int] = deque(maxlen=KEEP_SAMPLES)
        self.seen: deque[tuple[float, str | None]] = deque(maxlen=200)

    def attach(self, peer: MediaPeer) -> None:
        peer.on_frame = self._on_frame

    def _on_frame(self, kind: str, frame: av.AudioFrame | av.VideoFrame) -> None:
        if isinstance(frame, av.AudioFrame):
            channels = len(frame.layout.channels)  # aiortc decodes to packed s16 stereo
            pcm = array.array("h", bytes(frame.planes[0])[: frame.samples * 2 * channels])
            self.audio.extend(pcm[::channels])  # left channel
        else:
            self.seen.append((time.monotonic(), whose_tint(frame)))

    def heard(self) -> dict[str, float]:
        """Each tone's amplitude at its loudest 100 ms of the last second.

        The mixer pads a source that ran dry with silence (media/mixer.py); on a loaded test
        machine each sender's clock can lag on its own, so that a tone is padded half the time
        while the others sound: over the whole second that halves its amplitude (CI read 1,226
        for a 3,000 tone) without saying anything about who is mixed for whom. Judged per block,
        a tone that is mixed shows at its amplitude in the blocks it filled, and a tone that is
        not (mix-minus) in none. Hann-windowed, so that the 8,000 tone does not leak into the
        others' bins; `sounding_share` says how much of the second was not padding at all."""
        return {name: max(levels, default=0.0) for name, levels in self._levels().items()}

    def typical(self) -> dict[str, float]:
        """Each tone's median over the 100 ms blocks: what is absent stays near codec noise,
        whatever a single block (the mix's first, a decoder's start) shows."""
        return {
            name: statistics.median(levels) if levels else 0.0
            for name, levels in self._levels().items()
        }

    def _levels(self) -> dict[str, list[float]]:
        whole = array.array("h", self.audio)
        return {
            name: [
                windowed_amplitude(whole[start : start + JUDGE_BLOCK], hz)
                for start in range(0, len(whole) - JUDGE_BLOCK + 1, JUDGE_BLOCK)
            ]
            for name, hz in TONES.items()
        }

    def sounding(self) -> array.array[int]:
        kept = array.array("h")
        whole = array.array("h", self.audio)
        for start in range(0, len(whole) - BLOCK + 1, BLOCK):
            block = whole[start : start + BLOCK]
            if max(map(abs, block)) > SILENT_PEAK:
                kept.extend(block)
        return kept

    def sounding_share(self) -> float:
        return len(self.sounding()) / max(1, len(self.audio))

    def showing(self) -> str | None:
        return self.seen[-1][1] if self.seen else None


class Participant(Ears):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.peer = MediaPeer(video=(320, 240, 15), tone_hz=TONES[name], tint=TINTS[name])
        self.attach(self.peer)


def assert_mix_minus(ears: dict[str, Ears], amplitudes: dict[str, int]) -> None:
    """Each hears every other tone near its sent amplitude, and its own not at all."""
    heard = {name: e.heard() for name, e in ears.items()}
    typical = {name: e.typical() for name, e in ears.items()}
    shares = {name: round(e.sounding_share(), 2) for name, e in ears.items()}
    # A mix that is mostly padding is a continuity failure, not a mix-minus one: say so.
    assert all(share >= 0.3 for share in shares.values()), shares
    for name in ears:
        for other, amplitude in amplitudes.items():
            if other == name:
                # Mix-minus: its own tone is absent: codec noise, and the clicks where a lagging
                # source was padded with silence, which spread a little energy into every bin
                # (up to ~170 of a 3,000 tone seen); mixed in, it would read near its amplitude.
                assert typical[name][other] < 0.1 * amplitude, (name, typical)
            else:
                # Opus at 24-32 kbit/s keeps a pure tone within a few dB.
                assert 0.5 * amplitude < heard[name][other] < 1.5 * amplitude, (name, heard)


def _plane_mean(plane: Any) -> float:
    """Mean of a plane's visible bytes (rows are padded to `line_size`), every 4th row."""
    data = bytes(plane)
    rows = [
        data[y * plane.line_size : y * plane.line_size + plane.width]
        for y in range(0, plane.height, 4)
    ]
    return sum(map(sum, rows)) / sum(map(len, rows))


def whose_tint(frame: av.VideoFrame) -> str | None:
    """The participant whose colour this picture has (mean chroma within 25 of theirs)."""
    mean = (_plane_mean(frame.planes[1]), _plane_mean(frame.planes[2]))
    for name, (tu, tv) in TINTS.items():
        if abs(mean[0] - tu) < 25 and abs(mean[1] - tv) < 25:
            return name
    return None


class Harness:
    def __init__(self) -> None:
        self.people: dict[str, Participant] = {}
        self.call = Call("three-way", self._on_event, MediaConfig())

    def _on_event(self, event: MediaEvent) -> None:
        if isinstance(event, SendPlan) and event.leg_id in self.people:
            self.people[event.leg_id].peer.apply_plan(event.send)

    async def join(self, name: str) -> Participant:
        person = Participant(name)
        self.people[name] = person
        cap_video(person.peer)
        answer = await self.call.offer(name, await person.peer.offer(), PRIORITY[name])
        await person.peer.accept_answer(answer)
        return person

    async def close(self) -> None:
        for person in self.people.values():
            await person.peer.close()
        await self.call.close()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    udp_before = udp_socket_count()
    tasks_before = other_tasks()
    h = Harness()
    try:
        yield h
    finally:
        await h.close()
        assert live_peer_connections() == 0
        assert await settle(lambda: udp_socket_count() <= udp_before), "UDP sockets leaked"
        assert await settle(lambda: not (other_tasks() - tasks_before)), (
            f"tasks leaked: {other_tasks() - tasks_before}"
        )


async def test_everyone_hears_everyone_else_and_sees_the_speaker(harness: Harness) -> None:
    patient = await harness.join("patient")
    gp = await harness.join("gp")
    specialist = await harness.join("specialist")
    people = (patient, gp, specialist)
    # The patient speaks up; the clinicians are quieter.
    patient.peer.audio_source.amplitude = 8000
    gp.peer.audio_source.amplitude = 3000
    specialist.peer.audio_source.amplitude = 3000
    call = harness.call
    assert await settle(lambda: all(leg.connected for leg in call.legs.values()), timeout=15)
    assert call.mixer is not None
    assert all(leg.out["audio"].source == MIX_SOURCE for leg in call.legs.values())

    # -- audio: each hears both others, not itself -------------------------------------------
    def filled() -> bool:
        return all(len(p.audio) == KEEP_SAMPLES for p in people)

    assert await settle(filled, timeout=15)
    for p in people:
        p.audio.clear()  # drop what arrived while the call was forming
    assert await settle(filled, timeout=10)
    assert_mix_minus({p.name: p for p in people}, {"patient": 8000, "gp": 3000, "specialist": 3000})
    assert call.mixer.stats.decode_errors == 0

    # -- video: the loudest is the speaker; the speaker sees the featured other --------------
    assert await settle(lambda: call.speaker.current == "patient", timeout=5)
    assert await settle(
        lambda: gp.showing() == "patient" and specialist.showing() == "patient", timeout=10
    ), (gp.showing(), specialist.showing())
    assert await settle(lambda: patient.showing() in ("gp", "specialist"), timeout=10)

    # The patient falls silent and the GP talks: after the hold, everyone else sees the GP, and
    # the GP sees the patient (who spoke before).
    patient.peer.audio_source.amplitude = 0
    specialist.peer.audio_source.amplitude = 1000
    switched = time.monotonic()
    assert await settle(lambda: call.speaker.current == "gp", timeout=5)
    assert time.monotonic() - switched >= call.speaker.config.hold_s * 0.5
    assert await settle(
        lambda: patient.showing() == "gp" and specialist.showing() == "gp", timeout=10
    ), (patient.showing(), specialist.showing())
    assert gp.showing() == "patient"
    assert call.speaker.history[:2] == ["gp", "patient"]


async def test_back_to_two_the_audio_is_relayed_again(harness: Harness) -> None:
    """When the third leaves, the two left get each other's audio as it was sent (no decode,
    no encode), and it keeps flowing across the switch."""
    patient = await harness.join("patient")
    gp = await harness.join("gp")
    await harness.join("specialist")
    call = harness.call
    assert await settle(lambda: all(leg.connected for leg in call.legs.values()), timeout=15)
    assert await settle(lambda: len(gp.audio) >= 4800, timeout=10)
    await call.close_leg("specialist")
    assert call.mixer is None
    assert call.legs["gp"].out["audio"].source == "patient"
    assert call.legs["patient"].out["audio"].source == "gp"
    relayed = call.legs["gp"].out["audio"].frames_forwarded
    await asyncio.sleep(0.5)  # what was mixed before the switch is played out
    gp.audio.clear()
    assert await settle(lambda: len(gp.audio) == KEEP_SAMPLES, timeout=10)
    assert call.legs["gp"].out["audio"].frames_forwarded > relayed + 40
    heard: dict[str, Any] = gp.heard()
    assert heard["patient"] > 3000 and gp.typical()["specialist"] < 300, (heard, gp.typical())
    assert patient.peer.counters.frames["audio"] > 0


async def test_a_three_way_consultation_through_the_server(media_world: World) -> None:
    """The same through a running server: the host (the GP), a patient who came by link and a
    clinician invited as a participant (the specialist), each admitted and offering over
    `consult.*` with the Python SDK."""
    w = media_world
    c = await open_consultation(w)
    await admit(c)
    member = w.actors["member"]
    invited = await w.rest(
        "POST",
        f"/api/v1/consultations/{c.cid}/participants",
        token=w.token("owner"),
        json_body={"user_id": member.user_id, "role": "observer"},
    )
    assert invited.status == 201, invited.body
    specialist = RelaisClient(w.running.url)
    specialist.use_session(member.token, member.user_id, member.device_id)
    await specialist.connect()
    clients = {"patient": c.patient, "gp": c.host, "specialist": specialist}
    medias = {
        name: ConsultationMedia(client, c.cid, (320, 240, 15), TONES[name], TINTS[name])
        for name, client in clients.items()
    }
    ears = {name: Ears() for name in medias}
    try:
        assert (await specialist.call("consult.join", {"consultation_id": c.cid}))[
            "state"
        ] == "waiting"
        await c.host.call(
            "consult.admit",
            {"consultation_id": c.cid, "participant_id": invited.body["participant_id"]},
        )
        for name, m in medias.items():
            await m.start()
            assert m.peer is not None
            ears[name].attach(m.peer)
            cap_video(m.peer)
        # The GP speaks up: without a speaker, the specialist would see the patient (priority).
        amplitudes = {"patient": 3000, "gp": 8000, "specialist": 3000}
        for name, m in medias.items():
            assert m.peer is not None
            m.peer.audio_source.amplitude = amplitudes[name]
        call = bridge(w).calls[c.cid]
        assert await settle(
            lambda: len(call.legs) == 3 and all(leg.connected for leg in call.legs.values()),
            timeout=20,
        )
        assert call.mixer is not None

        def filled() -> bool:
            return all(len(e.audio) == KEEP_SAMPLES for e in ears.values())

        assert await settle(filled, timeout=15)
        for e in ears.values():
            e.audio.clear()
        assert await settle(filled, timeout=10)
        assert_mix_minus(ears, amplitudes)
        gp_id = medias["gp"].participant_id
        assert await settle(lambda: call.speaker.current == gp_id, timeout=5)
        assert await settle(
            lambda: ears["patient"].showing() == "gp" and ears["specialist"].showing() == "gp",
            timeout=10,
        ), (ears["patient"].showing(), ears["specialist"].showing())
        assert ears["gp"].showing() == "patient"  # nobody spoke before: the featured one
    finally:
        for m in medias.values():
            await m.close()
        await specialist.close()
        await c.host.close()
        await c.patient.close()
