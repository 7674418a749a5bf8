"""CSV output: one row per (agency, host or domain, requirement), for spreadsheets.

Several vantages (issue #16): a ``vantage`` column after ``target``; each pair gets a row
combined by the profile's rule (vantage ``*``, a name no vantage can have) and then a row
per vantage with that vantage's own result. A one-machine scan has no such column.

Cells that a spreadsheet would read as a formula (starting with = + - @ or a tab/CR) are
prefixed with an apostrophe: messages carry remote text (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from auditor.model import Status
from auditor.scoring import AgencyScore, PairResult
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

# The vantage cell of the row that combines every vantage (by the profile's rule).
COMBINED = "*"

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


def _columns(multi: bool) -> tuple[str, ...]:
    if not multi:
        return COLUMNS
    at = COLUMNS.index("target") + 1
    return (*COLUMNS[:at], "vantage", *COLUMNS[at:])


def csv_text(data: ReportData) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    multi = data.multi_vantage
    w.writerow(_columns(multi))
    for a in data.score.ranked():
        for pair in a.pairs:
            each: list[tuple[str | None, PairResult]] = [(None, pair)]
            if multi:
                each = [(COMBINED, pair), *pair.vantages]
            for vantage, p in each:
                w.writerow([_cell(v) for v in _row(data, a, p, vantage)])
    return buf.getvalue()


def _row(
    data: ReportData, a: AgencyScore, p: PairResult, vantage: str | None
) -> tuple[object, ...]:
    """One CSV row: the pair's (``vantage``: a vantage column, ``*`` for the combined
    row, else that vantage's own pair)."""
    bad = [c for c in p.checks if c.status not in (Status.PASS, Status.INFO, Status.NOT_APPLICABLE)]
    message = "; ".join(f"{c.check}: {c.message}" for c in bad)
    row: tuple[object, ...] = (
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
    if vantage is not None:
        at = COLUMNS.index("target") + 1
        row = (*row[:at], vantage, *row[at:])
    return row


def write_csv(data: ReportData, path: str | Path) -> None:
    """Write the CSV to ``path`` (``-``: stdout, without the BOM a pipe does not want)."""
    from reports import write_output

    # A file: UTF-8 with BOM so spreadsheet programs show Vietnamese names correctly.
    write_output(path, csv_text(data), bom=True)
