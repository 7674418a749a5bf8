"""The store suite: what every store backend must do, run against each of BACKENDS
(tests/integration/conftest.py). It speaks only the Store interface, never SQL, so a new
backend passes or fails it unchanged.

Covered: every Store method; the per-target transaction (a failure anywhere inside it
leaves nothing of that target, and the store goes on); re-recording a (scan, target)
replaces it, also when two processes deliver the same target at once; text round-trips
exactly; status counts; history and the latest/previous/unfinished scan queries.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from auditor.model import Finding, Status, TargetKind
from auditor.store import Sink, Store, StoreNotFound, open_store
from tests.integration.conftest import Backend

H, Z = TargetKind.HOST, TargetKind.ZONE


def _finding(
    target: str,
    check: str = "dns.resolve",
    status: Status = Status.PASS,
    address: str | None = None,
    message: str = "msg",
    kind: TargetKind = H,
) -> Finding:
    return Finding(check, kind, target, address, status, message, {"k": [1, "x"]}, 0.5)


def _begin(store: Store, inventory_path: str = "/inv.yaml", kind: str = "scan", **kw: Any) -> int:
    return store.begin_scan(
        profile="vn-gov",
        inventory_path=inventory_path,
        inventory_name="Tỉnh",
        inventory={"agencies": []},
        options={"timeout": 1},
        kind=kind,
        **kw,
    )


def _complete(store: Store, inventory_path: str = "/inv.yaml", kind: str = "scan") -> int:
    scan = _begin(store, inventory_path, kind)
    store.finish_scan(scan, "complete")
    return scan


# -- scans ------------------------------------------------------------------------------


def test_url_names_a_store_another_connection_opens(backend: Backend) -> None:
    with backend.open() as store:
        assert store.shared
        scan = _begin(store)
        url = store.url
    with open_store(url, create=False) as again:
        assert [s.id for s in again.scans()] == [scan]


def test_a_missing_store_is_not_created_when_asked_not_to(backend: Backend) -> None:
    with pytest.raises(StoreNotFound):
        backend.open(create=False)
    with backend.open():
        pass
    backend.open(create=False).close()


def test_scan_lifecycle(store: Store) -> None:
    scan = store.begin_scan(
        profile="vn-gov",
        inventory_path="/inv.yaml",
        inventory_name="Tỉnh Quảng Ninh",
        inventory={"agencies": [{"id": "sở", "hosts": ["a.vn"]}]},
        options={"timeout": 1.5, "ports": [443]},
    )
    rec = store.scan(scan)
    assert (rec.status, rec.kind, rec.finished, rec.source_scan) == ("running", "scan", None, None)
    assert rec.inventory == {"agencies": [{"id": "sở", "hosts": ["a.vn"]}]}
    assert rec.options == {"timeout": 1.5, "ports": [443]}
    assert rec.stats == {} and rec.tool_version and rec.started
    store.finish_scan(scan, "interrupted", {"connections": 3, "nested": {"a": [1]}})
    rec = store.scan(scan)
    assert rec.status == "interrupted" and rec.finished is not None
    assert rec.stats == {"connections": 3, "nested": {"a": [1]}}
    store.reopen_scan(scan)
    rec = store.scan(scan)
    assert (rec.status, rec.finished) == ("running", None)
    assert rec.stats == {"connections": 3, "nested": {"a": [1]}}  # kept for the resume
    store.finish_scan(scan, "complete")
    assert store.scan(scan).stats == {}
    evaluation = _begin(store, kind="evaluation", source_scan=scan)
    assert store.scan(evaluation).source_scan == scan
    with pytest.raises(KeyError, match="no scan with id 999"):
        store.scan(999)


def test_history_queries(store: Store) -> None:
    first = _complete(store)
    other = _complete(store, "/other.yaml")
    running = _begin(store)
    second = _complete(store)
    evaluation = _complete(store, kind="evaluation")
    gate = _complete(store, "<gate>", kind="gate")
    assert [s.id for s in store.scans()] == [first, other, running, second, evaluation, gate]
    assert [s.id for s in store.scans(kind="scan")] == [first, other, running, second]
    assert [s.id for s in store.scans(kind="gate")] == [gate]

    def latest(**kw: Any) -> int | None:
        found = store.latest_scan(**kw)
        return found.id if found else None

    assert latest() == gate  # complete, any kind
    assert latest(kind="scan") == second
    assert latest(status="running") == running
    assert latest(status=None) == gate
    assert latest(status="failed") is None
    assert latest(status="running", kind="gate") is None

    previous = store.previous_scan(second)
    assert previous is not None and previous.id == first  # same inventory, complete
    assert store.previous_scan(first) is None
    with pytest.raises(KeyError):
        store.previous_scan(999)


def test_unfinished_scan_for_resume(store: Store) -> None:
    assert store.unfinished_scan("/inv.yaml") is None
    old = _begin(store)
    store.finish_scan(old, "failed")
    new = _begin(store)
    store.finish_scan(new, "interrupted")
    _begin(store, kind="gate")  # a gate is never resumed
    found = store.unfinished_scan("/inv.yaml")
    assert found is not None and found.id == new  # the latest
    store.finish_scan(new, "complete")
    found = store.unfinished_scan("/inv.yaml")
    assert found is not None and found.id == old
    assert store.unfinished_scan("/other.yaml") is None


# -- targets ------------------------------------------------------------------------------


def test_save_target_and_read_it_back(store: Store) -> None:
    sink: Sink = store  # what the engine writes into
    scan = _begin(store)
    findings = [
        _finding("www.a.vn", "tls.version", Status.FAIL, "2001:db8::1"),
        _finding("www.a.vn", "tls.version", Status.WARN, "192.0.2.1"),
        _finding("www.a.vn", "tls.version", Status.PASS, None),
        _finding("www.a.vn", "dns.resolve"),
    ]
    sink.save_target(scan, H, "www.a.vn", '{"x": 1}', findings, "t0")
    sink.save_target(scan, Z, "a.vn", '{"z": 1}', [_finding("a.vn", "dns.dnssec", kind=Z)], "t0")
    sink.save_target(scan, H, "empty.a.vn", "{}", [], "t0")
    assert store.done_targets(scan) == {
        ("host", "www.a.vn"),
        ("zone", "a.vn"),
        ("host", "empty.a.vn"),
    }
    # ordered by kind, target, check, then address (no address first)
    assert [(f.target, f.check, f.address) for f in store.findings(scan)] == [
        ("www.a.vn", "dns.resolve", None),
        ("www.a.vn", "tls.version", None),
        ("www.a.vn", "tls.version", "192.0.2.1"),
        ("www.a.vn", "tls.version", "2001:db8::1"),
        ("a.vn", "dns.dnssec", None),
    ]
    assert store.findings(scan)[0] == findings[3]
    observations = store.observations(scan)
    assert isinstance(observations, Iterator)  # streamed
    assert list(observations) == [
        (H, "empty.a.vn", "{}"),
        (H, "www.a.vn", '{"x": 1}'),
        (Z, "a.vn", '{"z": 1}'),
    ]
    light = store.light_findings(scan)

    def essentials(found: list[Finding]) -> list[tuple[Any, ...]]:
        return sorted(((f.target, f.check, f.address, f.status, f.score) for f in found), key=repr)

    assert essentials(light) == essentials([*findings, _finding("a.vn", "dns.dnssec", kind=Z)])
    assert {f.message for f in light} == {""} and all(f.evidence == {} for f in light)
    # another scan is another scan
    assert store.findings(_begin(store)) == [] and store.done_targets(scan + 1) == set()


def test_status_counts_include_every_status(store: Store) -> None:
    scan = _begin(store)
    assert store.status_counts(scan) == {s.value: 0 for s in Status}
    statuses = [Status.FAIL, Status.FAIL, Status.PASS, Status.ERROR, Status.NOT_TESTED]
    for i, status in enumerate(statuses):
        store.save_target(scan, H, f"h{i}", "{}", [_finding(f"h{i}", status=status)], "t")
    counts = store.status_counts(scan)
    assert set(counts) == {s.value for s in Status}
    assert (counts["fail"], counts["pass"], counts["error"], counts["not_tested"]) == (2, 1, 1, 1)
    assert sum(counts.values()) == len(statuses)
    assert store.status_counts(scan + 1) == {s.value: 0 for s in Status}


def test_saving_a_target_again_replaces_it(store: Store) -> None:
    scan = _begin(store)
    for _ in range(3):  # re-delivered, e.g. a worker's shard run again after a crash
        store.save_target(scan, H, "h", '{"v": 1}', [_finding("h"), _finding("h", "x")], "t0")
    store.save_target(scan, H, "h", '{"v": 2}', [_finding("h", status=Status.FAIL)], "t1")
    assert [f.status for f in store.findings(scan)] == [Status.FAIL]
    assert list(store.observations(scan)) == [(H, "h", '{"v": 2}')]
    assert store.done_targets(scan) == {("host", "h")}
    assert sum(store.status_counts(scan).values()) == 1


def _fail_inside(store: Store, scan: int, name: str, where: str) -> None:
    """Save a target whose transaction fails ``where``: at the findings (a NULL message, after
    the old findings were deleted and the observation replaced), or at the very last
    statement (a NULL start time on the done-target row, after the findings went in)."""
    bad_message: Any = None if where == "findings" else "m"
    started: Any = None if where == "last" else "t"
    findings = [_finding(name, "a"), _finding(name, "b", message=bad_message)]
    with pytest.raises(Exception) as caught:
        store.save_target(scan, H, name, '{"new": true}', findings, started)
    # the driver's own error (PEP 249: IntegrityError, or psycopg's subclass of it naming
    # the SQLSTATE, NotNullViolation), not a wrapper of the library underneath
    assert "IntegrityError" in {c.__name__ for c in type(caught.value).__mro__}
    assert not type(caught.value).__module__.startswith("sqlalchemy")


@pytest.mark.parametrize("where", ["findings", "last"])
def test_a_failure_inside_the_target_transaction_leaves_nothing(store: Store, where: str) -> None:
    scan = _begin(store)
    store.save_target(scan, H, "kept", '{"old": true}', [_finding("kept", "old")], "t")
    _fail_inside(store, scan, "kept", where)  # a re-delivery that fails: the old one stays
    _fail_inside(store, scan, "new", where)  # a first delivery that fails: nothing at all
    assert store.done_targets(scan) == {("host", "kept")}
    assert [(f.target, f.check) for f in store.findings(scan)] == [("kept", "old")]
    assert list(store.observations(scan)) == [(H, "kept", '{"old": true}')]
    # and the store goes on
    store.save_target(scan, H, "new", "{}", [_finding("new")], "t")
    assert store.done_targets(scan) == {("host", "kept"), ("host", "new")}


def test_findings_that_fail_to_serialise_write_nothing(store: Store) -> None:
    scan = _begin(store)
    loop: dict[str, object] = {}
    loop["self"] = loop

    def findings() -> Iterator[Finding]:
        yield _finding("bad")
        yield Finding("x", H, "bad", None, Status.PASS, "m", loop)

    with pytest.raises(ValueError):
        store.save_target(scan, H, "bad", "{}", findings(), "t")
    assert store.done_targets(scan) == set() and store.findings(scan) == []


def test_replace_findings_of_one_scan(store: Store) -> None:
    a, b = _begin(store), _begin(store)
    store.save_target(a, H, "h", "{}", [_finding("h"), _finding("h", "x")], "t")
    store.save_target(b, H, "h", "{}", [_finding("h")], "t")
    store.replace_findings(a, [_finding("h", "new", Status.WARN)])
    assert [(f.check, f.status) for f in store.findings(a)] == [("new", Status.WARN)]
    assert len(store.findings(b)) == 1
    assert store.done_targets(a) == {("host", "h")}  # targets and observations untouched
    store.replace_findings(a, [])
    assert store.findings(a) == [] and len(store.findings(b)) == 1


def test_copy_observations_to_an_evaluation(store: Store) -> None:
    source = _begin(store)
    store.save_target(source, H, "h", '{"h": 1}', [_finding("h")], "t0")
    store.save_target(source, Z, "z.vn", '{"z": 1}', [], "t0")
    evaluation = _begin(store, kind="evaluation", source_scan=source)
    store.copy_observations(source, evaluation)
    assert list(store.observations(evaluation)) == list(store.observations(source))
    assert store.done_targets(evaluation) == store.done_targets(source)
    assert store.findings(evaluation) == []  # the evaluation judges them itself
    assert len(store.findings(source)) == 1


# -- vantages ------------------------------------------------------------------------------


def test_one_target_from_two_vantages_is_two_records(store: Store) -> None:
    scan = _begin(store)
    assert store.vantages(scan) == []
    store.save_target(scan, H, "h", '{"from": "a"}', [_finding("h")], "t", "vnpt")
    store.save_target(
        scan, H, "h", '{"from": "b"}', [_finding("h", status=Status.FAIL)], "t", "viettel"
    )
    store.save_target(scan, Z, "z.vn", "{}", [_finding("z.vn", kind=Z)], "t", "vnpt")
    assert store.vantages(scan) == ["viettel", "vnpt"]
    assert store.done_targets(scan, "vnpt") == {("host", "h"), ("zone", "z.vn")}
    assert store.done_targets(scan, "viettel") == {("host", "h")}
    assert store.done_targets(scan) == set()  # nothing seen from "local"
    assert list(store.observations(scan, "viettel")) == [(H, "h", '{"from": "b"}')]
    found = [(f.target, f.vantage, f.status) for f in store.findings(scan)]
    # ordered by kind, target, check, address, then vantage
    assert found == [
        ("h", "viettel", Status.FAIL),
        ("h", "vnpt", Status.PASS),
        ("z.vn", "vnpt", Status.PASS),
    ]
    assert [f.vantage for f in store.findings(scan, "viettel")] == ["viettel"]
    assert {f.vantage for f in store.light_findings(scan, "vnpt")} == {"vnpt"}
    assert store.status_counts(scan)["fail"] == 1 and store.status_counts(scan)["pass"] == 2


def test_a_redelivered_target_replaces_its_own_vantage_only(store: Store) -> None:
    scan = _begin(store)
    store.save_target(scan, H, "h", "{}", [_finding("h"), _finding("h", "x")], "t", "a")
    store.save_target(scan, H, "h", "{}", [_finding("h")], "t", "b")
    # the finding says "local": the vantage it is saved from wins
    store.save_target(scan, H, "h", "{}", [_finding("h", "y")], "t", "a")
    assert sorted((f.vantage, f.check) for f in store.findings(scan)) == [
        ("a", "y"),
        ("b", "dns.resolve"),
    ]


def test_replace_findings_of_one_vantage(store: Store) -> None:
    scan = _begin(store)
    store.save_target(scan, H, "h", "{}", [_finding("h")], "t", "a")
    store.save_target(scan, H, "h", "{}", [_finding("h")], "t", "b")
    store.replace_findings(scan, [_finding("h", "new")], "a")
    assert sorted((f.vantage, f.check) for f in store.findings(scan)) == [
        ("a", "new"),
        ("b", "dns.resolve"),
    ]
    # without a vantage: every finding keeps its own, the scan's are all replaced
    store.replace_findings(scan, [replace(_finding("h", "z"), vantage="b")])
    assert [(f.vantage, f.check) for f in store.findings(scan)] == [("b", "z")]


def test_vantage_footings_are_recorded_and_copied(store: Store) -> None:
    scan = _begin(store)
    store.record_vantage(scan, "a", {"ipv6": {"status": "ok"}})
    store.record_vantage(scan, "b", {"ipv6": {"status": "none"}})
    store.record_vantage(scan, "a", {"ipv6": {"status": "partial"}})  # replaces
    assert store.vantages(scan) == ["a", "b"]  # recorded, no target yet
    assert store.vantage_footings(scan) == {
        "a": {"ipv6": {"status": "partial"}},
        "b": {"ipv6": {"status": "none"}},
    }
    store.save_target(scan, H, "h", "{}", [], "t", "b")
    evaluation = _begin(store, kind="evaluation", source_scan=scan)
    store.copy_observations(scan, evaluation)
    assert store.vantage_footings(evaluation) == store.vantage_footings(scan)
    assert store.done_targets(evaluation, "b") == {("host", "h")}


# -- the shards of a distributed scan --------------------------------------------------------


def test_shard_bookkeeping_per_vantage(store: Store) -> None:
    scan = _begin(store)
    assert store.shards(scan) == []
    store.add_shards(scan, "a", [(1, '{"n": 1}', 3), (2, '{"n": 2}', 2)])
    store.add_shards(scan, "b", [(1, '{"n": 1}', 3)])
    assert [(s.vantage, s.number, s.status, s.attempts) for s in store.shards(scan)] == [
        ("a", 1, "pending", 0),
        ("a", 2, "pending", 0),
        ("b", 1, "pending", 0),
    ]
    first = store.shard_started(scan, "a", 1, "w1@host")
    assert (first.status, first.attempts, first.worker, first.size) == ("running", 1, "w1@host", 3)
    # a lost worker's shard is delivered again: one more attempt
    assert store.shard_started(scan, "a", 1, "w2@host").attempts == 2
    store.shard_ended(scan, "a", 1, "done", stats={"connections": 4}, footing={"ipv6": "ok"})
    # a done shard delivered once more stays done (the worker then skips it)
    again = store.shard_started(scan, "a", 1, "w3@host")
    assert (again.status, again.attempts) == ("done", 3)
    store.shard_started(scan, "a", 2, "w1@host")
    store.shard_ended(scan, "a", 2, "failed", reason="KeyError: 'no.such.check'")
    (done, failed) = store.shards(scan, "a")
    assert (done.status, done.stats, done.footing) == ("done", {"connections": 4}, {"ipv6": "ok"})
    assert (failed.status, failed.reason) == ("failed", "KeyError: 'no.such.check'")
    assert [s.vantage for s in store.shards(scan, "b")] == ["b"]
    with pytest.raises(KeyError):
        store.shard_started(scan, "a", 9, "w1@host")
    # --resume: what is not done is forgotten and submitted again under new numbers
    assert store.drop_open_shards(scan, "a") == 1
    store.add_shards(scan, "a", [(3, '{"n": 3}', 2)])
    assert [(s.number, s.status) for s in store.shards(scan, "a")] == [(1, "done"), (3, "pending")]
    # a number recorded again is replaced, not duplicated
    store.add_shards(scan, "a", [(3, '{"n": 33}', 1)])
    assert [(s.number, s.shard_json, s.size) for s in store.shards(scan, "a")][-1] == (
        3,
        '{"n": 33}',
        1,
    )
    assert store.shards(_begin(store)) == []  # another scan's are its own


def test_target_counts_per_vantage(store: Store) -> None:
    scan = _begin(store)
    assert store.target_counts(scan) == {}
    store.save_target(scan, H, "h1", "{}", [], "t", "a")
    store.save_target(scan, H, "h2", "{}", [], "t", "a")
    store.save_target(scan, H, "h1", "{}", [], "t", "a")  # re-delivered: still one
    store.save_target(scan, Z, "z.vn", "{}", [], "t", "b")
    assert store.target_counts(scan) == {"a": 2, "b": 1}


# -- text -----------------------------------------------------------------------------------

TEXTS = [
    "Sở Nội vụ tỉnh Quảng Ninh",
    "e\u0301 (combining) vs é, ﬁ ligature, ß",
    "RTL עברית العربية, emoji 🛡️🇻🇳, astral 𝔘𝔫𝔦",
    "line\nbreaks\r\n\ttab \u2028 \u2029 \x1b[31m escape",
    "quotes ' \" ` \\ backslash; SQL-ish '); DROP TABLE scans; --",
    "<script>alert(1)</script> &amp;",
    "x" * 1_000_000 + "é",  # a long certificate chain or header dump
    # NUL from a remote string (a banner, a header): PostgreSQL's TEXT cannot hold it, the
    # store escapes it on every backend (auditor/store/schema.py) and gives it back.
    "nul\x00inside\x00\x00",
    "\x00",
    # the escape's own character, alone, doubled, and next to a NUL and a "0"
    "\uffff \uffff\uffff \uffff0 \x00\uffff0\x000\uffff",
]


def test_text_round_trips_exactly(backend: Backend) -> None:
    texts = list(TEXTS)
    with backend.open() as store:
        scan = store.begin_scan(
            profile=texts[0],
            inventory_path=texts[1],
            inventory_name=texts[2],
            inventory={"t": texts},
            options={"t": texts},
        )
        store.finish_scan(scan, "complete", {"t": texts})
        for i, text in enumerate(texts):
            name = f"{i}.{text[:200]}"
            finding = Finding(text[:300], H, name, text[:100], Status.INFO, text, {"t": text}, 1.0)
            store.save_target(scan, H, name, text, [finding], text)
    with backend.open() as store:  # read back through a new connection
        rec = store.scan(scan)
        assert (rec.profile, rec.inventory_path, rec.inventory_name) == tuple(texts[:3])
        assert rec.inventory == rec.options == rec.stats == {"t": texts}
        by_name = {name: text for _kind, name, text in store.observations(scan)}
        findings = {f.target: f for f in store.findings(scan)}
        for i, text in enumerate(texts):
            name = f"{i}.{text[:200]}"
            assert by_name[name] == text
            f = findings[name]
            assert (f.check, f.address, f.message, f.evidence) == (
                text[:300],
                text[:100],
                text,
                {"t": text},
            )
        assert store.done_targets(scan) == {("host", f"{i}.{t[:200]}") for i, t in enumerate(texts)}
        # a target named with a NUL is found again by its name: re-saving it replaces it
        store.save_target(scan, H, "nul\x00name", "{}", [_finding("nul\x00name")], "t")
        store.save_target(scan, H, "nul\x00name", "{}", [_finding("nul\x00name", "x")], "t")
        assert [f.check for f in store.findings(scan) if f.target == "nul\x00name"] == ["x"]


# Names whose order differs between byte order and a language's collation (Vietnamese: case
# folded, accents after the base letter), so that an order the database's locale decided
# would show: the store's order is code-point order (= UTF-8 byte order) on every backend.
ORDER_NAMES = ["b.vn", "B.vn", "a.vn", "Z.vn", "ả.vn", "á.vn", "é.vn", "z.vn", "a-b.vn", "ab.vn"]


def test_order_is_code_point_order_whatever_the_collation(store: Store) -> None:
    scan = _begin(store)
    for name in reversed(ORDER_NAMES):
        checks = ["Tls.x", "tls.x", "dns.ả", "dns.a"]
        findings = [_finding(name, c, address=a) for c in checks for a in ("b", "B", None)]
        store.save_target(scan, H, name, "{}", findings, "t")
    names = sorted(ORDER_NAMES)  # Python compares code points
    assert [name for _k, name, _t in store.observations(scan)] == names
    expected = [
        (n, c, a)
        for n in names
        for c in sorted(["Tls.x", "tls.x", "dns.ả", "dns.a"])
        for a in (None, "B", "b")
    ]
    assert [(f.target, f.check, f.address) for f in store.findings(scan)] == expected


def test_observations_stream_in_pages_without_losing_or_repeating(store: Store) -> None:
    """More observations than one page of the keyset reading (auditor/store/sql.py)."""
    from auditor.store.sql import _OBSERVATION_PAGE

    scan = _begin(store)
    n = _OBSERVATION_PAGE * 2 + 7
    names = [f"h{i:05d}" for i in range(n)]
    for name in names:
        store.save_target(scan, H, name, f'"{name}"', [], "t")
    store.save_target(scan, Z, "a.vn", '"zone"', [], "t")
    got = list(store.observations(scan))
    assert [name for _k, name, _t in got] == [*names, "a.vn"]
    assert all(text == f'"{name}"' for kind, name, text in got if kind is H)


# -- two processes ------------------------------------------------------------------------

N = 40


def _writer(url: str, own: int, shared: int, prefix: str, barrier: Any) -> None:
    """One process: its own scan's targets, and every target of the shared scan (which the
    other process delivers too), interleaved, each in its own transaction."""
    with open_store(url) as store:
        barrier.wait()
        for i in range(N):
            store.save_target(own, H, f"{prefix}{i}", "{}", [_finding(f"{prefix}{i}")], "t")
            store.save_target(
                shared, H, f"s{i}", f'"{prefix}"', [_finding(f"s{i}", message=prefix)], "t"
            )


def test_two_processes_write_at_once(backend: Backend) -> None:
    with backend.open() as store:
        a, b, shared = _begin(store), _begin(store), _begin(store)
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(2)
    procs = [
        mp.Process(target=_writer, args=(backend.url, a, shared, "a", barrier)),
        mp.Process(target=_writer, args=(backend.url, b, shared, "b", barrier)),
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with backend.open() as store:
        for scan, prefix in ((a, "a"), (b, "b")):
            assert store.done_targets(scan) == {("host", f"{prefix}{i}") for i in range(N)}
            assert sorted(f.target for f in store.findings(scan)) == sorted(
                f"{prefix}{i}" for i in range(N)
            )
        # each shared target delivered twice: stored once, whole, from one of the writers
        assert store.done_targets(shared) == {("host", f"s{i}") for i in range(N)}
        found = store.findings(shared)
        assert sorted(f.target for f in found) == sorted(f"s{i}" for i in range(N))
        written_by = {f.target: f.message for f in found}
        for _kind, name, text in store.observations(shared):
            assert text == f'"{written_by[name]}"'  # observation and finding of one delivery


WRITERS = 4
SHARED = 30


def _redeliverer(url: str, scan: int, writer: int, barrier: Any) -> None:
    """One of several workers all delivering every target of one scan (a shard re-delivered
    to each), each in its own order and with its own number of findings per target (1 to 3),
    so a target's rows show which delivery they came from."""
    import random

    order = list(range(SHARED))
    random.Random(writer).shuffle(order)
    with open_store(url) as store:
        barrier.wait()
        for i in order:
            name = f"t{i}"
            count = 1 + (i + writer) % 3
            findings = [_finding(name, f"c{j}", message=f"w{writer}") for j in range(count)]
            store.save_target(scan, H, name, f'"w{writer}"', findings, "t")


