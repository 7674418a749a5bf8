"""Reports that scale (issue #18): the JSON streamed with the bytes of one ``json.dumps``, one
scoring per run shared by every output, the target pages streamed target by target, and big
host pages grouped by cause. The page pool: tests/integration/test_report_pool.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import reports.data
from auditor.cli import main
from auditor.model import Finding, Status, TargetKind
from reports import render_all
from reports.data import load_report
from reports.html import target_stream
from reports.jsonout import scan_chunks, scan_document, write_json
from reports.views import result_groups
from tests.support.factories import HOSTILE, V6, full_registry, make_store, raw_sql

__all__ = ["full_registry"]

S = Status
PORTAL = "portal.example.gov.vn"
StoreAndIds = tuple[Any, list[int]]


@pytest.fixture
def store(full_registry: None, tmp_path: Path) -> Iterator[StoreAndIds]:
    st, ids = make_store(
        tmp_path / "s.db",
        scans=[
            {(PORTAL, "ipv6.web.reach"): S.FAIL},
            {(PORTAL, "ipv6.web.reach"): S.FAIL, (f"{PORTAL}@{V6}", "tls.cert.expiry"): S.WARN},
        ],
    )
    with st:
        yield st, ids


def test_streamed_json_is_byte_for_byte_one_dumps(store: StoreAndIds, tmp_path: Path) -> None:
    st, ids = store
    # A newline and a tab inside remote text: escaped in strings, never a structural break.
    raw_sql(
        st,
        "UPDATE findings SET message = message || ? WHERE target = ?",
        ("\n\t" + HOSTILE, PORTAL),
    )
    path = tmp_path / "scan.json"
    write_json(st, ids[-1], path)
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert text == json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    assert len(doc["findings"]) > 10 and doc["agencies"]
    assert any("\n\t" in f["message"] for f in doc["findings"])
    assert list(doc) == [
        "schema_version", "scan", "findings", "previous_scan", "profile", "coverage",
        "agencies", "requirements",
    ]  # fmt: skip
    # the shared scoring gives the same document as scoring here
    shared = "".join(scan_chunks(st, ids[-1], report=load_report(st, ids[-1])))
    assert shared == text
    assert not (tmp_path / ".scan.json.part").exists()


def test_streamed_json_without_scoring_and_without_findings(
    store: StoreAndIds, tmp_path: Path
) -> None:
    st, ids = store
    raw_sql(st, "UPDATE scans SET profile = ? WHERE id = ?", ("no-such-profile", ids[-1]))
    raw_sql(st, "DELETE FROM findings WHERE scan_id = ?", (ids[-1],))
    text = "".join(scan_chunks(st, ids[-1], "no-such-profile"))
    doc = json.loads(text)
    assert text == json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    assert doc["findings"] == [] and "no-such-profile" in doc["scoring_error"]
    assert list(doc) == ["schema_version", "scan", "findings", "scoring_error"]


def test_one_scoring_for_every_output_of_a_run(
    store: StoreAndIds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _st, ids = store
    calls: list[int] = []
    real = reports.data.load_report

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(reports.data, "load_report", counted)
    db = str(tmp_path / "s.db")
    out = tmp_path / "out"
    code = main(
        ["report", "--db", db, "--out", str(out / "html"), "--json", str(out / "s.json"),
         "--csv", str(out / "s.csv"), "--markdown", str(out / "s.md")]
    )  # fmt: skip
    assert code == 0 and len(calls) == 1
    assert (out / "html/index.html").is_file() and (out / "s.json").is_file()
    assert json.loads((out / "s.json").read_text())["scan"]["id"] == ids[-1]


def _f(target: str, check: str, status: Status = S.PASS, address: str | None = None) -> Finding:
    return Finding(check, TargetKind.HOST, target, address, status, f"{check} {status.value}")


def test_target_stream_pairs_findings_with_observations_in_any_order() -> None:
    findings = [_f("a", "c1"), _f("a", "c2"), _f("b", "c1"), _f("d", "c1")]
    obs = [(TargetKind.HOST, n, json.dumps({"host": n})) for n in ("a", "c", "d")]
    got = {k: ([f.check for f in fs], o) for k, fs, o in target_stream(findings, obs)}
    assert got == {
        ("host", "a"): (["c1", "c2"], {"host": "a"}),
        ("host", "b"): (["c1"], {}),
        ("host", "c"): ([], {"host": "c"}),
        ("host", "d"): (["c1"], {"host": "d"}),
    }
    # another order than Python's (a database collation): paired all the same
    backwards = list(reversed(obs))
    again = {k: ([f.check for f in fs], o) for k, fs, o in target_stream(findings, backwards)}
    assert again == got


def test_big_host_pages_group_causes_and_say_each_untested_reason_once(
    store: StoreAndIds, tmp_path: Path
) -> None:
    st, ids = store
    reason = f"TCP 443 refused: no TLS handshake {HOSTILE}"
    raw_sql(
        st,
        "UPDATE findings SET status = 'not_tested', message = ? "
        "WHERE target = ? AND check_id LIKE 'tls.%' AND address LIKE '%:%'",
        (reason, PORTAL),
    )
    hit = sum(1 for f in st.findings(ids[-1]) if f.target == PORTAL and f.message == reason)
    assert hit > 5
    render_all(st, ids[-1], tmp_path, "en")
    page = (tmp_path / f"hosts/{PORTAL}.html").read_text(encoding="utf-8")
    escaped = reason.replace("<", "&lt;").replace(">", "&gt;")
    assert page.count(escaped) == 1 and HOSTILE not in page
    assert f"{hit} check(s) not tested for this reason" in page
    assert 'id="not-tested"' in page


def test_result_groups_merge_alike_findings_and_keep_the_rest_apart() -> None:
    fs = [
        _f("h", "http.hsts", S.PASS, "192.0.2.1"),
        _f("h", "http.hsts", S.PASS, "2001:db8::1"),
        _f("h", "tls.available", S.FAIL, "2001:db8::1"),
        Finding("tls.cert.key", TargetKind.HOST, "h", "2001:db8::1", S.NOT_TESTED, "no TLS"),
        Finding("tls.ciphers", TargetKind.HOST, "h", "2001:db8::1", S.NOT_TESTED, "no TLS"),
        Finding("tls.ciphers", TargetKind.HOST, "h", "192.0.2.1", S.ERROR, "probe crashed"),
    ]
    groups, untested = result_groups(fs, ["tls.available", "http.hsts"], str.upper)
    assert [(g.check, g.status, [w.address for w in g.where]) for g in groups] == [
        ("tls.available", "fail", ["2001:db8::1"]),  # what fails first
        ("http.hsts", "pass", ["192.0.2.1", "2001:db8::1"]),  # one cause, both addresses
    ]
    assert groups[1].evidence_shared and groups[1].title == "HTTP.HSTS"
    assert [(u.status, u.reason, [h.check for h in u.hits]) for u in untested] == [
        ("error", "probe crashed", ["tls.ciphers"]),
        ("not_tested", "no TLS", ["tls.cert.key", "tls.ciphers"]),
    ]


def test_json_document_is_the_streamed_one(store: StoreAndIds) -> None:
    st, ids = store
    doc = scan_document(st, ids[-1])
    assert doc == json.loads("".join(scan_chunks(st, ids[-1])))


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, -0.0, 1e300, True, False, None], "b": {}, "c": [], "d": {"e": [{}]}},
        {"ü\u202e": '\x00\n\t"\\ <script>', "n": 10**30, "t": (1, "x"), "f": 0.1 + 0.2},
        {1: "int key", "x": float("nan")},  # what the fast path leaves to json.dumps
        [Status.PASS, {"deep": [[[]]]}],
        "plain",
        None,
    ],
)
def test_member_encoding_is_json_dumps_indent_2(value: Any) -> None:
    from reports.jsonout import _dumps

    for level in (0, 1, 2):
        expected = json.dumps(value, ensure_ascii=False, indent=2).replace(
            "\n", "\n" + "  " * level
        )
        assert _dumps(value, level) == expected
