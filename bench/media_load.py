"""What one media node pays per relayed leg: K simultaneous 1:1 consultations, each a real
`media.Call` with two aiortc legs, in a harness process that hosts nothing else, while the
participants run in other processes.

Why it is built this way:
- The figure that matters is the server's CPU and memory per leg, so the server process must
  hold only Calls: its /proc counters are then the relay's cost (decrypt, depacketise, relay,
  repacketise, encrypt, RTCP, measurement, policy), nothing else.
- On two cores, participants that encode and decode live VP8 would saturate the machine long
  before the relay does. Our participants replay a clip encoded once at the mode's own targets
  (`media.policy.targets_for`: video-high 600 kbit/s 480x360@25, video-low 126 kbit/s
  320x240@15, Opus mono at the mode's rate) and count the encoded frames they receive without
  decoding them. The server cannot tell the difference: it never decodes either.
- The mode is pinned per run (`PinnedPolicy`): loopback would otherwise climb every leg to
  video-high.

Processes: `python -m bench.media_load harness MODE` (prints its port, answers offers over
HTTP), `python -m bench.media_load clients URL MODE` (stdin: `add N` / `quit`; one JSON status
line a second). `run()` drives both and returns one row per (mode, K).
"""

from __future__ import annotations

import asyncio
import fractions
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.packet import Packet

from media import aiortc_adapt
from media.call import Call
from media.events import MediaEvent
from media.leg import MediaConfig
from media.policy import AdaptationPolicy, Decision, LinkSample, Mode, PolicyConfig, targets_for

ROOT = Path(__file__).resolve().parents[1]
VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
CLIP_S = 2  # the replayed clip starts with a keyframe: a receiver waits at most this long
CLK_TCK = os.sysconf("SC_CLK_TCK")


class PinnedPolicy(AdaptationPolicy):
    """The real policy runs (its cost is part of a leg's), but the decision keeps one mode: a
    cost run must not climb, and an audio-floor run must not leave audio-only."""

    def __init__(self, mode: Mode, config: PolicyConfig | None = None) -> None:
        super().__init__(config or PolicyConfig(), start=mode)
        self.pinned = mode

    @property
    def mode(self) -> Mode:
        # `Leg.mode` reads the policy's live mode (not only the decision) since the leg follows
        # it for the answer's shaping and mode announcements: it must stay pinned too.
        return self.pinned

    def update(self, sample: LinkSample) -> Decision:
        super().update(sample)
        return Decision(self.pinned, None, targets_for(self.pinned, None), False, None)


def pin_leg(call: Call, leg_id: str, mode: Mode) -> None:
    leg = call.legs[leg_id]
    leg.policy = PinnedPolicy(mode)


# -- the replayed participant --------------------------------------------------------------------


