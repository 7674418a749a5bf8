"""Excel workbook (``auditor report --xlsx``, the dashboard's ``/export.xlsx``): the run's
one scoring as sheets a ministry's spreadsheet can sort and filter.

Sheets, in this order (their names and headers from the catalogue: Vietnamese by default):

1. **ranked**: every agency, best first, as the public summary has it (rank, score, grade,
   coverage, the IPv6 KPI, change since the previous scan): the only sheet of a public export;
2. **matrix**: one row per (agency, host or domain), one column per requirement of the
   profile, the pair's status (empty where the requirement has no pair for that target);
3. **failures**: each check that fails or warns on a target, with why it matters and how
   to fix it per platform (the check catalogue's text, translated where the catalogue is);
4. **untested**: what could not be tested and why, each row saying whose limit it was: the
   scanner's own (its footing, its load, its address guard, a check that crashed, a result
   never stored) apart from what the scanned host or domain did (did not resolve, did not
   answer): neither is ever counted as a failure;
5. **scan**: the scan itself (date, inventory, profile, vantages and the scanner's footing
   at each), the counts, and the profile's requirements (the matrix's columns).

Several vantages (issue #16): the matrix shows the combined status (the profile's rule);
the failures and untested sheets name the vantages whose own result it was.

Written with openpyxl (a well-kept writer; the format is a zip of XML parts no one should
write by hand) in write-only mode: rows are streamed to a temporary file per sheet as they
come, so a province's workbook (2,000 hosts: ~250,000 cells) is never a tree of cell
objects in memory (bench/README.md: no memory above the scoring's).

Remote text is hostile (an agency's name from an inventory, a server's banner quoted in a
message): every text cell is stored as a string, never a formula, and one that a
spreadsheet would read as a formula when typed or re-imported (OWASP "CSV injection": a
leading = + - @, tab or CR, or their full-width forms) gets a leading apostrophe, as the CSV
output does; the control characters XML 1.0 cannot carry (which openpyxl refuses) become
U+FFFD; a cell holds at most Excel's 32,767 characters.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from auditor import __version__
from auditor.model import Status, TargetKind
from auditor.scoring import AgencyScore, CheckResult, PairResult
from reports.data import ReportData
from reports.html import fmt_date
from reports.i18n import FIX_KEYS, Catalog

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Excel's specifications and limits: "Total number of characters that a cell can contain:
# 32,767"; a worksheet has 1,048,576 rows; a sheet name at most 31 characters.
MAX_CELL_CHARS = 32_767
MAX_ROWS = 1_048_576
MAX_SHEET_NAME = 31
# OWASP "CSV injection": what a spreadsheet reads as the start of a formula (or of a DDE
# call). The full-width forms too: Excel in East Asian locales accepts "＝" as "=".
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# The characters XML 1.0 cannot carry (openpyxl raises IllegalCharacterError on them):
# C0 controls but tab, LF and CR; and the surrogates and non-characters U+FFFE/U+FFFF.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"
ELLIPSIS = "…"

SCANNER = "scanner"  # whose limit: the scanner's own
TARGET = "target"  # what the scanned host or domain did
# Words of the messages of verdicts that rest on the scanner's own situation
# (auditor.engine, auditor.scoring, auditor.selfcheck): they name the scanner themselves.
_SCANNER_WORDS = (
    "the scanner was overloaded",
    "scanner's address guard",
    "no result stored for this check",
    "check crashed",
    "check returned",
)

_BOLD = Font(bold=True)
_UNDECIDED = (Status.NOT_TESTED, Status.ERROR)


def cell_text(value: str) -> str:
    """A text as it may go into a cell: legal XML characters, capped, never a formula."""
    text = _ILLEGAL.sub(REPLACEMENT, value)
    # A lone "-" (the reports' "no value") is no formula in any spreadsheet.
    if text != "-" and text.startswith(FORMULA_START):
        text = "'" + text
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - len(ELLIPSIS)] + ELLIPSIS
    return text


@dataclass(frozen=True)
class Scope:
    """What one export may show. ``agencies``: the agencies whose detail rows (matrix,
    failures, untested) are written, None for every agency; ``summary_only``: the ranked
    sheet alone (the public's export)."""

    agencies: frozenset[str] | None = None
    summary_only: bool = False

    def shows(self, agency_id: str) -> bool:
        return self.agencies is None or agency_id in self.agencies


EVERYTHING = Scope()


class _Sheet:
    """One write-only sheet: a bold header row, frozen, filterable, rows capped."""

    def __init__(
        self, wb: Workbook, title: str, headers: Sequence[str], widths: Sequence[int]
    ) -> None:
        self.ws: WriteOnlyWorksheet = wb.create_sheet(_sheet_name(title))
        self.columns = len(headers)
        for i, width in enumerate(widths, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = width
        self.ws.freeze_panes = "A2"
        self.rows = 0
        self.full = False
        self.append([self._cell(h, bold=True) for h in headers])
        self.ws.auto_filter.ref = f"A1:{get_column_letter(max(1, self.columns))}1"

    def _cell(self, value: Any, *, bold: bool = False) -> Cell:
        """A header cell (bold), stored as a string whatever it starts with."""
        c = WriteOnlyCell(self.ws, _value(value))
        if isinstance(c.value, str):
            c.data_type = "s"
        if bold:
            c.font = _BOLD
        return c

    def append(self, values: Sequence[Any]) -> None:
        if self.full:
            return
        if self.rows == MAX_ROWS - 1:
            # The last row Excel has says what was left out, rather than a file it refuses.
            self.ws.append([_value(f"{ELLIPSIS} (more than {MAX_ROWS - 1} rows, cut)")])
            self.full = True
            return
        # Plain values, not cell objects (a third of the time on a province's workbook):
        # after cell_text no text starts with "=", the one start openpyxl makes a formula of.
        self.ws.append([v if isinstance(v, Cell) else _value(v) for v in values])
        self.rows += 1


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return cell_text(value)
    if isinstance(value, bool):
        return str(value).lower()
    return value


def _sheet_name(title: str) -> str:
    """A legal sheet name: none of ``[]:*?/\\``, at most 31 characters."""
    # Nor may it begin or end with an apostrophe (Excel refuses the workbook).
    name = re.sub(r"[\[\]:*?/\\]", " ", _ILLEGAL.sub(" ", title)).strip(" '")
    return (name or "Sheet")[:MAX_SHEET_NAME]


def _number(value: float | None) -> float | str:
    return "-" if value is None else value


class _Writer:
    def __init__(self, data: ReportData, lang: str, scope: Scope) -> None:
        self.data = data
        self.lang = lang
        self.cat = Catalog(lang)
        self.scope = scope
        self.t = self.cat.t
        self.ranked = data.score.ranked()
        self.shown = [a for a in self.ranked if scope.shows(a.id)]

    def when(self, stamp: str) -> str:
        """A stored UTC timestamp as the reader writes dates: "08:05 03/12/2026 (UTC)" in
        Vietnamese; the ISO text as stored in English (sortable, what the JSON says)."""
        return fmt_date(stamp, "vi", with_time=True) if self.lang == "vi" else stamp

    def h(self, key: str) -> str:
        return self.t(f"xlsx.{key}")

    # -- words ------------------------------------------------------------------------
    def grade(self, a: AgencyScore) -> str:
        if a.insufficient:
            return self.t("insufficient_data")
        return a.grade or self.t("no_score")

    def kpi(self, answer: str) -> str:
        return self.t("kpi_na" if answer == "n/a" else f"kpi_{answer}")

    def kpi_title(self) -> str:
        """As the HTML index has it: the profile's KPI title (its Vietnamese one in vi)."""
        kpi = self.data.profile.kpi
        if kpi is None:
            return self.t("kpi_default")
        return (kpi.title_vi if self.cat.lang == "vi" and kpi.title_vi else None) or kpi.title

    # Several vantages (issue #16): a column naming the vantages whose own result it was.
    def vantage_header(self) -> list[str]:
        return [self.t("vantages")] if self.data.multi_vantage else []

    def vantage_width(self) -> list[int]:
        return [18] if self.data.multi_vantage else []

    def seen_from(self, c: CheckResult, statuses: tuple[Status, ...]) -> list[str]:
        if not self.data.multi_vantage:
            return []
        return [", ".join(v for v, own in c.vantages if own.status in statuses)]

    def kind(self, kind: TargetKind) -> str:
        return self.t(kind.value)

    def target_name(self, a: AgencyScore, name: str) -> str:
        display = a.agency.display.get(name)
        return f"{display} ({name})" if display and display != name else name

    # -- sheets -----------------------------------------------------------------------
    def write(self, wb: Workbook) -> None:
        self.ranked_sheet(wb)
        if self.scope.summary_only:
            return
        self.matrix_sheet(wb)
        self.failures_sheet(wb)
        self.untested_sheet(wb)
        self.scan_sheet(wb)

    def ranked_sheet(self, wb: Workbook) -> None:
        sheet = _Sheet(
            wb,
            self.h("sheet_ranked"),
            [
                self.t("rank"),
                self.h("agency_id"),
                self.t("agency"),
                self.h("name_en"),
                self.t("score"),
                self.t("grade"),
                self.h("coverage_pct"),
                self.kpi_title(),
                self.t("change"),
            ],
            [7, 18, 40, 30, 8, 20, 12, 22, 10],
        )
        rank = 0
        for a in self.ranked:
            ranked_here = not a.insufficient and a.score is not None
            rank += 1 if ranked_here else 0
            sheet.append(
                [
                    rank if ranked_here else "-",
                    a.id,
                    a.agency.name,
                    a.agency.name_en or "",
                    _number(a.score),
                    self.grade(a),
                    _number(a.coverage),
                    self.kpi(a.kpi),
                    _number(self.data.agency_delta(a.id)),
                ]
            )

    def matrix_sheet(self, wb: Workbook) -> None:
        reqs = self.data.profile.requirements
        sheet = _Sheet(
            wb,
            self.h("sheet_matrix"),
            [
                self.h("agency_id"),
                self.t("agency"),
                self.h("kind"),
                self.t("target"),
                *(f"{self.cat.requirement_title(r)} ({r.id})" for r in reqs),
            ],
            [18, 30, 10, 36, *(16 for _ in reqs)],
        )
        for a in self.shown:
            rows: dict[tuple[TargetKind, str], dict[str, PairResult]] = {}
            for p in a.pairs:
                rows.setdefault((p.target_kind, p.target), {})[p.requirement.id] = p
            for (kind, name), pairs in rows.items():
                sheet.append(
                    [
                        a.id,
                        a.agency.name,
                        self.kind(kind),
                        self.target_name(a, name),
                        *(
                            self.cat.status(pairs[r.id].status.value) if r.id in pairs else ""
                            for r in reqs
                        ),
                    ]
                )

    def failures_sheet(self, wb: Workbook) -> None:
        fixes = [f"{self.t('fix')}: {self.t('fix_' + k)}" for k in FIX_KEYS]
        sheet = _Sheet(
            wb,
            self.h("sheet_failures"),
            [
                self.h("agency_id"),
                self.t("agency"),
                self.h("kind"),
                self.t("target"),
                self.h("check_id"),
                self.t("check"),
                self.h("status"),
                *self.vantage_header(),
                self.t("level"),
                self.t("requirements"),
                self.t("message"),
                self.t("why"),
                *fixes,
            ],
            [
                18,
                30,
                10,
                36,
                22,
                36,
                12,
                *self.vantage_width(),
                14,
                36,
                60,
                60,
                *(50 for _ in fixes),
            ],
        )
        fix_cache: dict[str, dict[str, str]] = {}
        why_cache: dict[str, str] = {}
        for a in self.shown:
            reqs_of = _requirements_of(a)
            for c in a.failing():
                owners = reqs_of.get((c.target, c.check), [])
                mandatory = any(p.requirement.level.value == "mandatory" for p in owners)
                level = (
                    "mandatory"
                    if mandatory
                    else (owners[0].requirement.level.value if owners else "")
                )
                if c.check not in fix_cache:
                    fix_cache[c.check] = self.cat.check_fix(c.check)
                    why_cache[c.check] = self.cat.check_why(c.check)
                fix = fix_cache[c.check]
                sheet.append(
                    [
                        a.id,
                        a.agency.name,
                        self.kind(c.target_kind),
                        self.target_name(a, c.target),
                        c.check,
                        self.cat.check_title(c.check),
                        self.cat.status(c.status.value),
                        *self.seen_from(c, (Status.FAIL, Status.WARN)),
                        self.cat.level(level) if level else "",
                        "; ".join(
                            dict.fromkeys(self.cat.requirement_title(p.requirement) for p in owners)
                        ),
                        c.message,
                        why_cache[c.check],
                        *(fix.get(k, "") for k in FIX_KEYS),
                    ]
                )

    def untested_sheet(self, wb: Workbook) -> None:
        sheet = _Sheet(
            wb,
            self.h("sheet_untested"),
            [
                self.h("side"),
                self.h("agency_id"),
                self.t("agency"),
                self.h("kind"),
                self.t("target"),
                self.h("check_id"),
                self.t("check"),
                self.h("status"),
                *self.vantage_header(),
                self.h("reason"),
            ],
            [34, 18, 30, 10, 36, 22, 36, 16, *self.vantage_width(), 80],
        )
        limits = scanner_reasons(self.data)
        rows: list[tuple[str, AgencyScore, CheckResult]] = []
        for a in self.shown:
            rows.extend((untested_side(c, limits), a, c) for c in a.incomplete())
        # The scanner's own limits first, apart: they say nothing about any agency.
        rows.sort(key=lambda r: r[0] != SCANNER)
        for side, a, c in rows:
            sheet.append(
                [
                    self.h(f"side_{side}"),
                    a.id,
                    a.agency.name,
                    self.kind(c.target_kind),
                    self.target_name(a, c.target),
                    c.check,
                    self.cat.check_title(c.check),
                    self.cat.status(c.status.value),
                    *self.seen_from(c, (Status.NOT_TESTED, Status.ERROR)),
                    c.message,
                ]
            )

    def scan_sheet(self, wb: Workbook) -> None:
        d = self.data
        sheet = _Sheet(wb, self.h("sheet_scan"), [self.h("field"), self.h("value")], [34, 90])
        s = d.scan
        hosts = {h for a in self.shown for h in a.agency.hosts}
        zones = {z for a in self.shown for z in a.agency.zones}
        yes, total = d.score.kpi_share()
        limits = scanner_reasons(d)
        sides = [untested_side(c, limits) for a in self.shown for c in a.incomplete()]
        rows: list[tuple[str, Any]] = [
            (self.t("scan"), f"#{s.id}"),
            (self.h("kind"), s.kind + (f" (#{s.source_scan})" if s.source_scan else "")),
            (self.h("started"), self.when(s.started)),
            (self.h("finished"), self.when(s.finished) if s.finished else "-"),
            (self.h("inventory"), s.inventory_name),
            (self.t("profile"), f"{d.profile.name}: {d.profile.title}"),
        ]
        if self.scope.agencies is None:
            # The inventory's path on the scanning machine: for the whole province's export
            # (the CLI's, an admin's), not for one agency's.
            rows.insert(5, (self.h("inventory_path"), s.inventory_path))
        if d.profile_note:
            rows.append((self.h("profile_note"), d.profile_note))
        if d.tags:  # --tag: only the agencies with these inventory tags
            rows.append((self.h("tags"), self.t("tags_selected", tags=", ".join(d.tags))))
        rows += [
            (self.t("vantages"), ", ".join(d.vantages)),
            (self.h("vantage_rule"), d.profile.vantage_rule_text()),
            (self.h("agencies"), len(self.shown)),
            (self.t("hosts"), len(hosts)),
            (self.t("zones"), len(zones)),
            (self.h("scan_coverage"), _number(d.score.coverage)),
            (self.h("kpi_share"), f"{yes}/{total}"),
            (self.h("untested_scanner"), sides.count(SCANNER)),
            (self.h("untested_target"), sides.count(TARGET)),
            (self.t("tool_version"), f"{s.tool_version} (report: {__version__})"),
            (self.t("generated"), self.when(datetime.now(UTC).isoformat(timespec="seconds"))),
        ]
        for vantage, footing in _footings(d):
            label = self.t("footing") + (f" ({vantage})" if d.multi_vantage else "")
            if footing is None:
                rows.append((label, "-"))
                continue
            rows.append((label, footing.summary()))
            rows.extend((label, problem) for problem in footing.problems())
        for key, value in rows:
            sheet.append([key, value])
        sheet.append([])
        sheet.append([self.t("requirements"), ""])
        sheet.append(
            [
                sheet._cell(self.h("requirement_id"), bold=True),
                sheet._cell(self.t("requirement"), bold=True),
                sheet._cell(self.t("level"), bold=True),
                sheet._cell(self.t("weight"), bold=True),
                sheet._cell(self.t("checks"), bold=True),
            ]
        )
        for r in d.profile.requirements:
            sheet.append(
                [
                    r.id,
                    self.cat.requirement_title(r),
                    self.cat.level(r.level.value),
                    r.weight,
                    ", ".join(r.checks),
                ]
            )


def _requirements_of(a: AgencyScore) -> dict[tuple[str, str], list[PairResult]]:
    """(target, check) -> the agency's pairs that contain that check result."""
    out: dict[tuple[str, str], list[PairResult]] = {}
    for p in a.pairs:
        for c in p.checks:
            out.setdefault((c.target, c.check), []).append(p)
    return out


def _footings(data: ReportData) -> Iterator[tuple[str, Any]]:
    from auditor.selfcheck import Footing, footing_of

    if data.multi_vantage:
        for v in data.vantages:
            yield v, Footing.from_record(data.footings.get(v))
    else:
        yield data.primary_vantage, footing_of(data.scan.stats)


def scanner_reasons(data: ReportData) -> frozenset[str]:
    """The reasons recorded with the scanner's footing (at each vantage) that were not OK:
    a not-tested verdict that quotes one rests on the scanner, not on the target."""
    out: set[str] = set()
    for _vantage, footing in _footings(data):
        if footing is None:
            continue
        out.update(p for p in footing.problems() if p)
        out.update(reason for _suffix, reason in footing.resolver.broken if reason)
    return frozenset(out)


def untested_side(c: CheckResult, limits: Collection[str]) -> str:
    """Whose limit a not-tested or error result is: the scanner's own (:data:`SCANNER`),
    or what the scanned target did (:data:`TARGET`: it did not resolve, did not answer,
    did not serve what the check needed)."""
    if c.vantages:
        # Several vantages, none of which decided: the target's when any vantage's own
        # result was the target's doing (from there it could have been tested).
        own = [untested_side(r, limits) for _v, r in c.vantages if r.status in _UNDECIDED]
        return TARGET if TARGET in own else SCANNER
    if c.status == Status.ERROR or not c.findings:
        return SCANNER  # a check that crashed, a result never stored: the tool's own
    message = c.message
    if any(word in message for word in _SCANNER_WORDS):
        return SCANNER
    if any(reason in message for reason in limits):
        return SCANNER
    return TARGET


def write_workbook(
    data: ReportData, out: IO[bytes] | str | Path, lang: str = "vi", scope: Scope = EVERYTHING
) -> None:
    """Write the workbook of ``data`` to ``out`` (a binary stream or a file path)."""
    wb = Workbook(write_only=True)
    props = wb.properties
    props.creator = f"auditor {__version__}"
    props.title = Catalog(lang).t("report_title", name=cell_text(data.scan.inventory_name))
    props.language = lang
    _Writer(data, lang, scope).write(wb)
    wb.save(out)


def xlsx_bytes(data: ReportData, lang: str = "vi", scope: Scope = EVERYTHING) -> bytes:
    buf = io.BytesIO()
    write_workbook(data, buf, lang, scope)
    return buf.getvalue()


def write_xlsx(data: ReportData, path: str | Path, lang: str = "vi") -> None:
    """``auditor report --xlsx FILE``: ``-`` is stdout (the bytes, for a pipe); a file is
    written whole or not at all (a temporary file renamed into place)."""
    from reports import STDOUT

    if str(path) == STDOUT:
        sys.stdout.buffer.write(xlsx_bytes(data, lang))
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    try:
        with part.open("wb") as out:
            write_workbook(data, out, lang)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


__all__ = [
    "CONTENT_TYPE",
    "EVERYTHING",
    "MAX_CELL_CHARS",
    "SCANNER",
    "TARGET",
    "Scope",
    "cell_text",
    "scanner_reasons",
    "untested_side",
    "write_workbook",
    "write_xlsx",
    "xlsx_bytes",
]
