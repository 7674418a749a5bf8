"""Report renderers: HTML scorecards, JSON, CSV, JUnit, Markdown."""

from __future__ import annotations

import html
from pathlib import Path

from auditor.store import Store


def render_all(store: Store, scan_id: int, out_dir: Path, lang: str = "vi") -> list[Path]:
    """Write the HTML scorecards for one scan (minimal page until the scorecards land)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scan = store.scan(scan_id)
    rows = "".join(
        f"<tr><td>{html.escape(f.target)}</td><td>{html.escape(f.address or '')}</td>"
        f"<td>{html.escape(f.check)}</td><td>{html.escape(f.status.value)}</td>"
        f"<td>{html.escape(f.message)}</td></tr>"
        for f in store.findings(scan_id)
    )
    page = out_dir / "index.html"
    page.write_text(
        f"<!doctype html><html lang='{html.escape(lang)}'><meta charset='utf-8'>"
        f"<title>Scan {scan.id}</title><h1>{html.escape(scan.inventory_name)}</h1>"
        "<table><tr><th>target</th><th>address</th><th>check</th><th>status</th>"
        f"<th>message</th></tr>{rows}</table></html>",
        encoding="utf-8",
    )
    return [page]
