"""The link measurement of a leg (media/measure.py): what loss the policy is shown.

Real aiortc packet objects, fed to a `LinkMeter` on a test clock. The point of these tests is the
loss a stream *resuming* shows: what its source sent into a cut or collapsed link before a pause
is past loss, and counting it in the second the stream came back made every climb's first probe
fail on a healthy link (bench.media_link traces); real loss must still count.
"""

from __future__ import annotations

from aiortc.rtp import RtcpReceiverInfo, RtcpRrPacket, RtpPacket

from media.measure import LinkMeter

PEER_SSRC = 1111
OUR_SSRC = 2222


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def rtp(seq: int) -> RtpPacket:
    return RtpPacket(
        payload_type=96, sequence_number=seq & 0xFFFF, ssrc=PEER_SSRC, payload=b"x" * 100
    )


def report(highest: int, lost: int) -> RtcpRrPacket:
    """A receiver report on our stream: extended highest sequence number and cumulative lost
    count (what the meter reads; the fraction field is set from nothing it uses)."""
    block = RtcpReceiverInfo(
        ssrc=OUR_SSRC,
        fraction_lost=0,
        packets_lost=lost,
        highest_sequence=highest,
        jitter=0,
        lsr=0,
        dlsr=0,
    )
    return RtcpRrPacket(ssrc=PEER_SSRC, reports=[block])


def stream(meter: LinkMeter, clock: Clock, first: int, count: int, step: int = 1) -> int:
    """`count` packets at 50/s, sequence numbers `step` apart; returns the next number."""
    seq = first
    for _ in range(count):
        meter.on_rtp_in(rtp(seq))
        seq += step
        clock.now += 0.02
    return seq


def send(meter: LinkMeter, clock: Clock, seconds: float, kind: str) -> None:
    """Our stream to the participant going out for `seconds`, a packet every 20 ms."""
    for _ in range(round(seconds / 0.02)):
        meter.on_bytes_out(1000, kind)
        clock.now += 0.02


def test_uplink_gap_across_a_pause_is_not_loss() -> None:
    clock = Clock()
    meter = LinkMeter(clock)
    seq = stream(meter, clock, 1000, 50)
    assert meter.sample().loss == 0.0
    # The source paused for 3 s; 150 packets it sent before pausing were lost on a cut link.
    clock.now += 3.0
    meter.sample()
    stream(meter, clock, seq + 150, 50)
    assert meter.sample().loss == 0.0


def test_uplink_loss_while_flowing_still_counts() -> None:
    clock = Clock()
    meter = LinkMeter(clock)
    stream(meter, clock, 1000, 50)
    meter.sample()
    # Every other packet lost, the rest arriving steadily: half the stream is lost.
    stream(meter, clock, 1050, 50, step=2)
    assert 0.45 <= meter.sample().loss <= 0.55


def test_first_report_after_resuming_a_paused_stream_is_not_loss() -> None:
    """Dead link: no report gets through during the cut; we stop sending (text-only) and
    resume with a probe; the participant's first report then counts everything we had sent
    into the cut as lost. That is skipped; the next report's loss counts."""
    clock = Clock()
    meter = LinkMeter(clock)
    for i in range(3):
        send(meter, clock, 1.0, "audio")
        meter.on_rtcp_in(report(5000 + 50 * i, 0))
    meter.sample()
    clock.now += 5.0  # cut, then text-only: nothing sent, no report heard
    send(meter, clock, 0.5, "audio")  # the probe resumes the stream
    meter.on_rtcp_in(report(5400, 270))  # 90 % "lost": the packets sent into the cut
    assert meter.sample().loss == 0.0
    send(meter, clock, 1.0, "audio")
    meter.on_rtcp_in(report(5450, 275))  # 10 % lost now: real
    assert 0.09 <= meter.sample().loss <= 0.11


