"""The target pages of a big report come from a process pool (reports.html): the same bytes
as from one process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.model import Status
from reports import render_report
from reports.data import load_report
from tests.support.factories import V6, full_registry, make_store

__all__ = ["full_registry"]

PORTAL = "portal.example.gov.vn"
StoreAndIds = tuple[Any, list[int]]


@pytest.fixture
def store(full_registry: None, tmp_path: Path) -> Iterator[StoreAndIds]:
    st, ids = make_store(
        tmp_path / "s.db",
        scans=[
            {
                (PORTAL, "ipv6.web.reach"): Status.FAIL,
                (f"{PORTAL}@{V6}", "tls.cert.expiry"): Status.WARN,
            }
        ],
    )
    with st:
        yield st, ids


def test_pool_pages_are_the_single_process_pages(store: StoreAndIds, tmp_path: Path) -> None:
    st, ids = store
    data = load_report(st, ids[-1])
    one = render_report(st, data, tmp_path / "one", "vi", workers=1)
    two = render_report(st, data, tmp_path / "two", "vi", workers=2)
    rel = sorted(str(p.relative_to(tmp_path / "one")) for p in one)
    assert rel == sorted(str(p.relative_to(tmp_path / "two")) for p in two)
    assert any(r.startswith("hosts/") for r in rel) and any(r.startswith("zones/") for r in rel)
    for r in rel:
        assert (tmp_path / "one" / r).read_bytes() == (tmp_path / "two" / r).read_bytes(), r