def test_several_processes_delivering_the_same_targets_store_each_once(
    backend: Backend,
) -> None:
    """No deadlock (every writer exits 0), no duplicate: each target is stored once, whole,
    from exactly one delivery (its observation, every finding and their number agree)."""
    with backend.open() as store:
        scan = _begin(store)
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(WRITERS)
    procs = [
        mp.Process(target=_redeliverer, args=(backend.url, scan, w, barrier))
        for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    with backend.open() as store:
        assert store.done_targets(scan) == {("host", f"t{i}") for i in range(SHARED)}
        observed = {name: text for _kind, name, text in store.observations(scan)}
        by_target: dict[str, list[Finding]] = {}
        for f in store.findings(scan):
            by_target.setdefault(f.target, []).append(f)
        assert set(by_target) == set(observed) == {f"t{i}" for i in range(SHARED)}
        for i in range(SHARED):
            name = f"t{i}"
            (writer,) = {f.message for f in by_target[name]}  # one delivery's findings
            assert observed[name] == f'"{writer}"'
            count = 1 + (i + int(writer[1:])) % 3
            assert [f.check for f in by_target[name]] == [f"c{j}" for j in range(count)]
        assert sum(store.status_counts(scan).values()) == sum(
            len(found) for found in by_target.values()
        )


def test_findings_stream_in_pages_of_whole_targets(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """iter_findings reads by pages that never cut a target (one bigger than a page is read
    whole) and yields exactly findings() in its order, with and without evidence."""
    import auditor.store.sql as sql

    monkeypatch.setattr(sql, "_FINDINGS_PAGE", 3)
    scan = _begin(store)
    sizes = {"a.example.gov.vn": 2, "b.example.gov.vn": 5, "c.example.gov.vn": 1, "d.x": 3}
    for name, n in sizes.items():
        items = [Finding(f"c{i}", H, name, None, Status.PASS, f"m{i}", {"i": i}) for i in range(n)]
        store.save_target(scan, H, name, "{}", items, "t0")
    everything = store.findings(scan)
    assert len(everything) == sum(sizes.values())
    assert list(store.iter_findings(scan)) == everything
    light = list(store.iter_findings(scan, evidence=False))
    assert [(f.target, f.check, f.message) for f in light] == [
        (f.target, f.check, f.message) for f in everything
    ]
    assert all(f.evidence == {} for f in light)
