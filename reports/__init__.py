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
    return render_html(data, Path(out_dir), lang, store.observations(scan_id))
