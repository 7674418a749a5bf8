"""``auditor demo``: the README's first command, as a newcomer runs it (no internet, no root).

Each test runs the real CLI in a subprocess. The demo starts its own DNS, HTTP, HTTPS and SMTP
servers on 127.0.0.1 and ::1 (high ports), scans them with the real engine and writes the
scorecards. Checked: the report exists; each deviation built into the demo shows as the
verdict the scenario names; every server is gone afterwards (after a normal run, after
Ctrl-C, and after ``--keep``); the gate works against a non-standard HTTPS port.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import markupsafe
import pytest

from auditor.demo.scenario import SCENARIO
from auditor.demo.servers import ipv6_loopback

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PORTS_LINE = re.compile(r"DNS (\d+), HTTP (\d+), HTTPS (\d+), SMTP (\d+)")
ORDER = {
    "fail": 5,
    "error": 4,
    "not_tested": 3,
    "warn": 2,
    "info": 1,
    "pass": 1,
    "not_applicable": 0,
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _demo(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "auditor", "demo", *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _ports(stderr: str) -> list[int]:
    m = PORTS_LINE.search(stderr)
    assert m, stderr
    return [int(x) for x in m.groups()]


def _nothing_listening(ports: list[int]) -> None:
    """No TCP listener on any demo port, on either loopback; the UDP DNS port is free."""
    addresses = ["127.0.0.1"] + (["::1"] if ipv6_loopback() else [])
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        for port in ports:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                assert s.connect_ex((address, port)) != 0, f"{address}:{port} still listening"
        with socket.socket(family, socket.SOCK_DGRAM) as u:
            u.bind((address, ports[0]))  # raises if the demo's DNS socket were still open


def _worst(findings: list[dict[str, Any]], kind: str, target: str, check: str) -> str | None:
    statuses = [
        f["status"]
        for f in findings
        if f["target_kind"] == kind and f["target"] == target and f["check"] == check
    ]
    return max(statuses, key=lambda s: ORDER[s]) if statuses else None


def test_demo_writes_a_meaningful_report_and_stops_its_servers(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = _demo("--out", str(out), "--lang", "en", "--quiet")
    _stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    index = out / "index.html"
    assert index.is_file() and str(index.resolve()) in stderr  # it says where the report is
    html = index.read_text(encoding="utf-8")
    for agency in SCENARIO.agencies:
        assert (out / "agencies" / f"{agency.id}.html").is_file()
        assert str(markupsafe.escape(agency.name_en)) in html  # --lang en: English names
    for host in SCENARIO.hosts:
        assert (out / "hosts" / f"{host.name}.html").is_file()
    doc = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    assert doc["scan"]["status"] == "complete"
    findings = doc["findings"]
    v6 = ipv6_loopback()
    for e in SCENARIO.expectations:
        if e.needs_v6 and not v6:
            continue
        got = _worst(findings, e.kind, e.target, e.check)
        assert got == e.status, f"{e.what}: {e.kind} {e.target} {e.check} is {got}"
        assert f"{e.check:<20} {e.target}: {e.what}" in stderr  # and the summary says so
    # The real probes ran: TLS handshakes, HTTP fetches, DNS and SMTP over loopback.
    stats = doc["scan"]["stats"]
    assert stats["connections"] > 50 and stats["dns_queries"] > 20
    assert any(f["check"] == "mail.starttls" and f["status"] == "pass" for f in findings)
    # The demo's names never reached a real resolver: every host resolved.
    assert all(f["status"] == "pass" for f in findings if f["check"] == "dns.resolve"), [
        f["message"] for f in findings if f["check"] == "dns.resolve"
    ]
    _nothing_listening(_ports(stderr))
    # Scores carry their coverage everywhere: here every agency was fully tested.
    assert all(a["coverage"] == 100.0 for a in doc["agencies"])
    # The inventory it wrote is an ordinary, valid one.
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "inventory",
            "validate",
            str(out / "demo-inventory.yaml"),
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def _wait_for(proc: subprocess.Popen[str], pattern: str, timeout: float = 120) -> str:
    """Read stderr lines until one matches; return everything read so far."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stderr.fileno(), True)
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"no {pattern!r} in: {seen}")


