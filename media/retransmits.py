"""A budget for the retransmissions a leg makes when its participant reports lost packets (NACK).

aiortc's sender answers every sequence number of every NACK with a retransmission, at once and
without limit. On a collapsed link that is a storm: the participant's browser asks again for each
packet up to ten times, the retransmissions are lost like the originals, and the downlink stays
full for seconds after the leg stopped sending video. The sound-only leg then reads 90 % loss on
its own audio and drops to text, on a link that carries sound (seen in the browser test of a
60 kbit/s link: 15 kbit/s of relayed audio, 92 % reported lost, for as long as the NACKs lasted).

The class is closed here, at the one place retransmissions start, the way libwebrtc does it:
- a packet is resent at most once per round trip (`min_interval_s` at least): a second request
  for it within that time asked before the first resend could arrive;
- resends are bounded by a token bucket refilled at a share of what the leg sends the participant
  (`RETRANSMIT_SHARE` of its video target); a stream the leg is not sending (sound-only, text-only)
  gets no resends at all, since its receiver will need a fresh keyframe anyway.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

# Share of the video target that may go to resends. 25 % repairs random loss well past what video
# keeps (its ceiling is 15 %); beyond that, resends only feed the congestion that lost the packets.
RETRANSMIT_SHARE = 0.25
# Size the budget counts per resent packet (a full video packet, the usual case).
PACKET_BYTES = 1100
# The bucket holds at most this many seconds of budget: a short burst of loss is repaired at
# once, a long one is not paid for twice.
BURST_S = 0.5
MIN_INTERVAL_S = 0.1
# Sequence numbers whose last resend is remembered (aiortc keeps 128 packets of history).
REMEMBERED = 256


class RetransmitBudget:
    """Which of a NACK's sequence numbers this leg resends now."""

    def __init__(
        self,
        budget_kbps: Callable[[], float],
        rtt_s: Callable[[], float | None],
        clock: Callable[[], float],
    ) -> None:
        self._budget_kbps = budget_kbps
        self._rtt_s = rtt_s
        self._clock = clock
        self._tokens = 0.0  # packets
        self._refilled_at: float | None = None
        self._resent: OrderedDict[int, float] = OrderedDict()
        self.resent = 0
        self.refused = 0

    def allow(self, lost: Iterable[int]) -> list[int]:
        now = self._clock()
        rate = max(0.0, self._budget_kbps()) * 1000.0 / 8.0 / PACKET_BYTES  # packets/s
        if self._refilled_at is None:
            self._tokens = rate * BURST_S
        else:
            self._tokens = min(rate * BURST_S, self._tokens + rate * (now - self._refilled_at))
        self._refilled_at = now
        spacing = max(MIN_INTERVAL_S, self._rtt_s() or 0.0)
        out: list[int] = []
        for seq in lost:
            last = self._resent.get(seq)
            if (last is not None and now - last < spacing) or self._tokens < 1.0:
                self.refused += 1
                continue
            self._tokens -= 1.0
            self._resent[seq] = now
            self._resent.move_to_end(seq)
            if len(self._resent) > REMEMBERED:
                self._resent.popitem(last=False)
            out.append(seq)
        self.resent += len(out)
        return out
