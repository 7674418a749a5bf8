"""Hostile servers (tests/lab/hostile_server.py) against `auditor scan`, in the lab.

One scan of every hostile host (module fixture), then one test per row of the robustness
table (tests/lab/hostile.py LAB_CASES) asserting the distinct observation the auditor must
record; plus the promises of the whole scan: exit 0, no traceback, every finding a known
status with a message, wall time within (targets / concurrency + 1) x deadline, peak RSS
bounded; a scan where every target stalls; the DNS faults met by the auditor's own resolver.

The tests at the top (no `lab` marker) run everywhere: the committed docs/ROBUSTNESS.md is
what the table renders, every lab row has its assertion, every named test exists.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import hostile as H

STATUSES = {"pass", "fail", "warn", "info", "not_applicable", "not_tested", "error"}
Obs = dict[str, Any]


# -- runs everywhere ---------------------------------------------------------------------------


def test_robustness_doc_is_current() -> None:
    assert H.DOC.read_text(encoding="utf-8") == H.render_doc(), (
        "docs/ROBUSTNESS.md is stale: run python -m tests.lab.hostile --write-doc"
    )


def test_every_lab_case_is_asserted() -> None:
    assert {c.name for c in H.LAB_CASES} == set(CHECKS), "a lab row without its assertion"


def test_every_named_test_exists() -> None:
    for case in H.all_cases():
        path, _, name = case.test.partition("::")
        func = re.sub(r"\[.*\]$", "", name)
        text = (H.REPO_ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {re.escape(func)}\(", text, re.M), case.test


# -- reading a scan ----------------------------------------------------------------------------


@dataclass
class Scan:
    run: H.ScanRun
    obs: dict[str, Obs]  # target -> observation JSON
    findings: list[tuple[str, str | None, str, str, str]]  # target, address, check, status, msg

    def of(self, target: str, check: str) -> list[tuple[str | None, str, str]]:
        return [(a, s, m) for t, a, c, s, m in self.findings if t == target and c == check]

    def statuses(self, target: str, check: str) -> set[str]:
        return {s for _, s, _ in self.of(target, check)}


def _read(run: H.ScanRun) -> Scan:
    assert run.db.exists(), run.stderr
    with sqlite3.connect(run.db) as conn:
        obs = {n: json.loads(j) for n, j in conn.execute("SELECT name, json FROM observations")}
        findings = conn.execute(
            "SELECT target, address, check_id, status, message FROM findings"
        ).fetchall()
    return Scan(run, obs, findings)


def _assert_clean_run(scan: Scan, targets: int, concurrency: int, deadline: float) -> None:
    run = scan.run
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    bound = (targets / concurrency + 1) * deadline
    print(
        f"scan of {targets} targets: {run.wall:.1f} s (bound {bound:.1f} s), "
        f"peak RSS {run.max_rss_kb // 1024} MB"
    )
    assert run.wall <= bound, f"scan took {run.wall:.1f} s, promise: <= {bound:.1f} s"
    assert 0 < run.max_rss_kb < H.MAX_RSS_MB * 1024, f"peak RSS {run.max_rss_kb} KiB"
    assert len(scan.obs) == targets, "every target stored"
    for t, _a, c, s, m in scan.findings:
        assert s in STATUSES, (t, c, s)
        assert m.strip(), f"{t} {c}: a finding without a message"


def _tls(o: Obs) -> Obs:
    (t,) = [x for x in o["tls"] if x["port"] == 443]
    assert isinstance(t, dict)
    return t


def _http(o: Obs, scheme: str) -> Obs:
    (h,) = o["http"]
    fetch = h[scheme]
    assert isinstance(fetch, dict), f"no {scheme} fetch: {h['detail']}"
    return fetch


def _not_pass(scan: Scan, target: str, check: str, *words: str) -> None:
    got = scan.of(target, check)
    assert got, f"no {check} finding for {target}"
    assert all(s != "pass" for _, s, _ in got), got
    if words:
        text = " ".join(m for _, _, m in got).lower()
        assert any(w in text for w in words), f"{check} on {target}: {got} (wanted {words})"


# -- per-case assertions -----------------------------------------------------------------------


def _no_version_verdict(s: Scan, host: str) -> None:
    """A server that answered no ClientHello: what it accepts is unknown, never a fail."""
    for check in ("tls.protocols.modern", "tls.protocols.legacy", "tls.ciphers"):
        got = s.statuses(host, check)
        assert got == {"not_tested"}, (host, check, s.of(host, check))


def _silent(s: Scan, host: str, o: Obs) -> None:
    assert _tls(o)["outcome"] == "timeout", _tls(o)
    assert _http(o, "http")["outcome"] == "timeout"
    assert _http(o, "https")["outcome"] == "timeout"
    assert not o["deadline_hit"]
    _not_pass(s, host, "tls.available", "timeout")
    _no_version_verdict(s, host)


def _drip(s: Scan, host: str, o: Obs) -> None:
    assert _http(o, "http")["outcome"] == "timeout"
    assert _http(o, "https")["outcome"] == "timeout"
    assert _tls(o)["outcome"] == "timeout", _tls(o)
    _not_pass(s, host, "tls.available", "timeout")
    _no_version_verdict(s, host)


def _reset(s: Scan, host: str, o: Obs) -> None:
    assert _http(o, "http")["outcome"] == "reset"
    tls = _tls(o)
    assert tls["outcome"] == "reset", tls
    _not_pass(s, host, "tls.available", "reset")
    assert "pass" not in s.statuses(host, "tls.protocols.legacy")


def _too_large(s: Scan, host: str, o: Obs) -> None:
    f = _http(o, "http")
    assert f["outcome"] in ("too_large", "protocol_error"), f


def _body_capped(s: Scan, host: str, o: Obs) -> None:
    f = _http(o, "http")
    assert f["outcome"] == "ok", f
    assert f["body"]["truncated"] is True
    assert f["body"]["length"] <= 512 * 1024


def _loop(s: Scan, host: str, o: Obs) -> None:
    f = _http(o, "http")
    assert f["stopped"] == "loop", f
    assert len(f["hops"]) <= 11


def _fifty(s: Scan, host: str, o: Obs) -> None:
    f = _http(o, "http")
    assert f["stopped"] == "max-redirects", f
    assert len(f["hops"]) == 11  # the first request + max_redirects (10)


def _bad_status(s: Scan, host: str, o: Obs) -> None:
    f = _http(o, "http")
    assert f["outcome"] == "protocol_error", f
    assert "status line" in f["detail"]


def _million(s: Scan, host: str, o: Obs) -> None:
    (h,) = o["http"]
    assert _http(o, "http")["body"]["truncated"] is True
    assert 0 < len(h["subresources"]) <= 1000
    sub = o["subresources"]
    assert sub is not None and 0 < len(sub["hosts"]) <= 50
    assert sub["skipped_hosts"] > 0
    assert sub["cut"], sub  # the page was read only up to the body cap: said so
    assert "pass" not in s.statuses(host, "ipv6.web.only")


def _tls_garbage(s: Scan, host: str, o: Obs) -> None:
    tls = _tls(o)
    assert tls["outcome"] in ("protocol_error", "tls_error"), tls
    assert tls["detail"]
    _not_pass(s, host, "tls.available")
    assert "pass" not in s.statuses(host, "tls.protocols.legacy")
    assert "pass" not in s.statuses(host, "tls.cert.trusted")


def _tls_alert(s: Scan, host: str, o: Obs) -> None:
    tls = _tls(o)
    assert tls["outcome"] == "tls_alert", tls
    assert all(v["outcome"] == "rejected" for v in tls["versions"]), tls["versions"]
    _not_pass(s, host, "tls.available")


def _tls_stall(s: Scan, host: str, o: Obs) -> None:
    assert _tls(o)["outcome"] == "timeout", _tls(o)
    assert _http(o, "https")["outcome"] == "timeout"
    _not_pass(s, host, "tls.available", "timeout")
    # before: tls.protocols.modern failed "accepts neither TLS 1.2 nor TLS 1.3"
    _no_version_verdict(s, host)


def _chain50(s: Scan, host: str, o: Obs) -> None:
    tls = _tls(o)
    assert tls["outcome"] == "ok", tls
    assert 1 <= len(tls["chain"]) <= 16, len(tls["chain"])
    assert tls["chain_truncated"] is True  # the cap is an observation the checks see
    assert tls["chain"][0]["san"] == [host]
    # judged on the first 16 of 50 certificates: neither pass nor a signature verdict
    assert "pass" not in s.statuses(host, "tls.cert.signature")
    _not_pass(s, host, "tls.cert.trusted", "longer", "chain", "trust")


def _absurd(s: Scan, host: str, o: Obs) -> None:
    tls = _tls(o)
    assert tls["outcome"] == "ok", tls
    # stored as data (RFC 4514 string, CN values as sent), never interpreted
    assert "<script>" in tls["chain"][0]["cn"][0]
    assert "script" in tls["chain"][0]["subject"]
    _not_pass(s, host, "tls.cert.hostname")
    _not_pass(s, host, "tls.cert.trusted")
    html = s.run.db.parent / "html"
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script>alert" not in text, page
        assert "<img src=x" not in text, page


def _dns_failed(label: str, *outcomes: str) -> Callable[[Scan, str, Obs], None]:
    """Through the lab's Unbound (the resolver absorbs the fault; the direct view is
    test_direct_resolver)."""

    def check(s: Scan, host: str, o: Obs) -> None:
        a = o["dns"]["a"]
        assert a["outcome"] in outcomes, a
        assert not a["records"]
        _not_pass(s, host, "dns.resolve")

    check.__name__ = f"_dns_{label}"
    return check


def _dns_big(s: Scan, host: str, o: Obs) -> None:
    a = o["dns"]["a"]
    assert a["outcome"] == "ok", a
    assert len(a["records"]) == 100, len(a["records"])  # max_dns_records
    assert "500" in a["detail"] and a["truncated"] is True  # the cap is an observation
    assert o["tcp"] and all(t["outcome"] == "blocked" for t in o["tcp"])  # 127/8: guard


def _cname_loop(s: Scan, host: str, o: Obs) -> None:
    assert not o["dns"]["a"]["records"] and not o["dns"]["aaaa"]["records"]
    _not_pass(s, host, "dns.resolve")


def _tarpit(s: Scan, host: str, o: Obs) -> None:
    (smtp,) = o["smtp"]
    assert smtp["outcome"] == "timeout", smtp
    assert "greeting" in smtp["detail"]
    _not_pass(s, host, "ipv6.mx.reach", "timeout")
    _not_pass(s, host, "mail.starttls")


def _ns_timeout(s: Scan, zone: str, o: Obs) -> None:
    assert o["ns"]["outcome"] == "timeout", o["ns"]
    for check in ("dns.ns.count", "ipv6.ns.reach"):
        found = s.of(zone, check)
        assert found and {st for _, st, _ in found} == {"not_tested"}, found
        assert "timeout" in " ".join(m for _, _, m in found)


def _ns_queries(o: Obs) -> dict[str, Obs]:
    return {q["transport"]: q for q in o["ns_queries"]}


def _ns_trunc(s: Scan, zone: str, o: Obs) -> None:
    q = _ns_queries(o)
    assert q["udp"]["outcome"] == "answered" and "TC" in q["udp"]["detail"], q["udp"]
    assert q["tcp"]["outcome"] == "reset", q["tcp"]
    _not_pass(s, zone, "ipv6.ns.reach", "reset")


def _ns_malformed(s: Scan, zone: str, o: Obs) -> None:
    q = _ns_queries(o)
    assert q["udp"]["outcome"] == "protocol_error", q["udp"]
    assert q["tcp"]["outcome"] == "protocol_error", q["tcp"]
    _not_pass(s, zone, "ipv6.ns.reach")


CHECKS: dict[str, Callable[[Scan, str, Obs], None]] = {
    "ns-timeout": _ns_timeout,
    "ns-trunc": _ns_trunc,
    "ns-malformed": _ns_malformed,
    "silent": _silent,
    "drip": _drip,
    "reset": _reset,
    "headers-endless": _too_large,
    "header-huge": _too_large,
    "body-1g": _body_capped,
    "gzip-bomb": _body_capped,
    "redirect-loop": _loop,
    "redirect-50": _fifty,
    "bad-status": _bad_status,
    "million-links": _million,
    "tls-garbage": _tls_garbage,
    "tls-alert": _tls_alert,
    "tls-stall": _tls_stall,
    "tls-chain50": _chain50,
    "tls-absurd": _absurd,
    "dns-timeout": _dns_failed("timeout", "timeout", "servfail"),
    "dns-trunc": _dns_failed("trunc", "servfail"),
    "dns-malformed": _dns_failed("malformed", "servfail", "timeout"),
    "dns-loop": _dns_failed("loop", "servfail"),
    "dns-big": _dns_big,
    "cname-loop-resolver": _cname_loop,
    "smtp-tarpit": _tarpit,
}


# -- the lab -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hostile_lab() -> Iterator[H.HostileLab]:
    from .conftest import require_lab
    from .lab import reap_stale_test_labs

    require_lab()
    reap_stale_test_labs()
    _reap_stale_hostile_labs()
    h = H.HostileLab(f"h{os.getpid()}"[:11])
    try:
        h.up()
    except Exception as e:
        pytest.fail(f"the hostile lab failed to start: {e}", pytrace=False)
    try:
        yield h
    finally:
        h.down(keep_dir=os.environ.get("AUDITOR_LAB_KEEP") == "1")


def _reap_stale_hostile_labs() -> None:
    """Hostile labs (tag h<pid>) whose test session died: tear down, never another tag."""
    from .lab import Lab, _alive
    from .netns import netns_list

    for ns in netns_list():
        m = re.fullmatch(r"auditor-lab-(h\d+)-(srv|cli)", ns)
        if m and not _alive(int(m[1][1:])):
            Lab.down_from_state(Path(f"/tmp/auditor-lab-{m[1]}"), m[1])


MAIN_HOSTS = [c.host for c in H.LAB_CASES if c.host and not c.domain]
MAIN_DOMAINS = [c.host for c in H.LAB_CASES if c.host and c.domain]


@pytest.fixture(scope="module")
def main_scan(hostile_lab: H.HostileLab) -> Scan:
    inv = hostile_lab.inventory("main", MAIN_HOSTS, MAIN_DOMAINS)
    run = hostile_lab.run_scan(
        "main",
        inv,
        "--timeout",
        str(H.TIMEOUT),
        "--deadline",
        str(H.DEADLINE),
        "--concurrency",
        str(H.CONCURRENCY),
    )
    return _read(run)


@pytest.mark.lab
def test_scan_ends_in_time(main_scan: Scan) -> None:
    _assert_clean_run(main_scan, len(MAIN_HOSTS) + len(MAIN_DOMAINS), H.CONCURRENCY, H.DEADLINE)


@pytest.mark.lab
@pytest.mark.parametrize("case", H.LAB_CASES, ids=lambda c: c.name)
def test_case(main_scan: Scan, case: H.Case) -> None:
    assert case.host in main_scan.obs, f"{case.host} not stored"
    CHECKS[case.name](main_scan, case.host, main_scan.obs[case.host])


@pytest.mark.lab
def test_whole_scan_stalls(hostile_lab: H.HostileLab) -> None:
    hosts = [f"stall{i}.{H.ZONE}" for i in range(H.STALL_HOSTS)]
    inv = hostile_lab.inventory("stall", hosts)
    run = hostile_lab.run_scan(
        "stall",
        inv,
        "--timeout",
        str(H.STALL_TIMEOUT),
        "--deadline",
        str(H.STALL_DEADLINE),
        "--concurrency",
        str(H.STALL_CONCURRENCY),
        reports=False,
    )
    scan = _read(run)
    _assert_clean_run(scan, H.STALL_HOSTS, H.STALL_CONCURRENCY, H.STALL_DEADLINE)
    for h in hosts:
        found = scan.of(h, "tls.available")
        assert found and all(s in ("fail", "not_tested") for _, s, _ in found), found
        text = " ".join(m for _, _, m in found).lower()
        assert "timeout" in text or "deadline" in text, found


@pytest.mark.lab
def test_direct_resolver(hostile_lab: H.HostileLab) -> None:
    """The hostile DNS server as the auditor's own resolver: each fault a distinct outcome."""
    hosts = [f"www.{lbl}.{H.ZONE}" for lbl in H.DNS_LABELS]
    inv = hostile_lab.inventory("direct", hosts)
    run = hostile_lab.run_scan(
        "direct",
        inv,
        "--timeout",
        str(H.TIMEOUT),
        "--deadline",
        str(H.DEADLINE),
        "--resolver",
        f"[{H.DNS_V6}]:53",
    )
    scan = _read(run)
    _assert_clean_run(scan, len(hosts), 64, H.DEADLINE)
    a = {h.split(".")[1]: scan.obs[h]["dns"]["a"] for h in hosts}
    assert a["timeout"]["outcome"] == "timeout"
    # garbage to a pending query id is dropped, as a spoofed packet would be: a timeout
    assert a["malformed"]["outcome"] == "timeout"
    assert a["trunc"]["outcome"] == "error" and "TCP retry failed" in a["trunc"]["detail"]
    assert a["loop"]["outcome"] == "error" and "CNAME loop" in a["loop"]["detail"]
    assert a["big"]["outcome"] == "ok" and len(a["big"]["records"]) == 100
    assert "500 records" in a["big"]["detail"]
    for lbl in ("timeout", "malformed", "trunc", "loop"):
        _not_pass(scan, f"www.{lbl}.{H.ZONE}", "dns.resolve")


