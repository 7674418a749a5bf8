"""The scan's JSON output (``--json``): stable, versioned, one finding per agency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.store import Store

JSON_SCHEMA_VERSION = 1


def scan_document(store: Store, scan_id: int) -> dict[str, Any]:
    scan = store.scan(scan_id)
    owners = _owners(scan.inventory)
    findings = []
    for f in store.findings(scan_id):
        key = ("zone" if f.target_kind.value == "zone" else "host", f.target)
        for agency in owners.get(key, ("",)):
            findings.append(
                {
                    "agency": agency,
                    "target": f.target,
                    "target_kind": f.target_kind.value,
                    "address": f.address,
                    "check": f.check,
                    "status": f.status.value,
                    "message": f.message,
                    "evidence": f.evidence,
                    "score": f.score,
                }
            )
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "scan": {
            "id": scan.id,
            "started": scan.started,
            "finished": scan.finished,
            "status": scan.status,
            "profile": scan.profile,
            "inventory": scan.inventory_path,
            "inventory_name": scan.inventory_name,
            "tool_version": scan.tool_version,
            "stats": scan.stats,
        },
        "findings": findings,
    }


def _owners(inventory: dict[str, Any]) -> dict[tuple[str, str], tuple[str, ...]]:
    owners: dict[tuple[str, str], list[str]] = {}
    for agency in inventory.get("agencies", []):
        for host in agency.get("hosts", []):
            name = host["host"] if isinstance(host, dict) else str(host)
            owners.setdefault(("host", name), []).append(agency["id"])
        for zone in agency.get("domains", []):
            owners.setdefault(("zone", zone), []).append(agency["id"])
    return {k: tuple(v) for k, v in owners.items()}


def write_json(store: Store, scan_id: int, path: str | Path) -> None:
    doc = scan_document(store, scan_id)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