def _video_clip(kbps: int, width: int, height: int, fps: int) -> list[bytes]:
    """CLIP_S seconds of a moving, slightly noisy picture, encoded once (first frame a
    keyframe) at the mode's rate with realtime libvpx settings like a participant's."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = kbps * 1000
    codec.framerate = fractions.Fraction(fps, 1)
    codec.time_base = fractions.Fraction(1, VIDEO_CLOCK)
    codec.gop_size = 10_000
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "-6",
        "lag-in-frames": "0",
        "minrate": str(kbps * 1000),
        "maxrate": str(kbps * 1000),
        "bufsize": str(kbps * 1000),
    }
    noise = os.urandom(width * height + width)
    base = bytes((x * 7) & 0xFF for x in range(2 * width))
    out: list[bytes] = []
    for n in range(CLIP_S * fps):
        frame = av.VideoFrame(width=width, height=height, format="yuv420p")
        shift = (n * 4) % width
        luma = bytearray(
            b"".join(base[shift + (y % 7) : shift + (y % 7) + width] for y in range(height))
        )
        grain = noise[n * 13 % width : n * 13 % width + width * height]
        for i in range(0, len(luma), 97):  # sparse grain, like a camera's noise
            luma[i] = grain[i]
        frame.planes[0].update(bytes(luma))
        chroma = bytes([128]) * frame.planes[1].buffer_size
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = n * (VIDEO_CLOCK // fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        out.append(b"".join(bytes(p) for p in codec.encode(frame)))
    return out


def _audio_clip(kbps: int) -> list[bytes]:
    """One second of a 440 Hz tone as 20 ms mono Opus packets with in-band FEC."""
    codec = av.CodecContext.create("libopus", "w")
    codec.bit_rate = kbps * 1000
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = AUDIO_RATE
    codec.options = {"application": "voip", "fec": "1", "packet_loss": "10"}
    import math

    out: list[bytes] = []
    for n in range(50):
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        pcm = b"".join(
            int(6000 * math.sin(2 * math.pi * 440 * (n * 960 + k) / AUDIO_RATE)).to_bytes(
                2, "little", signed=True
            )
            for k in range(960)
        )
        frame.planes[0].update(pcm)
        frame.sample_rate = AUDIO_RATE
        frame.pts = n * 960
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        out.extend(bytes(p) for p in codec.encode(frame))
    return [p for p in out if p]


class ReplayTrack(MediaStreamTrack):
    """Yields pre-encoded packets at real-time pace (aiortc's sender only packs them). An empty
    clip yields nothing (a muted source), until stopped."""

    def __init__(self, kind: str, clip: Sequence[bytes], rate: int, clock: int) -> None:
        super().__init__()
        self.kind = kind
        self._clip, self._rate, self._clock = list(clip), rate, clock
        self._start: float | None = None
        self.sent = 0
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        super().stop()
        self._stopped.set()

    async def recv(self) -> Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._clip:
            await self._stopped.wait()
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self.sent / self._rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = Packet(self._clip[self.sent % len(self._clip)])
        packet.pts = self.sent * (self._clock // self._rate)
        packet.time_base = fractions.Fraction(1, self._clock)
        self.sent += 1
        return packet


@dataclass(frozen=True)
class Clips:
    audio: list[bytes]
    video: list[bytes]
    fps: int

    @staticmethod
    def for_mode(mode: Mode) -> Clips:
        t = targets_for(mode, None)
        video = _video_clip(t.video_kbps, t.width, t.height, t.fps) if t.video_kbps else []
        return Clips(_audio_clip(t.audio_kbps), video, t.fps or 1)


def _ignore_rtp(packet: Any, arrival_ms: int) -> None:
    return None


def _ignore_rtcp(packet: Any, kind: str | None = None) -> None:
    return None


class ReplayPeer:
    """A participant that replays clips and counts the encoded frames it receives."""

    def __init__(self, clips: Clips) -> None:
        aiortc_adapt.install_codec_parameters()
        self.pc = RTCPeerConnection()
        self.tracks = {
            "audio": ReplayTrack("audio", clips.audio, 50, AUDIO_RATE),
            "video": ReplayTrack("video", clips.video, clips.fps, VIDEO_CLOCK),
        }
        self.received = {"audio": 0, "video": 0}
        for kind, track in self.tracks.items():
            sender = self.pc.addTrack(track)
            aiortc_adapt.use_encoder(
                sender,
                aiortc_adapt.AdaptiveVp8Encoder()
                if kind == "video"
                else aiortc_adapt.AdaptiveOpusEncoder(),
            )
        for transceiver in self.pc.getTransceivers():
            aiortc_adapt.tap_receiver(
                transceiver.receiver,
                on_frame=self._frame_counter(transceiver.kind),
                on_rtp=_ignore_rtp,
                on_rtcp=_ignore_rtcp,
            )

    def _frame_counter(self, kind: str) -> aiortc_adapt.FrameSink:
        def count(codec: str, packet: Packet[Any], keyframe: bool) -> None:
            self.received[kind] += 1

        return count

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    def status(self) -> dict[str, Any]:
        return {
            "sent": {k: t.sent for k, t in self.tracks.items()},
            "recv": dict(self.received),
        }

    async def close(self) -> None:
        for track in self.tracks.values():
            track.stop()
        await aiortc_adapt.close_peer(self.pc)


# -- the two processes --------------------------------------------------------------------------


async def _stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def harness_main(mode: Mode) -> None:
    """Host Calls only; answer offers on POST /offer; report relay totals on GET /stats."""
    calls: dict[str, Call] = {}

    def ignore(event: MediaEvent) -> None:
        return None

    async def offer(request: web.Request) -> web.Response:
        body = await request.json()
        call = calls.get(body["call"])
        if call is None:
            call = calls[body["call"]] = Call(body["call"], ignore, MediaConfig(start_mode=mode))
        answer = await call.offer(body["leg"], body["sdp"], int(body.get("priority", 0)))
        pin_leg(call, body["leg"], mode)
        return web.json_response({"sdp": answer})

    async def stats(request: web.Request) -> web.Response:
        legs = [leg for call in calls.values() for leg in call.legs.values()]
        return web.json_response(
            {
                "legs": len(legs),
                "connected": sum(leg.connected for leg in legs),
                "in_kbps": sum(leg.meter.last.in_kbps for leg in legs),
                "out_kbps": sum(leg.meter.last.out_kbps for leg in legs),
            }
        )

    app = web.Application()
    app.router.add_post("/offer", offer)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(json.dumps({"port": port}), flush=True)
    reader = await _stdin_lines()
    while (line := await reader.readline()) and line.strip() != b"quit":
        pass
    for call in calls.values():
        await call.close()
    await runner.cleanup()


async def clients_main(url: str, mode: Mode) -> None:
    """Participants of whole consultations (both ends of each call in this process)."""
    import aiohttp

    clips = Clips.for_mode(mode)
    calls: list[tuple[ReplayPeer, ReplayPeer]] = []
    session = aiohttp.ClientSession()
    reader = await _stdin_lines()
    commands: asyncio.Queue[str] = asyncio.Queue()

    async def read() -> None:
        while line := await reader.readline():
            await commands.put(line.decode().strip())
        await commands.put("quit")

    async def join(call_id: str, leg: str, priority: int) -> ReplayPeer:
        peer = ReplayPeer(clips)
        body = {"call": call_id, "leg": leg, "sdp": await peer.offer(), "priority": priority}
        async with session.post(f"{url}/offer", json=body) as res:
            res.raise_for_status()
            await peer.accept((await res.json())["sdp"])
        return peer

    reading = asyncio.ensure_future(read())
    tag = os.getpid()
    try:
        while True:
            try:
                command = await asyncio.wait_for(commands.get(), timeout=1.0)
            except TimeoutError:
                command = ""
            if command == "quit":
                break
            if command.startswith("add "):
                for _ in range(int(command.split()[1])):
                    cid = f"c{tag}-{len(calls)}"
                    calls.append((await join(cid, "patient", 2), await join(cid, "clinician", 1)))
            status = {"t": time.monotonic(), "calls": [[a.status(), b.status()] for a, b in calls]}
            print(json.dumps(status), flush=True)
    finally:
        reading.cancel()
        for pair in calls:
            for peer in pair:
                await peer.close()
        await session.close()


# -- the driver ----------------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _Proc:
    """A child process speaking JSON lines; the last line is kept."""

    def __init__(self, argv: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.p = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
        )
        self.last: dict[str, Any] = {}

    async def line(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.p.stdout is not None
        text = await asyncio.wait_for(asyncio.to_thread(self.p.stdout.readline), timeout)
        if not text:
            raise RuntimeError(f"process {self.p.args!r} ended ({self.p.poll()})")
        self.last = json.loads(text)
        return self.last

    def send(self, command: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(command + "\n")
        self.p.stdin.flush()

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                self.send("quit")
                self.p.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()


class _Follower:
    """Keeps reading a client process's status lines in the background."""

    def __init__(self, proc: _Proc) -> None:
        self.proc = proc
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await self.proc.line(timeout=120)


def _delivery(before: list[Any], after: list[Any]) -> list[float]:
    """Per receiving leg: video frames received / video frames its source sent, over the
    window (a pair is [patient, clinician]; each receives the other's video)."""
    out = []
    for i, pair in enumerate(after):
        if i >= len(before):
            continue
        for me, other in ((0, 1), (1, 0)):
            sent = pair[other]["sent"]["video"] - before[i][other]["sent"]["video"]
            got = pair[me]["recv"]["video"] - before[i][me]["recv"]["video"]
            out.append(got / sent if sent > 0 else float("nan"))
    return out


def _audio_delivery(before: list[Any], after: list[Any]) -> list[float]:
    out = []
    for i, pair in enumerate(after):
        for me, other in ((0, 1), (1, 0)):
            sent = pair[other]["sent"]["audio"] - before[i][other]["sent"]["audio"]
            got = pair[me]["recv"]["audio"] - before[i][me]["recv"]["audio"]
            out.append(got / sent if sent > 0 else float("nan"))
    return out


@dataclass
class LoadRow:
    mode: str
    consultations: int
    legs: int
    server_cpu_pct: float
    server_rss_mb: float
    cpu_pct_per_leg: float
    mb_per_leg: float
    relayed_in_kbps_per_leg: float
    clients_cpu_pct: float
    machine_busy_pct: float
    min_video_delivery: float | None
    min_audio_delivery: float
    carried: bool


def _machine_busy() -> tuple[int, int]:
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


async def _window(
    harness: _Proc, clients: list[_Follower], seconds: float
) -> tuple[float, float, list[Any], list[Any], float]:
    """CPU % of the harness and of the clients, and client statuses at both ends."""
    pid = harness.p.pid
    c0 = [cpu_ticks(c.proc.p.pid) for c in clients]
    h0, m0, t0 = cpu_ticks(pid), _machine_busy(), time.monotonic()
    s0 = [pair for c in clients for pair in c.proc.last.get("calls", [])]
    await asyncio.sleep(seconds)
    h1, m1, t1 = cpu_ticks(pid), _machine_busy(), time.monotonic()
    c1 = [cpu_ticks(c.proc.p.pid) for c in clients]
    s1 = [pair for c in clients for pair in c.proc.last.get("calls", [])]
    wall = t1 - t0
    server = 100.0 * (h1 - h0) / CLK_TCK / wall
    client = 100.0 * sum(b - a for a, b in zip(c0, c1, strict=True)) / CLK_TCK / wall
    busy = 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]) * (os.cpu_count() or 1)
    return server, client, s0, s1, busy


