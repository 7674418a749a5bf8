"""Text clipping for messages, evidence and terminals: one rule everywhere.

Remote text (a header, a TXT record, a server banner) goes into messages, reports and
terminal lines; it is kept short there so that a hostile or broken server cannot flood a
report. Six hand-written variants used to disagree on whether the marker counts towards the
limit; here it always does: the result of :func:`clip` is never longer than ``limit``.
"""

from __future__ import annotations

ELLIPSIS = "…"


def clip(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """``text`` itself when it fits in ``limit`` characters, else its start followed by
    ``marker``, ``limit`` characters in all (the marker alone, cut, if it does not fit)."""
    if len(text) <= limit:
        return text
    if len(marker) >= limit:
        return marker[: max(limit, 0)]
    return text[: limit - len(marker)] + marker


def one_line(text: str, limit: int | None = None, marker: str = ELLIPSIS) -> str:
    """``text`` on one line: every non-printable character (control characters, line and
    paragraph separators) becomes a space, runs of whitespace become one space, and the
    result is clipped to ``limit`` when one is given."""
    clean = "".join(ch if ch.isprintable() else " " for ch in text)
    clean = " ".join(clean.split())
    return clean if limit is None else clip(clean, limit, marker)
