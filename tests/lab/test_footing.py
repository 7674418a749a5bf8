"""The scanner's own footing in the lab (auditor/selfcheck.py, issue 13): a client without
IPv6, broken resolvers, and reference targets.

- A second client namespace has IPv4 only (no IPv6 address but link-local, no IPv6 route):
  every IPv6 verdict is not_tested with "the scanner has no IPv6 connectivity", nothing
  fails, ``auditor gate`` exits 2 and says so first; ``auditor evaluate`` gives the same.
- Resolvers that answer NXDOMAIN or SERVFAIL for everything (the root included), one that
  never answers, a closed resolver port, and one that answers the root but NXDOMAIN for
  the public suffixes: diagnosed on stderr within the first seconds, and the DNS findings
  are attributed to the resolver, not to the zones or hosts.
- ``--reference`` with a known-good lab host (the family is confirmed) and with a host whose
  IPv6 address is dropped (the scanner's IPv6 counts as down).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.selfcheck import CONTROL_ATTEMPTS, CONTROL_TIMEOUT

from .lab import REPO_ROOT, SCAN_TIMEOUT, Lab

pytestmark = pytest.mark.lab

NO_V6 = "the scanner has no IPv6 connectivity"
V6_REACH = {
    "ipv6.web.reach",
    "ipv6.web.https",
    "ipv6.web.parity",
    "ipv6.web.icmp",
    "ipv6.web.only",
    "ipv6.ns.reach",
    "ipv6.mx.reach",
}
AGENCY = "lab-good"  # www.good.gov.vn and good.gov.vn: every check passes from the lab client
DIAGNOSIS_WITHIN = 5.0  # seconds: the promise for a broken resolver


def _common(lab: Lab) -> list[str]:
    args = ["--ca-file", str(lab.ca_file), "--timeout", SCAN_TIMEOUT]
    for net in lab.allow_nets:
        args += ["--allow-net", net]
    return args


def _scan_args(lab: Lab, out: Path, *extra: str) -> list[str]:
    return [
        "scan", str(lab.inventory), "--only", AGENCY, "--db", str(out / "lab.db"),
        "--json", str(out / "scan.json"), "--quiet", *_common(lab), *extra,
    ]  # fmt: skip


def _findings(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    doc = json.loads((out / "scan.json").read_text())
    return doc, doc["findings"]


@pytest.fixture(scope="module")
def v4only(lab: Lab) -> Iterator[Lab]:
    lab.netns.v4_client_create()
    try:
        yield lab
    finally:
        lab.netns.v4_client_delete()


# -- no IPv6 at all -----------------------------------------------------------------------


def test_client_without_ipv6_gets_not_tested_never_fail(v4only: Lab, tmp_path: Path) -> None:
    lab = v4only
    r = lab.run_auditor_v4only(_scan_args(lab, tmp_path), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert NO_V6 in r.stderr.splitlines()[0], r.stderr
    doc, findings = _findings(tmp_path)
    v6 = lab.addresses("www.good.gov.vn")["v6"]
    footing = doc["scan"]["footing"]
    assert footing["ipv6"]["status"] == "down" and footing["ipv4"]["status"] == "ok"
    assert footing["ipv6"]["reason"].startswith(NO_V6)
    # every IPv6 reachability verdict, and every check of the IPv6 address: not_tested
    seen = {f["check"] for f in findings if f["check"] in V6_REACH}
    assert seen == V6_REACH
    for f in findings:
        if f["check"] in V6_REACH or f["address"] == v6:
            assert f["status"] == "not_tested", f
            assert f["message"].startswith(NO_V6), f
    # nothing fails: the agency is judged on what the scanner could see (IPv4, DNS)
    assert [f for f in findings if f["status"] in ("fail", "warn", "error")] == []
    v4 = lab.addresses("www.good.gov.vn")["v4"]
    # (not_applicable: e.g. tls.cipher_order on a server with good suites only)
    assert {f["status"] for f in findings if f["address"] == v4} <= {
        "pass",
        "info",
        "not_applicable",
    }
    # IPv6 addresses were not probed at all (no time spent on a family it cannot reach)
    with_db = subprocess.run(
        [sys.executable, "-c", _OBS_SCRIPT, str(tmp_path / "lab.db")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    outcomes = json.loads(with_db.stdout)
    assert outcomes and {o for a, o in outcomes if ":" in a} == {"skipped"}
    # the stored footing makes `auditor evaluate` give the very same verdicts
    ev = lab.run_auditor_v4only(
        ["evaluate", "--db", str(tmp_path / "lab.db"), "--json", str(tmp_path / "ev.json")]
    )
    assert ev.returncode == 0, ev.stderr
    again = json.loads((tmp_path / "ev.json").read_text())["findings"]

    def key(f: dict[str, Any]) -> tuple[str, str, str]:
        return (f["target"], f["address"] or "", f["check"])

    assert sorted((key(f), f["status"], f["message"]) for f in again) == sorted(
        (key(f), f["status"], f["message"]) for f in findings
    )


_OBS_SCRIPT = """
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
out = []
for (text,) in db.execute("SELECT json FROM observations WHERE kind = 'host'"):
    obs = json.loads(text)
    out += [(p["address"], p["outcome"]) for p in obs["tcp"]]
