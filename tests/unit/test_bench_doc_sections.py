"""bench/doc_sections.py: each bench rewrites its own section of docs/performance.md, and a
numbered section lands in order whichever bench runs first (no timing here)."""

from __future__ import annotations

from pathlib import Path

from bench.doc_sections import HAND_WRITTEN, write_section


def _headings(doc: Path) -> list[str]:
    return [ln for ln in doc.read_text().splitlines() if ln.startswith("## ")]


def test_sections_are_replaced_in_place_and_added_in_number_order(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\n## 7. Seven\n\nseven\n")
    write_section("## 9. Nine", ["## 9. Nine", "", "nine"], doc)
    write_section("## 8. Eight", ["## 8. Eight", "", "eight"], doc)
    write_section("## 9. Nine", ["## 9. Nine", "", "nine, again"], doc)
    write_section("## Notes", ["## Notes", "", "unnumbered: at the end"], doc)
    assert _headings(doc) == ["## 7. Seven", "## 8. Eight", "## 9. Nine", "## Notes"]
    text = doc.read_text()
    assert "nine, again" in text and "\nnine\n" not in text
    assert "seven" in text and "eight" in text


def test_the_hand_written_part_of_a_section_survives_a_rewrite(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    write_section("## 16. Storm", ["## 16. Storm", "", "table 1"], doc)
    doc.write_text(
        doc.read_text() + f"\n{HAND_WRITTEN}\n\nwhy the storm took 24 s\n\n## 17. Next\n"
    )
    write_section("## 16. Storm", ["## 16. Storm", "", "table 2"], doc)
    text = doc.read_text()
    assert "table 2" in text and "table 1" not in text
    assert text.index("table 2") < text.index("why the storm took 24 s") < text.index("## 17.")
    assert _headings(doc) == ["## 16. Storm", "## 17. Next"]
