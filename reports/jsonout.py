"""The scan's JSON output (``--json``): stable, versioned; documented in docs/JSON-SCHEMA.md
(JSON Schema: docs/scan.schema.json).

Shape: ``schema_version``, ``scan``, ``findings`` (one per agency x finding: a host shared by
two agencies appears once for each), and the scoring results: ``profile``, ``agencies``
(score, grade, KPI, sub-scores, one entry per (target, requirement) pair) and
``requirements`` (province-wide shares). Keys are only ever added within a schema version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.model import LOCAL_VANTAGE
from auditor.profiles import Profile, ProfileError
from auditor.scoring import AgencyScore, CheckResult, PairResult, ScanScore
from auditor.selfcheck import FOOTING_KEY
from auditor.store import Store

if TYPE_CHECKING:
    from reports.data import ReportData

JSON_SCHEMA_VERSION = 1


def scan_document(store: Store, scan_id: int, profile: str | None = None) -> dict[str, Any]:
    """The scan document as one object (tests and small scans; ``write_json`` streams it)."""
    return dict(json.loads("".join(scan_chunks(store, scan_id, profile))))


def _dumps(value: Any, level: int) -> str:
    """``value`` as ``json.dumps(doc, indent=2)`` writes it ``level`` levels deep: a
    member streamed on its own reads byte for byte as in the whole document (structural
    newlines only: a newline inside a string is written ``\\n``)."""
    out: list[str] = []
    if _fast(value, "\n" + "  " * level, out):
        return "".join(out)
    return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n" + "  " * level)


_STR = json.encoder.encode_basestring  # ensure_ascii=False: the C function where there is one
_FLOAT = float.__repr__


def _fast(value: Any, nl: str, out: list[str]) -> bool:
    """What ``json.dumps(value, ensure_ascii=False, indent=2)`` writes (newlines followed by
    ``nl``'s indent), appended to ``out``, for plain JSON values (str keys; str, int,
    finite float, bool, None, dict, list); False, with ``out`` to be dropped, for anything
    else: the caller falls back to ``json.dumps``. The standard library's encoder with an
    indent is its pure-Python one; this one writes a finding several times faster."""
    if isinstance(value, str):
        out.append(_STR(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif type(value) is int:
        out.append(int.__repr__(value))
    elif type(value) is float:
        if value != value or value in (float("inf"), float("-inf")):
            return False
        out.append(_FLOAT(value))
    elif type(value) is dict:
        if not value:
            out.append("{}")
            return True
        inner = nl + "  "
        first = True
        for k, v in value.items():
            if type(k) is not str:
                return False
            out.append(("{" if first else ",") + inner + _STR(k) + ": ")
            first = False
            if not _fast(v, inner, out):
                return False
        out.append(nl + "}")
    elif type(value) is list or type(value) is tuple:
        if not value:
            out.append("[]")
            return True
        inner = nl + "  "
        for i, v in enumerate(value):
            out.append(("[" if i == 0 else ",") + inner)
            if not _fast(v, inner, out):
                return False
        out.append(nl + "]")
    else:
        return False
    return True


def _array(key: str, items: Iterable[Any]) -> Iterator[str]:
    """``"key": [ ... ]`` one element at a time, at the document's first level."""
    empty = True
    for item in items:
        yield (f'  "{key}": [\n    ' if empty else ",\n    ") + _dumps(item, 2)
        empty = False
    yield f'  "{key}": []' if empty else "\n  ]"


