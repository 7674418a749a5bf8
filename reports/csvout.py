"""CSV output: one row per (agency, host or domain, requirement), for spreadsheets.

Cells that a spreadsheet would read as a formula (starting with = + - @ or a tab/CR) are
prefixed with an apostrophe: messages carry remote text (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from auditor.model import Status
from reports.data import ReportData

COLUMNS = (
    "scan_id",
    "scan_date",
    "profile",
    "agency_id",
    "agency_name",
    "agency_score",
    "agency_grade",
    "agency_coverage",
    "target_kind",
    "target",
    "requirement_id",
    "requirement_title",
    "level",
    "weight",
    "status",
    "credit",
    "failing_checks",
    "message",
)

# The grade cell of an agency whose coverage is under the profile's min_coverage.
INSUFFICIENT = "insufficient data"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return text
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_text(data: ReportData) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for a in data.score.ranked():
        for p in a.pairs:
            bad = [
                c
                for c in p.checks
                if c.status not in (Status.PASS, Status.INFO, Status.NOT_APPLICABLE)
            ]
            message = "; ".join(f"{c.check}: {c.message}" for c in bad)
            row = (
                data.scan.id,
                data.scan.started[:10],
                data.profile.name,
                a.id,
                a.agency.name,
                a.score,
                INSUFFICIENT if a.insufficient else a.grade,
                a.coverage,
                p.target_kind.value,
                p.target,
                p.requirement.id,
                p.requirement.title,
                p.requirement.level.value,
                p.requirement.weight,
                p.status.value,
                round(p.credit, 4),
                " ".join(c.check for c in bad),
                message,
            )
            w.writerow([_cell(v) for v in row])
    return buf.getvalue()


def write_csv(data: ReportData, path: str | Path) -> None:
    """Write the CSV to ``path`` (``-``: stdout, without the BOM a pipe does not want)."""
    from reports import write_output

    # A file: UTF-8 with BOM so spreadsheet programs show Vietnamese names correctly.
    write_output(path, csv_text(data), bom=True)
