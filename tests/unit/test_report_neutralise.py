"""Invisible and direction-changing characters from remote data are shown, not obeyed."""

from __future__ import annotations

from markupsafe import Markup

from reports.html import _env, neutralise


def test_bidi_override_and_control_characters_become_visible() -> None:
    hostile = "admin\u202egpj.exe\x07\x1b[31m\u200b"
    shown = neutralise(hostile)
    assert "\u202e" not in shown and "\x07" not in shown and "\x1b" not in shown
    assert "⟨U+202E⟩" in shown and "⟨U+0007⟩" in shown and "⟨U+001B⟩" in shown
    assert neutralise("Sở Nội vụ\tline\nnext") == "Sở Nội vụ\tline\nnext"  # text stays text
    assert neutralise(42) == 42


def test_every_template_output_is_neutralised_then_escaped() -> None:
    page = (
        _env()
        .from_string("<p>{{ remote }}</p>{{ trusted }}")
        .render(remote="<script>x</script>\u202e", trusted=Markup("<hr>"))
    )
    assert page == "<p>&lt;script&gt;x&lt;/script&gt;⟨U+202E⟩</p><hr>"