def test_ctrl_c_stops_every_server(tmp_path: Path) -> None:
    proc = _demo("--out", str(tmp_path / "r"))
    try:
        seen = _wait_for(proc, r"servers on 127\.0\.0\.1")
        proc.send_signal(signal.SIGINT)
        _out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, seen + rest
    assert "Traceback" not in seen + rest
    _nothing_listening(_ports(seen))


def test_keep_serves_until_ctrl_c_and_the_gate_works_on_a_non_standard_port(
    tmp_path: Path,
) -> None:
    out = tmp_path / "r"
    proc = _demo("--out", str(out), "--keep", "--quiet")
    try:
        seen = _wait_for(proc, r"keep running")
        seen += _wait_for(proc, r"auditor diff")
        dns_port, _http, https_port, smtp_port = _ports(seen)
        nets = ["--allow-net", "127.0.0.0/8"] + (
            ["--allow-net", "::1/128"] if ipv6_loopback() else []
        )
        gate = subprocess.run(
            [
                sys.executable,
                "-m",
                "auditor",
                "gate",
                f"https://www.vidu.test:{https_port}/",
                "--resolver",
                f"127.0.0.1:{dns_port}",
                "--ca-file",
                str(out / "demo-ca.pem"),
                "--port-map",
                f"53:{dns_port}",
                "--port-map",
                f"25:{smtp_port}",
                "--json",
                "-",
                "--quiet",
                *nets,
            ],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert gate.returncode in (0, 1, 2), gate.stderr  # a verdict, not a usage error
        assert f"https tested on port {https_port}" in gate.stderr
        # With the JSON on stdout, the verdict lines go to stderr.
        assert re.search(r"^GATE (PASSED|FAILED|INCOMPLETE) ", gate.stderr, re.M), gate.stderr
        doc = json.loads(gate.stdout)  # --json -: the document alone on stdout
        findings = doc["findings"]
        # Port 443's checks judged the server on the non-standard port: a real handshake.
        assert _worst(findings, "host", "www.vidu.test", "tls.available") == "pass"
        assert _worst(findings, "host", "www.vidu.test", "http.hsts") == "pass"
        assert _worst(findings, "host", "www.vidu.test", "tls.cert.trusted") == "pass"
        # The scan command the demo prints, with --port-map and --json - (stdout).
        http_port = _ports(seen)[1]
        maps = [f"80:{http_port}", f"443:{https_port}", f"53:{dns_port}", f"25:{smtp_port}"]
        scan = subprocess.run(
            [
                sys.executable,
                "-m",
                "auditor",
                "scan",
                str(out / "demo-inventory.yaml"),
                "--db",
                str(tmp_path / "cli.db"),
                "--json",
                "-",
                "--quiet",
                "--resolver",
                f"127.0.0.1:{dns_port}",
                "--ca-file",
                str(out / "demo-ca.pem"),
                *nets,
                *(x for m in maps for x in ("--port-map", m)),
            ],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert scan.returncode == 0, scan.stderr
        cli = json.loads(scan.stdout)["findings"]
        for e in SCENARIO.expectations:
            if not e.needs_v6 or ipv6_loopback():
                assert _worst(cli, e.kind, e.target, e.check) == e.status, e
        mapped = [f for f in cli if f["check"] == "http.https_redirect" and f["status"] == "pass"]
        assert mapped  # port 80 (mapped) redirected to https:// on the same name
        proc.send_signal(signal.SIGINT)
        _out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, seen + rest
    assert "Traceback" not in seen + rest
    _nothing_listening(_ports(seen))


def test_sigterm_stops_every_server_and_removes_the_keys(tmp_path: Path) -> None:
    proc = _demo("--out", str(tmp_path / "r"), "--keep", "--quiet")
    try:
        seen = _wait_for(proc, r"keep running")
        proc.send_signal(signal.SIGTERM)
        _out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, seen + rest
    assert "Traceback" not in seen + rest
    _nothing_listening(_ports(seen))
    # No private key is written next to the report (they live in a temporary folder).
    assert (tmp_path / "r" / "demo-ca.pem").is_file()
    assert not list((tmp_path / "r").glob("*.key"))
