"""Report renderers: HTML scorecards, JSON, CSV, Markdown (see docs/JSON-SCHEMA.md)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.store import Store

if TYPE_CHECKING:
    from auditor.model import Finding
    from reports.data import ReportData


def render_all(
    store: Store, scan_id: int, out_dir: Path, lang: str = "vi", profile: str | None = None
) -> list[Path]:
    """Write the HTML scorecards of one stored scan to ``out_dir``; return the pages written.

    ``profile`` overrides the scan's own profile (a name or a YAML path). The inventory used is
    the scan's stored snapshot, so past scans render as they were.
    """
    from reports.data import load_report

    return render_report(store, load_report(store, scan_id, profile), Path(out_dir), lang)


def render_report(
    store: Store, data: ReportData, out_dir: Path, lang: str = "vi", workers: int | None = None
) -> list[Path]:
    """The HTML scorecards of ``data`` (the run's one scoring, shared with its other
    outputs): the target pages stream their findings and observations from the store."""
    from reports.html import render_html

    # The target pages show one vantage's observations in detail (local, else the first);
    # the per-vantage verdicts are in the findings.
    observations = store.observations(data.scan.id, data.primary_vantage)
    findings: Iterable[Finding] = store.iter_findings(data.scan.id)
    if data.targets is not None:  # --tag: only the selected agencies' targets
        observations = (o for o in observations if data.keeps(o[0], o[1]))
        findings = (f for f in findings if data.keeps(f.target_kind, f.target))
    return render_html(data, Path(out_dir), lang, observations, findings, workers, store)


STDOUT = "-"


def write_output(path: str | Path, text: str, *, bom: bool = False) -> None:
    """Write one output: ``-`` is stdout (as for ``--markdown -``), anything else a file
    (its folder made). ``bom``: a UTF-8 BOM for files only (spreadsheets want it in a CSV
    file; a pipe to another program does not)."""
    import sys

    if str(path) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8-sig" if bom else "utf-8", newline="")


def write_chunks(path: str | Path, chunks: Iterable[str]) -> None:
    """Write one output given in pieces (a streamed document), as :func:`write_output`
    does: ``-`` is stdout; a file is written whole or not at all (a temporary file
    renamed into place once complete, so a failed render leaves no half document)."""
    import os
    import sys

    if str(path) == STDOUT:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    try:
        with part.open("w", encoding="utf-8", newline="") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def stdout_outputs(**outputs: str | None) -> list[str]:
    """The options (by name) that write to stdout; at most one may (``check_outputs``)."""
    return [name for name, value in outputs.items() if value == STDOUT]


def output_conflict(**outputs: str | None) -> str | None:
    """Why these outputs cannot be written (two of them on stdout), or None."""
    names = stdout_outputs(**outputs)
    if len(names) > 1:
        shown = ", ".join(f"--{n.replace('_', '-')} -" for n in names)
        return f"only one output can go to stdout ('-'), got {shown}"
    return None