def scan_chunks(
    store: Store, scan_id: int, profile: str | None = None, report: ReportData | None = None
) -> Iterator[str]:
    """The scan document as text, in pieces: the findings are read from the store and
    written target by target, the agencies one by one, so the document is never whole in
    memory. The bytes are those of ``json.dumps(document, ensure_ascii=False, indent=2)``
    plus a newline, the format of schema version 1 (tests/unit/test_reports.py holds it to
    that). ``report``: the run's scoring, shared with its other outputs (scored here when
    not given)."""
    scan = store.scan(scan_id)
    scoring_error = None
    if report is None:
        try:
            from reports.data import load_report

            report = load_report(store, scan_id, profile)
        except (ProfileError, KeyError, ValueError) as exc:
            # The findings are still worth writing when the profile cannot be loaded.
            scoring_error = str(exc)
    # The report's scan: with --tag its snapshot holds the selected agencies only.
    if report is not None:
        scan = report.scan
    owners = _owners(scan.inventory)
    waived: set[tuple[str, str, str, str]] = set()
    if report is not None:
        for a in report.score.agencies:
            for p in a.pairs:
                for c in p.checks:
                    if c.waiver is not None:
                        waived.add((a.id, c.target_kind.value, c.target, c.check))
    from reports.data import scan_vantages

    vantages = (
        report.vantages
        if report is not None
        else scan_vantages(store, scan_id, store.light_findings(scan_id))
    )
    # Not a one-machine scan: every finding names its vantage, the scan lists its vantages
    # with their footings. A one-machine scan (``local`` alone) is written as it always was.
    vantaged = vantages != (LOCAL_VANTAGE,)
    head: dict[str, Any] = {
        "id": scan.id,
        "started": scan.started,
        "finished": scan.finished,
        "status": scan.status,
        "kind": scan.kind,
        "source_scan": scan.source_scan,
        "profile": scan.profile,
        "inventory": scan.inventory_path,
        "inventory_name": scan.inventory_name,
        "tool_version": scan.tool_version,
        # counters; the footing is its own key below
        "stats": {k: v for k, v in scan.stats.items() if k != FOOTING_KEY},
        "footing": scan.stats.get(FOOTING_KEY),
    }
    if report is not None and report.tags:
        head["tags"] = list(report.tags)
    if vantaged:
        footings = store.vantage_footings(scan_id)
        head["vantages"] = [{"name": v, "footing": footings.get(v)} for v in vantages]

    def findings() -> Iterator[dict[str, Any]]:
        for f in store.iter_findings(scan_id):
            key = ("zone" if f.target_kind.value == "zone" else "host", f.target)
            if report is not None and not report.keeps(*key):
                continue  # --tag: another agency's target
            for agency in owners.get(key, ("",)):
                item: dict[str, Any] = {
                    "agency": agency,
                    "target": f.target,
                    "target_kind": f.target_kind.value,
                    "address": f.address,
                    "check": f.check,
                    "status": f.status.value,
                    "message": f.message,
                    "evidence": f.evidence,
                    "score": f.score,
                    "waived": (agency, f.target_kind.value, f.target, f.check) in waived,
                }
                if vantaged:
                    item["vantage"] = f.vantage
                yield item

    yield "{\n"
    yield f'  "schema_version": {JSON_SCHEMA_VERSION},\n'
    yield f'  "scan": {_dumps(head, 1)},\n'
    yield from _array("findings", findings())
    if report is None:
        yield f',\n  "scoring_error": {_dumps(scoring_error, 1)}\n}}\n'
        return
    rest: list[tuple[str, Any]] = [
        ("previous_scan", report.previous_scan.id if report.previous_scan else None),
        ("profile", profile_document(report.profile)),
        # How much of the profile's scored weight was actually tested, over every agency.
        ("coverage", report.score.coverage),
    ]
    for key, value in rest:
        yield f',\n  "{key}": {_dumps(value, 1)}'
    yield ",\n"
    yield from _array(
        "agencies",
        (
            agency_document(a, report.agency_delta(a.id), multi=report.multi_vantage)
            for a in report.score.ranked()
        ),
    )
    yield f',\n  "requirements": {_dumps(shares_document(report.score), 1)}\n}}\n'


