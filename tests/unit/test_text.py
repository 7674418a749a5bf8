"""auditor.text: the one clipping rule (the marker counts towards the limit)."""

from __future__ import annotations

from auditor.text import ELLIPSIS, clip, one_line


def test_clip_keeps_text_that_fits() -> None:
    assert clip("abc", 3) == "abc"
    assert clip("", 0) == ""


def test_clip_never_exceeds_the_limit() -> None:
    for limit in range(0, 12):
        for marker in ("…", "...", ""):
            out = clip("x" * 20, limit, marker)
            assert len(out) <= limit, (limit, marker, out)
    assert clip("abcdef", 4) == "abc" + ELLIPSIS
    assert clip("abcdef", 5, "...") == "ab..."


def test_clip_marker_longer_than_limit() -> None:
    assert clip("abcdef", 2, "...") == ".."
    assert clip("abcdef", 0) == ""


def test_one_line_removes_controls_and_collapses_whitespace() -> None:
    assert one_line("a\r\n\tb\x00\x1b[31mc  d\u2028e") == "a b [31mc d e"
    assert one_line("  padded  ") == "padded"


def test_one_line_clips_after_cleaning() -> None:
    assert one_line("a\n\n\nbcdef", 4) == "a b" + ELLIPSIS
    assert one_line("a b", 3) == "a b"
