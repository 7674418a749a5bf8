"""The dashboard's Excel download in a real browser: ``auditor serve`` as a real process and
Debian's chromium (the fixtures of test_serve_browser.py), its language Vietnamese (the
Accept-Language a vi-VN browser sends). Anonymous, the index's link gives the ranked
summary sheet alone; an agency's account, its agency page's link gives every sheet with its
own rows only; the files are read back with openpyxl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.e2e.test_serve_browser import SNV_HOST, browser, log_in, server

pytestmark = pytest.mark.browser

__all__ = ["browser", "server"]


def download(page: Any, selector: str, folder: Path) -> Any:
    with page.expect_download() as info:
        page.click(selector)
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    return load_workbook(target)


def agency_ids(ws: Any) -> set[str]:
    head, *body = list(ws.iter_rows(values_only=True))
    return {r[head.index("Mã cơ quan")] for r in body}


def test_anonymous_downloads_the_ranked_summary(server: str, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(accept_downloads=True, locale="vi-VN")
    page = context.new_page()
    page.goto(f"{server}/")
    wb = download(page, "a[href='/export.xlsx']", tmp_path)
    assert wb.sheetnames == ["Xếp hạng"]
    assert agency_ids(wb.worksheets[0]) == {"so-noi-vu", "ubnd", "empty"}
    context.close()


def test_agency_downloads_its_own_rows(server: str, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(accept_downloads=True, locale="vi-VN")
    page = context.new_page()
    log_in(page, server, "ubnd1")
    page.goto(f"{server}/agencies/ubnd")
    wb = download(page, "a[href='/export.xlsx?agency=ubnd']", tmp_path)
    assert len(wb.sheetnames) == 5
    for ws in wb.worksheets[1:4]:
        assert agency_ids(ws) <= {"ubnd"}, ws.title
    assert agency_ids(wb.worksheets[1]) == {"ubnd"}
    text = " ".join(
        str(v) for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r
    )
    assert SNV_HOST not in text
    # Another agency's, asked by hand: the same 404 as a guess.
    other = page.goto(f"{server}/export.xlsx?agency=so-noi-vu")
    assert other is not None and other.status == 404
    context.close()
