"""RPKI route origin validation in the lab: `auditor gate` against www.good.gov.vn (and its
zone) with VRP and BGP files written by the test in each pair of standard formats, read
by the real loaders in the scanner process. The files are made so that each check sees
its PASS or FAIL case on the lab's real addresses:

- web (192.0.2.x, 2001:db8:80::x): announced by AS64500, ROAs for AS64500 -> valid;
- name servers: ns1 (192.0.2.53, 2001:db8:53::53) valid, ns2 (198.51.100.53) announced by
  AS64501 with a ROA for AS64999 only -> invalid-AS;
- mail (198.51.100.x invalid-AS; 2001:db8:25::x announced as a /56 where the ROA allows
  /48 at most) -> invalid-length.
Stale data (generated two weeks ago) and data dated a day ahead make every rpki.* check
not_tested.

The MX zones' name servers (rpki.mx_ns.*) are checked with a second pair of files, on
good.gov.vn (MX in its own zone: the agency's name servers, valid) and pfunsigned.gov.vn
(MX mx1.pfunsigned.vn, in a zone served by a.dns.vn / b.dns.vn, whose IPv6 prefix is
announced by an AS no ROA names: invalid-AS, while pfunsigned.gov.vn's own name servers
are valid).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from .lab import Lab

pytestmark = pytest.mark.lab

ROAS = [
    (64500, "192.0.2.0/24", 24),
    (64500, "2001:db8::/32", 48),
    (64999, "198.51.100.0/24", 24),
]
ROUTES = [
    ("192.0.2.0", 24, 64500),
    ("2001:db8:80::", 48, 64500),
    ("2001:db8:53::", 48, 64500),
    ("2001:db8:153::", 48, 64500),
    ("198.51.100.0", 24, 64501),
    ("2001:db8:25::", 56, 64500),
]


def _stamp(days_ago: float) -> str:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# rpki.mx_ns.*: everything valid but a.dns.vn's IPv6 prefix (announced by AS64666)
MX_NS_ROAS = [
    (64500, "192.0.2.0/24", 24),
    (64500, "2001:db8::/32", 48),
    (64501, "198.51.100.0/24", 24),
]
MX_NS_ROUTES = [
    ("192.0.2.0", 24, 64500),
    ("198.51.100.0", 24, 64501),
    ("2001:db8:2::", 48, 64666),  # a.dns.vn (pfunsigned.vn's name server)
    ("2001:db8:102::", 48, 64500),  # b.dns.vn
    ("2001:db8:25::", 48, 64500),
    ("2001:db8:53::", 48, 64500),
    ("2001:db8:80::", 48, 64500),
    ("2001:db8:153::", 48, 64500),
]


def write_files(
    tmp: Path,
    fmt: str,
    days_ago: float = 0.0,
    roas_in: list[tuple[int, str, int]] | None = None,
    routes_in: list[tuple[str, int, int]] | None = None,
) -> tuple[Path, Path]:
    gen = _stamp(days_ago)
    roa_rows = ROAS if roas_in is None else roas_in
    route_rows = ROUTES if routes_in is None else routes_in
    vrps, bgp = tmp / "vrps.json", tmp / "table.txt"
    if fmt == "rpki-client":
        roas = [{"asn": a, "prefix": p, "maxLength": m, "ta": "lab"} for a, p, m in roa_rows]
        vrps.write_text(json.dumps({"metadata": {"buildtime": gen}, "roas": roas}))
        bgp.write_text("".join(f"{n}\t{ln}\t{o}\n" for n, ln, o in route_rows))
    else:
        roas = [
            {"asn": f"AS{a}", "prefix": p, "maxLength": m, "source": [{"type": "roa"}]}
            for a, p, m in roa_rows
        ]
        vrps.write_text(json.dumps({"metadata": {"generated": 0, "generatedTime": gen},
                                    "roas": roas}))  # fmt: skip
        bgp.write_text("% RIS whois dump (lab)\n" + "".join(
            f"{o}\t{n}/{ln}\t100\n" for n, ln, o in route_rows))  # fmt: skip
    return vrps, bgp


def gate_findings(lab: Lab, tmp: Path, vrps: Path, bgp: Path,
                  zones: tuple[str, ...] = ()) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]  # fmt: skip
    cmd = ["gate", "https://www.good.gov.vn/", "--profile", "ncsc-nl",
           *(arg for z in zones for arg in ("--zone", z)),
           "--rpki-vrps", str(vrps), "--bgp-table", str(bgp),
           "--ca-file", str(lab.ca_file), "--timeout", "2", "--quiet",
           "--json", str(tmp / "gate.json")]  # fmt: skip
    for net in lab.allow_nets:
        cmd += ["--allow-net", net]
    result = lab.run_auditor(cmd, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    doc = json.loads((tmp / "gate.json").read_text())
    return {(f["target"], f["check"]): f for f in doc["findings"] if f["check"].startswith("rpki.")}


@pytest.mark.parametrize("fmt", ["rpki-client", "routinator"])
def test_rpki_checks_over_lab_addresses(lab: Lab, tmp_path: Path, fmt: str) -> None:
    vrps, bgp = write_files(tmp_path, fmt)
    got = gate_findings(lab, tmp_path, vrps, bgp)
    want = {
        ("www.good.gov.vn", "rpki.web.valid"): "pass",
        ("www.good.gov.vn", "rpki.web.roa"): "pass",
        ("good.gov.vn", "rpki.ns.valid"): "fail",
        ("good.gov.vn", "rpki.ns.roa"): "pass",
        ("good.gov.vn", "rpki.mx.valid"): "fail",
        ("good.gov.vn", "rpki.mx.roa"): "pass",
        # good.gov.vn's MX is in its own zone: its name servers again, ns2 invalid-AS
        ("good.gov.vn", "rpki.mx_ns.valid"): "fail",
        ("good.gov.vn", "rpki.mx_ns.roa"): "pass",
    }
    seen = {k: got[k]["status"] if k in got else "missing" for k in want}
    assert seen == want, {k: got.get(k, {}).get("message") for k in want}
    ns = got[("good.gov.vn", "rpki.ns.valid")]
    assert "198.51.100.53" in ns["message"] and "invalid-as" in ns["message"]
    mx = json.dumps(got[("good.gov.vn", "rpki.mx.valid")])
    assert "invalid-length" in mx and "invalid-as" in mx
    # every address judged: both of the web host's families in the evidence
    rows = got[("www.good.gov.vn", "rpki.web.valid")]["evidence"]["addresses"]
    assert any(":" in a for a in rows) and any("." in a for a in rows)
    assert got[("www.good.gov.vn", "rpki.web.valid")]["evidence"]["data"]["vrps"]["date"]


@pytest.mark.parametrize(
    ("days_ago", "reason"), [(14, "hours old"), (-1, "VRP data is dated in the future")]
)
def test_stale_or_future_rpki_data_is_not_tested(
    lab: Lab, tmp_path: Path, days_ago: float, reason: str
) -> None:
    vrps, bgp = write_files(tmp_path, "rpki-client", days_ago=days_ago)
    got = gate_findings(lab, tmp_path, vrps, bgp)
    assert got, "no rpki finding"
    for (target, check), f in got.items():
        assert f["status"] == "not_tested", (target, check, f["message"])
        assert reason in f["message"], (target, check, f["message"])


def test_rpki_mx_zone_name_servers(lab: Lab, tmp_path: Path) -> None:
    vrps, bgp = write_files(tmp_path, "routinator", roas_in=MX_NS_ROAS, routes_in=MX_NS_ROUTES)
    got = gate_findings(lab, tmp_path, vrps, bgp, zones=("good.gov.vn", "pfunsigned.gov.vn"))
    want = {
        ("good.gov.vn", "rpki.ns.valid"): "pass",
        ("good.gov.vn", "rpki.mx.valid"): "pass",
        ("good.gov.vn", "rpki.mx_ns.valid"): "pass",
        ("good.gov.vn", "rpki.mx_ns.roa"): "pass",
        ("pfunsigned.gov.vn", "rpki.ns.valid"): "pass",
        ("pfunsigned.gov.vn", "rpki.mx.valid"): "pass",
        ("pfunsigned.gov.vn", "rpki.mx_ns.valid"): "fail",
        ("pfunsigned.gov.vn", "rpki.mx_ns.roa"): "pass",
    }
    seen = {k: got[k]["status"] if k in got else "missing" for k in want}
    assert seen == want, {k: got.get(k, {}).get("message") for k in want}
    bad = got[("pfunsigned.gov.vn", "rpki.mx_ns.valid")]
    assert "a.dns.vn [2001:db8:2::2]" in bad["message"] and "invalid-as" in bad["message"]
    # every address of both of the MX zone's name servers, both families, judged
    rows = bad["evidence"]["addresses"]
    names = {"a.dns.vn [192.0.2.2]", "b.dns.vn [198.51.100.2]", "b.dns.vn [2001:db8:102::2]"}
    assert names <= set(rows)
    # the agency's own name servers are not the MX zone's
    ns_rows = got[("pfunsigned.gov.vn", "rpki.ns.valid")]["evidence"]["addresses"]
    assert not any(k.startswith(("a.dns.vn", "b.dns.vn")) for k in ns_rows)
