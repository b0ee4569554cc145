"""The browser's link check (web_client/src/net/link_check.js) starts a call in the mode the
server's adaptation would keep: its thresholds are the policy's defaults (media/policy.py)."""

from __future__ import annotations

import re
from pathlib import Path

from media.policy import PolicyConfig

JS = Path(__file__).resolve().parents[2] / "web_client" / "src" / "net" / "link_check.js"


def _const(name: str) -> float:
    found = re.search(
        rf"^export const {name} = ([0-9.]+)(?: \* ([0-9.]+))?;$", JS.read_text(), re.M
    )
    assert found, f"{name} not found in {JS.name}"
    value = float(found.group(1))
    return value * float(found.group(2)) if found.group(2) else value


def test_thresholds_are_the_policy_defaults() -> None:
    p = PolicyConfig()
    assert _const("VIDEO_KBPS") == p.floor_video_low_kbps * p.climb_margin
    assert _const("AUDIO_KBPS") == p.floor_audio_kbps * p.climb_margin
    assert _const("VIDEO_MAX_LOSS") == p.loss_degrade
    assert _const("AUDIO_MAX_LOSS") == p.loss_degrade_audio
