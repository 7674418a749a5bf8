"""docs/CHECKS.md is generated from the check metadata and must be up to date."""

from __future__ import annotations

from pathlib import Path

from reports.catalogue import render
from tests.support.factories import CATALOGUE

DOC = Path(__file__).resolve().parents[2] / "docs" / "CHECKS.md"


def test_checks_md_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/CHECKS.md is stale: run `python -m reports.catalogue > docs/CHECKS.md`"
    )


def test_catalogue_lists_every_required_check() -> None:
    text = render()
    for cid in CATALOGUE:
        assert f"\n### {cid}\n" in text, cid
    assert "## Profiles that did not load" not in text
