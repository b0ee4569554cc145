"""Writing one bench's section of docs/performance.md without touching the others."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
NUMBERED = re.compile(r"^## (\d+)\. ", re.MULTILINE)
# In a section, the analysis written by hand below this line survives the bench's rewrite of
# the section (runs and their readings accumulate there; a rewrite once wiped a day's of them).
HAND_WRITTEN = "<!-- written by hand below: kept when the bench rewrites this section -->"


def write_section(heading: str, lines: list[str], doc: Path = DOC) -> None:
    """Replace the section under `heading` (up to the next `## ` heading), or add it: a numbered
    heading ("## 8. ...") goes before the first section with a higher number, so the sections
    stay in order whichever bench runs first; anything else goes at the end."""
    text = doc.read_text() if doc.exists() else "# Performance\n"
    body = "\n".join(lines).rstrip() + "\n"
    if heading in text:
        head, rest = text.split(heading, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
        section = rest[:nxt] if nxt >= 0 else rest
        if HAND_WRITTEN in section:
            kept = section[section.index(HAND_WRITTEN) :].rstrip()
            body += "\n" + kept + "\n"
        text = head + body + ("\n" + tail if tail else "")
    else:
        number = NUMBERED.match(heading + " ")
        later = [
            m.start()
            for m in NUMBERED.finditer(text)
            if number is not None and int(m.group(1)) > int(number.group(1))
        ]
        if later:
            text = text[: later[0]] + body + "\n" + text[later[0] :]
        else:
            text = text.rstrip() + "\n\n" + body
    doc.write_text(text)
