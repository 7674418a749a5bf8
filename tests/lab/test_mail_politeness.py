"""Politeness towards mail servers (issue #20): an MX whose server answers 421 after the
second connection gets mail.tls.* not_tested with the reason "the server limited us"
(never a fail), and the server's own record shows the auditor never had two connections
open to one address and opened none after the 421.

The server (tests/lab/smtp_scripted.py) listens on the lab addresses of
mx1.pflimited.gov.vn (scenarios.py, "pflimited": in the lab's DNS, in no inventory of the
lab scan); this test starts it and scans that one domain."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .lab import REPO_ROOT, SCAN_TIMEOUT, Lab

pytestmark = pytest.mark.lab

MX = "mx1.pflimited.gov.vn"
ZONE = "pflimited.gov.vn"


def _wait_ready(record: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the scripted SMTP server exited with {proc.returncode}")
        if record.exists() and json.loads(record.read_text()).get("ready"):
            return
        time.sleep(0.05)
    raise RuntimeError("the scripted SMTP server did not start")


def test_a_limiting_mx_is_not_tested_and_sees_one_connection_at_a_time(
    lab: Lab, tmp_path: Path
) -> None:
    addresses = lab.addresses(MX)
    assert set(addresses) == {"v4", "v6"}
    record = tmp_path / "record.json"
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        lab.netns.exec_srv(
            [sys.executable, "-m", "tests.lab.smtp_scripted", "--record", str(record),
             "--allow", "2", *addresses.values()]
        ),
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_ready(record, proc)
        inv = tmp_path / "inventory.yaml"
        inv.write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "name": "politeness",
                    "agencies": [{"id": "lab-pflimited", "name": "limited", "domains": [ZONE]}],
                }
            )
        )
        args = ["scan", str(inv), "--db", str(tmp_path / "s.db"), "--json",
                str(tmp_path / "scan.json"), "--ca-file", str(lab.ca_file),
                "--timeout", SCAN_TIMEOUT]  # fmt: skip
        for net in lab.allow_nets:
            args += ["--allow-net", net]
        done = lab.run_auditor(args, timeout=300)
        assert (tmp_path / "scan.json").exists(), done.stderr[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    findings = json.loads((tmp_path / "scan.json").read_text())["findings"]
    mine = {f["check"]: f for f in findings if f["target"] == ZONE}
    # the greeting (first connection) offered STARTTLS: mail.starttls has its answer
    assert mine["mail.starttls"]["status"] == "pass", mine["mail.starttls"]
    for check in ("mail.tls.protocols", "mail.tls.ciphers", "mail.tls.cert", "mail.tls.ems"):
        f = mine[check]
        assert f["status"] == "not_tested", (check, f)
        assert "the server limited us" in f["message"], (check, f["message"])
        rows = f["evidence"]["mx_addresses"]
        assert {r["family"] for r in rows.values()} == {"v4", "v6"}
        assert all("421" in r["message"] for r in rows.values()), rows
    served = json.loads(record.read_text())["addresses"]
    for fam, address in addresses.items():
        r = served[address]
        # the greeting probe, one TLS hello, then the 421 that stopped the probe
        assert r["connections"] == 3, (fam, r)
        assert r["sent_421"] == 1, (fam, r)
        assert r["after_421"] == 0, (fam, r)
        assert r["max_open"] == 1, (fam, r)
        assert r["commands"][:2] == ["EHLO", "QUIT"], (fam, r)
