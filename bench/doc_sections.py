"""Writing one bench's section of docs/performance.md without touching the others."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def write_section(heading: str, lines: list[str], doc: Path = DOC) -> None:
    """Replace the section under `heading` (up to the next `## ` heading), or append it."""
    text = doc.read_text() if doc.exists() else "# Performance\n"
    body = "\n".join(lines).rstrip() + "\n"
    if heading in text:
        head, rest = text.split(heading, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
        text = head + body + ("\n" + tail if tail else "")
    else:
        text = text.rstrip() + "\n\n" + body
    doc.write_text(text)
