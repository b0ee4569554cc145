"""Who is speaking: the participant whose video the others see in a call of three or more.

Pure and deterministic (levels and times in, a name out), like the adaptation policy, so the
hysteresis is unit-tested on made-up level traces. The mixer measures each source's level every
20 ms (`media/mixer.py`); `Call` feeds them here and re-routes video when the speaker changes.

Why hysteresis: a switch costs every viewer a keyframe (a burst on a thin link, and a freeze
until it arrives), and people overlap, cough and say "hm". So levels are smoothed (`smooth_s`),
a participant must stay the loudest and clearly louder than the current speaker (`margin_db`,
or the speaker fell silent) for `hold_s` before taking over, and no switch happens within
`min_dwell_s` of the previous one. The smoothing averages decibels, not power: averaged as
power, a 300 ms cough 20 dB above the speaker stays "louder" for a second after it ends and
takes the picture; in decibels it never clears the margin. Silence counts as `floor_dbov` in
that average, so a new voice rises past the speech threshold in ~0.2 s and takes over about
0.8 s after the previous one stopped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpeakerConfig:
    speech_dbov: float = -50.0  # quieter than this (smoothed) is not speaking
    smooth_s: float = 0.3  # time constant of the level's moving average (power)
    margin_db: float = 6.0  # a challenger must be this much louder than a speaking speaker
    hold_s: float = 0.6  # for this long
    min_dwell_s: float = 1.5  # and never within this of the last switch
    floor_dbov: float = -80.0  # silence, in the smoothed average


class ActiveSpeaker:
    """Tracks the current speaker and the order in which participants last spoke."""

    def __init__(self, config: SpeakerConfig | None = None) -> None:
        self.config = config or SpeakerConfig()
        self._level: dict[str, float] = {}
        self._last_t: float | None = None
        self._challenger: str | None = None
        self._challenge_since = 0.0
        self._switched_at = -math.inf
        # Most recent speaker first.
        self.history: list[str] = []

    @property
    def current(self) -> str | None:
        return self.history[0] if self.history else None

    def level(self, who: str) -> float:
        """The smoothed level of a participant, in dBov."""
        return self._level.get(who, self.config.floor_dbov)

    def forget(self, who: str) -> None:
        """A participant left: it can no longer be the speaker."""
        self._level.pop(who, None)
        if who in self.history:
            self.history.remove(who)
        if self._challenger == who:
            self._challenger = None

    def update(self, t: float, levels: Mapping[str, float]) -> str | None:
        """One measurement (`levels` in dBov; a participant missing from it is silent) at time
        `t` (seconds, increasing). Returns the speaker after it."""
        cfg = self.config
        dt = 0.02 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        alpha = 1.0 - math.exp(-dt / cfg.smooth_s) if cfg.smooth_s > 0 else 1.0
        for who in set(self._level) | set(levels):
            old = self._level.get(who, cfg.floor_dbov)
            new = max(cfg.floor_dbov, levels.get(who, cfg.floor_dbov))
            self._level[who] = old + alpha * (new - old)
        loudest = self._loudest()
        current = self.current
        if loudest is None or loudest == current or not self._beats(loudest, current):
            self._challenger = None
            return current
        if self._challenger != loudest:
            self._challenger, self._challenge_since = loudest, t
        if t - self._challenge_since >= cfg.hold_s and t - self._switched_at >= cfg.min_dwell_s:
            self._switch(loudest, t)
        return self.current

    def _loudest(self) -> str | None:
        speaking = [who for who in self._level if self._level[who] >= self.config.speech_dbov]
        if not speaking:
            return None
        return max(speaking, key=lambda who: (self._level[who], who))

    def _beats(self, challenger: str, current: str | None) -> bool:
        if current is None or self.level(current) < self.config.speech_dbov:
            return True
        return self.level(challenger) >= self.level(current) + self.config.margin_db

    def _switch(self, who: str, t: float) -> None:
        if who in self.history:
            self.history.remove(who)
        self.history.insert(0, who)
        self._switched_at = t
        self._challenger = None

    def shown_to(self, receiver: str, present: Iterable[str]) -> str | None:
        """Whose video `receiver` should see: the latest speaker other than itself (the speaker
        sees whoever spoke before), among `present`; None when nobody has spoken yet."""
        here = set(present)
        for who in self.history:
            if who != receiver and who in here:
                return who
        return None
