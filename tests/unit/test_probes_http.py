"""The HTTP probe's pure parts: body decoding, subresource extraction, what it does without
a server to talk to. The probe against nginx and hostile servers on loopback is
tests/integration/test_probes_http.py.
"""

from __future__ import annotations

import pytest

from auditor.obs.core import Outcome, TcpProbe
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.http import decode_body, probe_http
from auditor.protocol.html import extract_subresources
from auditor.similarity import sketch

LOOPBACK = ("127.0.0.0/8", "::1/128")
HOST = "good.test"


def _ctx(**kw: object) -> ProbeContext:
    opts: dict[str, object] = {"allow_nets": LOOPBACK, "timeout": 3.0}
    opts.update(kw)
    return ProbeContext(ScanOptions(**opts))  # type: ignore[arg-type]


def _open(address: str, port: int) -> TcpProbe:
    return TcpProbe(address, port, Outcome.OPEN)


# ---------------------------------------------------------------------------
# Nothing to connect to: a closed port, the guard


@pytest.mark.asyncio
async def test_closed_ports_and_guard() -> None:
    closed = TcpProbe("127.0.0.1", 80, Outcome.REFUSED, detail="connection refused")
    obs = await probe_http(_ctx(), HOST, "127.0.0.1", closed, None)
    assert obs.outcome == Outcome.SKIPPED
    assert "refused" in obs.detail and "443 not probed" in obs.detail

    guarded = ProbeContext(ScanOptions())  # loopback not allowed
    obs = await probe_http(guarded, HOST, "127.0.0.1", _open("127.0.0.1", 80), None)
    assert obs.outcome == Outcome.BLOCKED


# ---------------------------------------------------------------------------
# Pure helpers of the probe


def test_decode_body_charsets() -> None:
    assert decode_body("Việt".encode(), "text/html; charset=utf-8") == "Việt"
    legacy = "Ngày tháng".encode("cp1258")  # Vietnamese legacy code page
    assert decode_body(legacy, 'text/html; charset="windows-1258"') == "Ngày tháng"
    meta = b'<meta charset="windows-1258">' + legacy
    assert decode_body(meta, "text/html").endswith("Ngày tháng")
    assert decode_body(b"\xff\xfe", "text/html; charset=bogus") == "\ufffd\ufffd"


def test_extract_subresources_cap_and_garbage() -> None:
    html = "".join(f'<img src="https://h{i}.example/x.png">' for i in range(500))
    refs = extract_subresources(
        html + "<script src='http://[bad/x.js'>", "https://a.test/", "a.test"
    )
    assert len(refs) == 200
    assert extract_subresources("<script src=//A.TEST/x.js>", "https://a.test/", "a.test") == ()
    assert extract_subresources("<<<>>><img src=", "https://a.test/", "a.test") == ()


def test_subresources_comments_entities_and_attribute_quirks() -> None:
    html = (
        "<!-- <script src='https://old.example/x.js'></script> -->"
        '<IMG SRC="https://img.example/a.png?x=1&amp;y=2" src="https://second.example/">'
        "<img/src=https://slash.example/p.png>"
        "<script src=https://bare.example/s.js async></script>"
        "<scripts src=https://not-a-tag.example/></scripts>"
        "<!-- unterminated <script src='https://hidden.example/'>"
    )
    refs = {r.url for r in extract_subresources(html, "https://a.test/", "a.test")}
    assert refs == {
        "https://img.example/a.png?x=1&y=2",
        "https://slash.example/p.png",
        "https://bare.example/s.js",
    }


def test_hostile_html_is_handled_in_linear_time() -> None:
    # These made CPython's html.parser (and a naive token regex) take minutes; the page is
    # remote text up to max_body. Only the results are asserted (speed is not), but a
    # regression would hang here.
    for hostile in (
        "<input name=" * 40000,
        "<meta " * 80000,
        "<img src=" * 50000,
        '<img a="' * 60000,
        "<!--" * 100000,
        "<" * 400000,
    ):
        assert extract_subresources(hostile, "https://a.test/", "a.test") == ()
        assert sketch(hostile, len(hostile)).shingles >= 0


def test_security_txt_body_is_read_as_utf8_whatever_the_charset() -> None:
    # RFC 9116 sec. 3: the file is UTF-8; a Latin-1 body is flagged, not decoded as Latin-1
    from auditor.probes.http import _utf8_text

    assert _utf8_text("Contact: mailto:an@ủy-ban.vn\n".encode(), False) == (
        "Contact: mailto:an@ủy-ban.vn\n",
        False,
    )
    text, invalid = _utf8_text("Contact: é\n".encode("latin-1"), False)
    assert invalid and "\ufffd" in text
    # a cap that cuts a multi-byte character is not the file's fault
    assert _utf8_text("Contact: ủỷ".encode()[:-1], True) == ("Contact: ủ", False)
