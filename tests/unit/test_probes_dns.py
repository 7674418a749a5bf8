"""The DNS probes' pure parts: parsing, answers and statuses built in-process.

The probes against a DNS server on 127.0.0.1 are tests/integration/test_probes_dns.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.probes.dnssec import (
    AnchorError,
    load_trust_anchors,
)

# ------------------------------------------------------------------ own validation (--trust-anchor)


def test_trust_anchor_file_errors(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("not a record\n")
    with pytest.raises(AnchorError):
        load_trust_anchors(str(tmp_path / "a"))
    with pytest.raises(AnchorError):
        load_trust_anchors(str(tmp_path / "missing"))
    # unbound.conf's own syntax is accepted too
    (tmp_path / "b").write_text('trust-anchor: ". DS 7380 13 2 ' + "ab" * 32 + '"\n')
    assert list(load_trust_anchors(str(tmp_path / "b"))) == ["."]
    (tmp_path / "c").write_text('". DS 7380 13 2 ' + "ab" * 32 + '"\n')
    assert list(load_trust_anchors(str(tmp_path / "c"))) == ["."]
