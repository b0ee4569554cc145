"""The retransmission budget (media/retransmits.py): a NACK storm on a collapsed link must not
keep the downlink full after the leg stopped sending video."""

from __future__ import annotations

from media.retransmits import BURST_S, PACKET_BYTES, RetransmitBudget


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def budget(kbps: float, rtt_s: float | None = 0.2) -> tuple[RetransmitBudget, Clock, list[float]]:
    clock, rate = Clock(), [kbps]
    return RetransmitBudget(lambda: rate[0], lambda: rtt_s, clock), clock, rate


def test_a_stream_the_leg_does_not_send_gets_no_resends() -> None:
    b, _, _ = budget(0.0)
    assert b.allow(range(100, 140)) == []
    assert b.refused == 40


def test_resends_are_bounded_by_a_share_of_the_rate() -> None:
    b, clock, _ = budget(88.0)  # 10 packets/s of 1,100 bytes
    per_s = 88.0 * 1000 / 8 / PACKET_BYTES
    got = len(b.allow(range(0, 100)))
    assert got == int(per_s * BURST_S)  # the bucket's burst, not the whole NACK
    total = got
    for second in range(10):  # a storm: every 100 ms, 50 new losses
        for tick in range(10):
            clock.now += 0.1
            total += len(
                b.allow(range(1000 + second * 500 + tick * 50, 1050 + second * 500 + tick * 50))
            )
    assert total <= per_s * (10 + BURST_S) + 1


def test_the_same_packet_is_resent_once_per_round_trip() -> None:
    b, clock, _ = budget(10_000.0, rtt_s=0.3)
    assert b.allow([7]) == [7]
    clock.now += 0.1
    assert b.allow([7]) == []  # asked again before the resend could arrive
    clock.now += 0.25
    assert b.allow([7]) == [7]
    # Without an RTT yet, 100 ms apart at least.
    b2, clock2, _ = budget(10_000.0, rtt_s=None)
    assert b2.allow([9]) == [9]
    clock2.now += 0.05
    assert b2.allow([9]) == []
    clock2.now += 0.06
    assert b2.allow([9]) == [9]


def test_a_rate_cut_takes_effect_at_once() -> None:
    b, clock, rate = budget(880.0)
    assert len(b.allow(range(20))) == 20
    rate[0] = 0.0  # the leg went sound-only: video resends stop
    clock.now += 1.0
    assert b.allow(range(100, 120)) == []