def profile_document(profile: Profile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "title": profile.title,
        "grades": [{"grade": b.grade, "min": b.min_score} for b in profile.grades],
        "mandatory_fail_cap": profile.mandatory_fail_cap,
        "warn_credit": profile.warn_credit,
        "min_coverage": profile.min_coverage,
        # How several vantages combine (a profile fact, shown for every scan).
        "vantages": {"kpi": profile.vantage_kpi.value, "checks": profile.vantage_checks.value},
        "kpi": (
            {"id": profile.kpi.id, "title": profile.kpi.title, "checks": list(profile.kpi.checks)}
            if profile.kpi
            else None
        ),
        "requirements": [
            {
                "id": r.id,
                "title": r.title,
                "level": r.level.value,
                "weight": r.weight,
                "scored": r.scored,
                "checks": list(r.checks),
            }
            for r in profile.requirements
        ],
        "params": profile.params,
    }


def agency_document(a: AgencyScore, delta: float | None, multi: bool = False) -> dict[str, Any]:
    """One agency; ``multi`` (several vantages): each result and check also says what each
    vantage found, and ``kpi_hosts`` the KPI per host and vantage."""

    def check_doc(c: CheckResult) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": c.check,
            "status": c.status.value,
            "waived": c.waived,
            "waiver_expired": c.expired_waiver is not None,
            "message": c.message,
        }
        if multi:
            out["vantages"] = {
                v: {"status": r.status.value, "message": r.message} for v, r in c.vantages
            }
        return out

    def result_doc(p: PairResult) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requirement": p.requirement.id,
            "target": p.target,
            "target_kind": p.target_kind.value,
            "status": p.status.value,
            "credit": round(p.credit, 4),
            "checks": [check_doc(c) for c in p.checks],
        }
        if multi:
            out["vantages"] = {v: q.status.value for v, q in p.vantages}
            out["tested_share"] = round(p.tested_share, 4)
        return out

    doc: dict[str, Any] = {
        "id": a.id,
        "name": a.agency.name,
        "name_en": a.agency.name_en,
        "score": a.score,
        "grade": a.grade,
        "grade_capped": a.capped,
        "coverage": a.coverage,
        "insufficient_data": a.insufficient,
        "kpi": a.kpi,
        "change": delta,
        "categories": dict(a.categories),
        "category_coverage": dict(a.category_coverage),
        "counts": dict(a.counts),
        "hosts": list(a.agency.hosts),
        "zones": list(a.agency.zones),
        "results": [result_doc(p) for p in a.pairs],
        "waivers": [w.to_dict() for w in a.agency.waivers],
    }
    if multi:
        doc["kpi_hosts"] = [
            {
                "host": h.host,
                "kpi": h.answer,
                "vantages": {v: {"kpi": ans, "reason": why} for v, ans, why in h.vantages},
            }
            for h in a.host_kpis
        ]
    return doc


def shares_document(score: ScanScore) -> list[dict[str, Any]]:
    return [
        {
            "requirement": s.requirement.id,
            "agencies_pass": s.agencies_pass,
            "agencies_total": s.agencies_total,
            "targets_pass": s.targets_pass,
            "targets_total": s.targets_total,
        }
        for s in score.shares
    ]


def _owners(inventory: dict[str, Any]) -> dict[tuple[str, str], tuple[str, ...]]:
    owners: dict[tuple[str, str], list[str]] = {}
    for agency in inventory.get("agencies", []):
        for host in agency.get("hosts", []):
            name = host["host"] if isinstance(host, dict) else str(host)
            owners.setdefault(("host", name), []).append(agency["id"])
        for zone in agency.get("domains", []):
            owners.setdefault(("zone", zone), []).append(agency["id"])
    return {k: tuple(v) for k, v in owners.items()}


def write_json(
    store: Store,
    scan_id: int,
    path: str | Path,
    profile: str | None = None,
    report: ReportData | None = None,
) -> None:
    """Write the scan document to ``path`` (``-``: stdout), streamed (:func:`scan_chunks`);
    ``report``: the run's scoring, shared with its other outputs."""
    from reports import write_chunks

    write_chunks(path, scan_chunks(store, scan_id, profile, report))