async def _stats(port: int) -> dict[str, Any]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/stats") as res,
    ):
        data: dict[str, Any] = await res.json()
        return data


async def run_mode(
    mode: Mode, counts: Sequence[int], window_s: float, client_procs: int, log: Any = print
) -> list[LoadRow]:
    """One harness and `client_procs` client processes; consultations are added up to each
    count in turn and measured over `window_s`."""
    harness = _Proc([sys.executable, "-m", "bench.media_load", "harness", mode.value])
    procs: list[_Proc] = []
    followers: list[_Follower] = []
    rows: list[LoadRow] = []
    try:
        port = int((await harness.line())["port"])
        url = f"http://127.0.0.1:{port}"
        for _ in range(client_procs):
            procs.append(
                _Proc([sys.executable, "-m", "bench.media_load", "clients", url, mode.value])
            )
        for proc in procs:
            await proc.line(timeout=60)  # clips encoded, ready
        followers = [_Follower(p) for p in procs]
        # The idle harness: the baseline that per-leg figures are taken over.
        await asyncio.sleep(1)
        idle_cpu, _, _, _, _ = await _window(harness, followers, min(5.0, window_s))
        idle_rss = rss_kb(harness.p.pid)
        have = 0
        for k in counts:
            for i in range(have, k):
                procs[i % len(procs)].send("add 1")
            want_legs = 2 * k
            deadline = time.monotonic() + 30 + 2 * (k - have)
            have = k
            while time.monotonic() < deadline:
                st = await _stats(port)
                if st["connected"] >= want_legs:
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(CLIP_S + 2)  # first keyframes through, rates settled
            server, client, s0, s1, busy = await _window(harness, followers, window_s)
            st = await _stats(port)
            rss = rss_kb(harness.p.pid)
            video = _delivery(s0, s1) if mode != Mode.AUDIO_ONLY else []
            audio = _audio_delivery(s0, s1)
            legs = st["legs"]
            vmin = min(video, default=None) if video else None
            amin = min(audio, default=float("nan"))
            ok = legs == want_legs and server <= 85.0
            ok = ok and (vmin >= 0.9 if vmin is not None else amin >= 0.9)
            row = LoadRow(
                mode=mode.value,
                consultations=k,
                legs=legs,
                server_cpu_pct=server,
                server_rss_mb=rss / 1024,
                cpu_pct_per_leg=(server - idle_cpu) / max(1, legs),
                mb_per_leg=(rss - idle_rss) / 1024 / max(1, legs),
                relayed_in_kbps_per_leg=st["in_kbps"] / max(1, legs),
                clients_cpu_pct=client,
                machine_busy_pct=busy,
                min_video_delivery=vmin,
                min_audio_delivery=amin,
                carried=ok,
            )
            log(
                f"media load {mode.value} K={k}: server {server:.0f}% "
                f"({row.cpu_pct_per_leg:.1f}%/leg) {row.server_rss_mb:.0f} MB, clients "
                f"{client:.0f}%, video delivery min {vmin}, audio min {amin:.2f}"
            )
            rows.append(row)
    finally:
        for f in followers:
            f.task.cancel()
        await asyncio.gather(*(f.task for f in followers), return_exceptions=True)
        for proc in procs:
            proc.stop()
        harness.stop()
    return rows


async def run(
    plan: Sequence[tuple[Mode, Sequence[int]]],
    window_s: float,
    client_procs: int = 2,
    log: Any = print,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for mode, counts in plan:
        rows += [asdict(r) for r in await run_mode(mode, counts, window_s, client_procs, log)]
    return rows


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["harness"]:
        asyncio.run(harness_main(Mode(argv[1])))
    elif argv[:1] == ["clients"]:
        asyncio.run(clients_main(argv[1], Mode(argv[2])))
    else:
        print("usage: python -m bench.media_load harness MODE | clients URL MODE", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