RESUME_FAST = ["bad-status", "redirect-loop", "header-huge", "reset", "tls-alert", "tls-garbage"]
RESUME_SLOW = 4


@pytest.mark.lab
def test_sigkill_then_resume(hostile_lab: H.HostileLab) -> None:
    """SIGKILL a scan half-way (fast hostile hosts done, stalling ones in progress): the
    finished targets are in the store, and `--resume` connects only to the unfinished ones
    (the hostile servers log every connection they accept)."""
    fast = [f"{k}.{H.ZONE}" for k in RESUME_FAST]
    slow = [f"stall{i}.{H.ZONE}" for i in range(RESUME_SLOW)]
    kinds = H.web_kinds()
    fast_addrs = {H.web_address(kinds.index(k)) for k in RESUME_FAST}
    slow_addrs = {H.stall_address(i) for i in range(RESUME_SLOW)}
    inv = hostile_lab.inventory("resume", fast + slow)
    out = hostile_lab.dir / "out-resume"
    out.mkdir(parents=True, exist_ok=True)
    db = out / "scan.db"
    lab = hostile_lab.lab
    args = [
        sys.executable,
        "-m",
        "auditor",
        "scan",
        str(inv),
        "--db",
        str(db),
        "--ca-file",
        str(lab.ca_file),
        "--timeout",
        "20",
        "--deadline",
        "120",
        "--concurrency",
        "16",
        "--quiet",
    ]
    for net in lab.allow_nets:
        args += ["--allow-net", net]
    proc = subprocess.Popen(
        lab.client_cmd(args),
        cwd=H.REPO_ROOT,
        env=lab.auditor_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def done() -> set[str]:
        if not db.exists():
            return set()
        try:
            with sqlite3.connect(db, timeout=5) as conn:
                return {r[0] for r in conn.execute("SELECT name FROM targets")}
        except sqlite3.OperationalError:
            return set()

    deadline = time.monotonic() + 90
    while done() != set(fast) and time.monotonic() < deadline:
        assert proc.poll() is None, f"scan ended early: {proc.communicate()[1]}"
        time.sleep(0.2)
    assert done() == set(fast), "fast targets finish while the stalling ones hang"
    proc.send_signal(signal.SIGKILL)  # `ip netns exec` execs: this is the auditor itself
    proc.communicate(timeout=30)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [r[0] for r in conn.execute("SELECT status FROM scans")] == ["running"]
    assert done() == set(fast)

    before = len(hostile_lab.connections())
    run = hostile_lab.run_scan(
        "resume", inv, "--resume", "--timeout", "1", "--deadline", "3", reports=False
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "resuming scan" in run.stderr
    assert done() == set(fast + slow)
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT status FROM scans")] == ["complete"]
    again = {a for a, _ in hostile_lab.connections()[before:]}
    assert not again & fast_addrs, f"finished targets probed again: {again & fast_addrs}"
    assert slow_addrs <= again, "the unfinished targets are probed on resume"
