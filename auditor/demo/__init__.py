"""The demo province (auditor demo): its scenario, DNS zones, PKI and servers, and its
inventory file. The ``auditor demo`` command itself is auditor.cli.demo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from auditor.demo.scenario import SCENARIO, Scenario

__all__ = ["SCENARIO", "write_inventory"]


def write_inventory(path: Path, scenario: Scenario = SCENARIO) -> None:
    """The demo inventory, an ordinary inventory file (users can copy its shape)."""
    today = dt.date.today()
    agencies = []
    for a in scenario.agencies:
        entry: dict[str, Any] = {
            "id": a.id,
            "name": a.name,
            "name_en": a.name_en,
            "domains": list(a.zones),
            "hosts": list(a.hosts),
        }
        if a.waivers:
            entry["waivers"] = [
                {
                    "check": w.check,
                    "hosts": [w.host],
                    "reason": w.reason,
                    "approved_by": w.approved_by,
                    "expires": (today + dt.timedelta(days=w.days)).isoformat(),
                }
                for w in a.waivers
            ]
        agencies.append(entry)
    doc = {
        "version": 1,
        "name": "Tỉnh Ví Dụ – auditor demo",
        "as_of": today.isoformat(),
        "profile": "vn-gov",
        "agencies": agencies,
    }
    head = (
        "# Written by `auditor demo`: the demo province served on this machine (names under\n"
        "# .test, RFC 6761). Scanning it needs the demo's servers: run `auditor demo --keep`.\n"
    )
    path.write_text(
        head + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
