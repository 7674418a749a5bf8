"""Department paths in the lab (issue #18, part 2): a provincial portal, www.deptpath.gov.vn
(real nginx, both families), owned by one agency, with three departments published as its
paths and listed by three other agencies:

- /soa/: its nginx location sets an add_header of its own, so it loses the server's security
  headers, and its page loads a script and an image over http://;
- /sob/: written only in the IPv4 server block (IPv6 clients get 404);
- /soc/: as good as the portal.

The findings of each path are its own target ("host/path") and count for the agency that
lists the path, never for the portal's owner, whose root page is good.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .lab import Lab

pytestmark = pytest.mark.lab

PORTAL = "www.deptpath.gov.vn"
INVENTORY = f"""\
version: 1
name: Tỉnh thử nghiệm (đường dẫn đơn vị)
agencies:
  - id: cong
    name: Cổng thông tin tỉnh
    tags: [province]
    hosts: [{{host: {PORTAL}, paths: ["/"]}}]
  - id: so-a
    name: Sở A
    parent: cong
    tags: [department]
    hosts: [{{host: {PORTAL}, paths: ["/soa/"]}}]
  - id: so-b
    name: Sở B
    parent: cong
    tags: [department]
    hosts: [{{host: {PORTAL}, paths: ["/sob/"]}}]
  - id: so-c
    name: Sở C
    parent: cong
    tags: [department]
    hosts: [{{host: {PORTAL}, paths: ["/soc/"]}}]
"""


@pytest.fixture(scope="module")
def scanned(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("dept")
    inv = tmp / "inventory.yaml"
    inv.write_text(INVENTORY, encoding="utf-8")
    args = [
        "scan", str(inv), "--db", str(tmp / "s.db"), "--json", str(tmp / "scan.json"),
        "--out", str(tmp / "html"), "--lang", "en", "--ca-file", str(lab.ca_file),
        "--timeout", "3", "--quiet",
    ]  # fmt: skip
    for net in lab.allow_nets:
        args += ["--allow-net", net]
    result = lab.run_auditor(args, timeout=600)
    assert "Traceback" not in result.stderr, result.stderr
    assert (tmp / "scan.json").exists(), result.stderr
    return tmp, json.loads((tmp / "scan.json").read_text(encoding="utf-8"))


def _findings(doc: dict[str, Any], target: str, check: str) -> dict[str, dict[str, Any]]:
    """address -> finding of one check on one target."""
    return {
        f["address"]: f
        for f in doc["findings"]
        if f["target"] == target and f["check"] == check and f["target_kind"] == "path"
    }


def _family(found: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {("v6" if ":" in a else "v4"): f["status"] for a, f in found.items()}


def test_each_path_is_judged_over_each_family(scanned: tuple[Path, dict[str, Any]]) -> None:
    _tmp, doc = scanned
    soa, sob, soc = (f"{PORTAL}/{p}/" for p in ("soa", "sob", "soc"))

    headers = _findings(doc, soa, "http.path.headers")
    assert _family(headers) == {"v4": "fail", "v6": "fail"}, headers
    one = next(iter(headers.values()))
    assert "X-Content-Type-Options" in one["message"]
    assert "the path drops them" in one["message"]  # the portal's root sends them
    mixed = _findings(doc, soa, "http.path.mixed_content")
    assert _family(mixed) == {"v4": "fail", "v6": "fail"}, mixed
    assert f"http://{PORTAL}/app.js" in json.dumps(mixed)
    assert _family(_findings(doc, soa, "http.path.reachable")) == {"v4": "pass", "v6": "pass"}

    reach = _findings(doc, sob, "http.path.reachable")
    assert _family(reach) == {"v4": "pass", "v6": "fail"}, reach
    assert "404" in next(f["message"] for a, f in reach.items() if ":" in a)
    same = _findings(doc, sob, "http.path.same_content")
    assert _family(same) == {"v4": "not_applicable", "v6": "fail"}, same
    assert "status 200 over IPv4, 404 over IPv6" in json.dumps(same)

    for check in ("http.path.reachable", "http.path.headers", "http.path.mixed_content"):
        assert _family(_findings(doc, soc, check)) == {"v4": "pass", "v6": "pass"}, check
    assert _family(_findings(doc, soc, "http.path.same_content"))["v6"] == "pass"


def test_path_findings_count_for_the_department_not_the_portal(
    scanned: tuple[Path, dict[str, Any]],
) -> None:
    _tmp, doc = scanned
    # In the JSON every path finding names the agency listing the path.
    owners = {
        f["target"]: f["agency"] for f in doc["findings"] if f["target_kind"] == "path"
    }
    assert owners == {
        f"{PORTAL}/soa/": "so-a",
        f"{PORTAL}/sob/": "so-b",
        f"{PORTAL}/soc/": "so-c",
    }
    agencies = {a["id"]: a for a in doc["agencies"]}

    def pairs(agency: str, requirement: str) -> dict[str, str]:
        return {
            r["target"]: r["status"]
            for r in agencies[agency]["results"]
            if r["requirement"] == requirement
        }

    assert pairs("so-a", "dept-path-security") == {f"{PORTAL}/soa/": "fail"}
    assert pairs("so-a", "dept-path-ipv6") == {f"{PORTAL}/soa/": "pass"}
    assert pairs("so-b", "dept-path-ipv6") == {f"{PORTAL}/sob/": "fail"}
    assert pairs("so-c", "dept-path-ipv6") == {f"{PORTAL}/soc/": "pass"}
    assert pairs("so-c", "dept-path-security") == {f"{PORTAL}/soc/": "pass"}
    # The portal's owner has no department pair: its score is its own pages'.
    assert pairs("cong", "dept-path-ipv6") == {}
    assert pairs("cong", "dept-path-security") == {}
    assert agencies["so-c"]["score"] > agencies["so-a"]["score"]


def test_the_report_has_a_page_per_department_path(scanned: tuple[Path, dict[str, Any]]) -> None:
    tmp, _doc = scanned
    pages = sorted(p.name for p in (tmp / "html" / "paths").glob("*.html"))
    assert len(pages) == 3, pages
    so_a = (tmp / "html" / "agencies" / "so-a.html").read_text(encoding="utf-8")
    assert "Department path" in so_a  # the path's column in the agency's matrix
    assert "/soa/" in so_a
    cong = (tmp / "html" / "agencies" / "cong.html").read_text(encoding="utf-8")
    assert 'id="subordinates"' in cong  # the departments, with their own scores
    assert "/soa/" not in cong  # the department's path is not the portal owner's
