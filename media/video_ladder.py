"""The video ladder: which picture (size and frame rate) a video rate buys.

One table for the two places that pick a picture from a rate: `AdaptiveVp8Encoder`
(media/aiortc_adapt.py), which really sends it, and `targets_for` (media/policy.py), whose
`Targets` name the picture of a mode at a rate (the replay clips of bench/media_load.py, the
table of docs/media.md). They used to be two tables with their own thresholds; the two columns
keep what each did, so that neither the encoder's output nor any bench figure moved when they
became one. They part below 400 kbit/s: the encoder, tuned on libvpx at thin rates, goes down to
160x120 and to 20 fps from 350 kbit/s; the targets keep video-low at 320x180 or more and
video-high at 25 fps. Making the columns agree is a change of behaviour, to be measured first.

Sizes keep 4:3 (the synthetic and fake-camera sources); a 16:9 source is scaled to the same box.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VIDEO_LADDER", "Picture", "Rung", "rung_at"]


@dataclass(frozen=True, slots=True)
class Picture:
    width: int
    height: int
    fps: int


@dataclass(frozen=True, slots=True)
class Rung:
    """From `min_kbps` of video up to the next rung."""

    min_kbps: int
    encoder: Picture  # what AdaptiveVp8Encoder sends
    target: Picture  # what a mode's targets name


# Highest first. 100-150 kbit/s (video-low) lands on 320x240 at 15 fps in both columns; the
# targets never fall between video-low's top (126) and video-high's bottom (180).
VIDEO_LADDER: tuple[Rung, ...] = (
    Rung(700, Picture(640, 480, 30), Picture(640, 480, 30)),
    Rung(400, Picture(480, 360, 25), Picture(480, 360, 25)),
    Rung(350, Picture(480, 360, 25), Picture(320, 240, 25)),
    Rung(160, Picture(320, 240, 20), Picture(320, 240, 25)),
    Rung(100, Picture(320, 240, 15), Picture(320, 240, 15)),
    Rung(90, Picture(320, 240, 15), Picture(320, 180, 10)),
    Rung(0, Picture(160, 120, 10), Picture(320, 180, 10)),
)


def rung_at(kbps: float) -> Rung:
    """The rung of a video rate in kbit/s (anything below the lowest rung gets that one)."""
    for rung in VIDEO_LADDER:
        if kbps >= rung.min_kbps:
            return rung
    return VIDEO_LADDER[-1]
