"""Report renderers: HTML scorecards, JSON, CSV, Markdown (see docs/JSON-SCHEMA.md)."""

from __future__ import annotations

from pathlib import Path

from auditor.store import Store


def render_all(
    store: Store, scan_id: int, out_dir: Path, lang: str = "vi", profile: str | None = None
) -> list[Path]:
    """Write the HTML scorecards of one stored scan to ``out_dir``; return the pages written.

    ``profile`` overrides the scan's own profile (a name or a YAML path). The inventory used is
    the scan's stored snapshot, so past scans render as they were.
    """
    from reports.data import load_report
    from reports.html import render_html

    data = load_report(store, scan_id, profile)
    # The target pages show one vantage's observations in detail (local, else the first);
    # the per-vantage verdicts are in the findings.
    return render_html(data, Path(out_dir), lang, store.observations(scan_id, data.primary_vantage))


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