def test_report_after_a_stall_of_ours_is_skipped_but_a_collapse_keeps_its_loss() -> None:
    clock = Clock()
    meter = LinkMeter(clock)
    send(meter, clock, 1.0, "video")
    meter.on_rtcp_in(report(100, 0))
    # We stop sending video; the participant's reports go on, seeing nothing new.
    for _ in range(3):
        clock.now += 1.0
        meter.on_rtcp_in(report(100, 0))
    meter.sample()
    send(meter, clock, 0.5, "video")
    meter.on_rtcp_in(report(300, 156))
    assert meter.sample().loss == 0.0
    # A collapse while we keep sending: reports are lost for 3 s, the next one shows loss.
    send(meter, clock, 3.0, "video")
    meter.on_rtcp_in(report(400, 206))
    assert meter.sample().loss == 0.5


def test_the_report_that_still_covers_a_heavier_load_does_not_judge_the_lighter_one() -> None:
    """A flood made the leg step down; the participant's next report on a stream covers the
    packets since its previous one, flood included (audio is reported only every few seconds).
    That report is left out; the one after it speaks for the new load, loss and all."""
    clock = Clock()
    meter = LinkMeter(clock)
    send(meter, clock, 1.0, "audio")
    meter.on_rtcp_in(report(5000, 0))
    send(meter, clock, 1.0, "audio")
    meter.on_rtcp_in(report(5050, 45))  # the flood: 90 % lost
    assert meter.sample().loss >= 0.89
    meter.lowered()  # the leg steps down (sound only)
    send(meter, clock, 1.0, "audio")
    meter.on_rtcp_in(report(5100, 90))  # its interval began before the step: the flood's
    assert meter.sample().loss == 0.0
    send(meter, clock, 1.0, "audio")
    meter.on_rtcp_in(report(5150, 102))  # the lighter load still loses 24 %: that counts
    assert 0.23 <= meter.sample().loss <= 0.25
    # A later step down with no report on the stream since: its first report is left out too.
    meter.lowered()
    send(meter, clock, 1.0, "audio")
    meter.on_rtcp_in(report(5200, 127))
    assert meter.sample().loss == 0.0


def test_downlink_loss_is_counted_over_the_second_not_the_worst_report() -> None:
    """Under loss a browser reports with every NACK, tens of times a second, each over the few
    packets since its previous report: their fractions read 0 % or 50 %. The second's loss is
    the lost packets of its reports over the packets they cover."""
    clock = Clock()
    meter = LinkMeter(clock)
    meter.on_rtcp_in(report(1000, 0))
    meter.sample()
    highest, lost = 1000, 0
    for i in range(25):  # a report every 40 ms over 4 packets, one of them lost in 1 of 5
        highest += 4
        lost += 1 if i % 5 == 0 else 0
        meter.on_rtcp_in(report(highest, lost))
        send(meter, clock, 0.04, "video")
    assert 0.04 <= meter.sample().loss <= 0.06


def test_a_report_on_a_stream_we_stopped_is_the_past() -> None:
    """The last packets of a flood sit in the bottleneck's queue when the leg stops sending
    video; the report a second later says half of them were lost. The leg sends no video any
    more: that is the past load, not the sound-only leg's loss."""
    clock = Clock()
    meter = LinkMeter(clock)
    send(meter, clock, 1.0, "video")
    meter.on_rtcp_in(report(100, 0), "video")
    meter.sample()
    send(meter, clock, 0.5, "audio")  # video stopped; sound goes on
    clock.now += 0.5
    meter.on_rtcp_in(report(108, 4), "video")
    assert meter.sample().loss == 0.0
    send(meter, clock, 0.2, "video")  # video again: its reports count
    meter.on_rtcp_in(report(118, 6), "video")
    assert 0.15 <= meter.sample().loss <= 0.25


def test_a_second_says_whether_a_report_told_its_downlink_loss() -> None:
    """A second without a receiver report reads no downlink loss, which is not the same as a
    clean downlink: the sample says which it is (the policy judges probes on reported seconds
    only)."""
    clock = Clock()
    meter = LinkMeter(clock)
    meter.on_rtcp_in(report(1000, 0), "audio")
    meter.sample()
    send(meter, clock, 1.0, "audio")
    unreported = meter.sample()
    assert (unreported.loss, unreported.reported) == (0.0, False)
    send(meter, clock, 1.0, "audio")
    meter.on_rtcp_in(report(1100, 30), "audio")
    told = meter.sample()
    assert told.reported and 0.25 <= told.loss <= 0.35