print(json.dumps(out))
"""


def test_gate_without_ipv6_exits_2_and_says_why_first(v4only: Lab, tmp_path: Path) -> None:
    lab = v4only
    r = lab.run_auditor_v4only(
        ["gate", "https://www.good.gov.vn/", "--quiet", "--json", str(tmp_path / "g.json"),
         *_common(lab)],
        timeout=300,
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    first = r.stdout.splitlines()[0]
    assert NO_V6 in first and "no verdict" in first, r.stdout
    assert "GATE INCOMPLETE" in r.stdout
    findings = json.loads((tmp_path / "g.json").read_text())["findings"]
    assert not [f for f in findings if f["status"] == "fail"]


# -- broken resolvers ---------------------------------------------------------------------


class FakeResolver:
    """tests/support/dnsserver.py in the lab's client namespace (its loopback), as a
    resolver that is broken for every name: started and stopped by its PID."""

    def __init__(self, lab: Lab, everything: str | None) -> None:
        cmd = [sys.executable, "-m", "tests.support.dnsserver", "--host", "127.0.0.1"]
        if everything:
            cmd += ["--everything", everything]
        self.proc = subprocess.Popen(
            lab.client_cmd(cmd), stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
            env=lab.auditor_env(),
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _timed_scan(lab: Lab, out: Path, resolver: str) -> tuple[int, list[tuple[float, str]]]:
    """Run the scan, noting when each stderr line arrived (seconds since the start)."""
    cmd = lab.client_cmd(
        [sys.executable, "-m", "auditor", *_scan_args(lab, out, "--resolver", resolver)]
    )
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
        env=lab.auditor_env(),
    )  # fmt: skip
    assert proc.stderr is not None
    lines = [(time.monotonic() - start, line.rstrip("\n")) for line in proc.stderr]
    return proc.wait(300), lines


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("nxdomain", "answers NXDOMAIN for the root zone '.' itself"),
        ("servfail", "answers SERVFAIL even for the root zone '.'"),
        ("silent", "does not answer"),
        ("closed", "refuses the connection (nothing listens on its port"),
    ],
)
def test_dead_resolver_is_diagnosed_at_once_and_takes_the_blame(
    lab: Lab, tmp_path: Path, mode: str, words: str
) -> None:
    fake = None if mode == "closed" else FakeResolver(lab, mode)
    try:
        # a closed port: nothing listens on 127.0.0.1:9 in the client namespace, and the
        # kernel answers ICMP port unreachable
        resolver = "127.0.0.1:9" if fake is None else f"127.0.0.1:{fake.port}"
        code, lines = _timed_scan(lab, tmp_path, resolver)
    finally:
        if fake is not None:
            fake.stop()
    text = "\n".join(line for _, line in lines)
    assert "Traceback" not in text
    diagnosis = [(t, line) for t, line in lines if "the scanner's resolver" in line]
    assert diagnosis, text
    _at, line = diagnosis[0]
    assert words in line, line
    # "at once", without a timed assertion (wall time belongs to bench/): the diagnosis is
    # the scan's first word, before any target is probed, and the control queries that make
    # it are bounded by construction (CONTROL_TIMEOUT x CONTROL_ATTEMPTS, the 5 s)
    assert lines[0][1] == line, text
    assert CONTROL_TIMEOUT * CONTROL_ATTEMPTS <= DIAGNOSIS_WITHIN
    assert code == 2, text  # the scan is stored, but it tested nothing: documented exit 2
    doc, findings = _findings(tmp_path)
    assert doc["scan"]["footing"]["resolver"]["status"] == "down"
    assert findings and {f["status"] for f in findings} == {"not_tested"}
    for f in findings:
        assert f["message"].startswith("the scanner's resolver"), f
    assert {f["check"] for f in findings} >= {"dns.resolve", "dns.dnssec", "mail.spf"}


def test_resolver_failing_the_public_suffixes_takes_the_blame(lab: Lab, tmp_path: Path) -> None:
    # the root answers, but gov.vn and vn are NXDOMAIN: names under them are not judged
    fake = FakeResolver(lab, None)
    try:
        code, lines = _timed_scan(lab, tmp_path, f"127.0.0.1:{fake.port}")
    finally:
        fake.stop()
    text = "\n".join(line for _, line in lines)
    assert code == 2, text  # every name of the inventory is under them: nothing was tested
    assert "answers NXDOMAIN for the public suffix" in text
    doc, findings = _findings(tmp_path)
    resolver = doc["scan"]["footing"]["resolver"]
    assert resolver["status"] == "degraded"
    assert {s for s, _ in resolver["broken"]} == {"gov.vn", "vn"}
    resolve = [f for f in findings if f["check"] == "dns.resolve"]
    assert resolve and resolve[0]["status"] == "not_tested"
    assert "cannot be resolved by it" in resolve[0]["message"]
    assert not [f for f in findings if f["status"] == "fail"]


# -- reference targets -------------------------------------------------------------------


def test_reference_target_confirms_the_family(lab: Lab, tmp_path: Path) -> None:
    r = lab.run_auditor([*_scan_args(lab, tmp_path), "--reference", "www.good.gov.vn"])
    assert r.returncode == 0, r.stderr
    doc, findings = _findings(tmp_path)
    footing = doc["scan"]["footing"]
    for family in ("ipv6", "ipv4"):
        assert footing[family]["status"] == "ok"
        (ref,) = footing[family]["references"]
        assert ref["target"] == "www.good.gov.vn" and ref["outcome"] == "open"
        assert "reference www.good.gov.vn answered" in footing[family]["reason"]
    # the same verdicts as without it: every check of the good agency passes, but for the
    # rpki.* checks, which need the data files (--rpki-vrps, --bgp-table) this scan omits
    no_data = [f for f in findings if f["check"].startswith("rpki.")]
    assert all(f["status"] == "not_tested" and "no RPKI data" in f["message"] for f in no_data)
    rest = [f for f in findings if not f["check"].startswith("rpki.")]
    assert {f["status"] for f in rest} <= {"pass", "info", "not_applicable"}


def test_silent_reference_makes_the_family_down(lab: Lab, tmp_path: Path) -> None:
    # www.v6drop.gov.vn: its IPv6 address is a black hole (nftables drop), its IPv4 answers
    r = lab.run_auditor([*_scan_args(lab, tmp_path), "--reference", "www.v6drop.gov.vn"])
    assert r.returncode == 0, r.stderr
    doc, findings = _findings(tmp_path)
    footing = doc["scan"]["footing"]
    assert footing["ipv4"]["status"] == "ok"
    assert footing["ipv6"]["status"] == "down"
    assert "no reference target answered over IPv6" in footing["ipv6"]["reason"]
    assert NO_V6 in r.stderr
    reach = [f for f in findings if f["check"] == "ipv6.web.reach"]
    assert reach and reach[0]["status"] == "not_tested"
    assert not [f for f in findings if f["status"] == "fail"]
