"""``--rpki-vrps URL``: a validator's JSON export fetched over HTTP from a real server on
127.0.0.1 started by the test (http.server in a thread), through the same parser as a
file; a 500, a refused connection, an oversize export and a cut body make the rpki.*
checks not tested with the reason, never a pass or fail."""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auditor.model import Status
from auditor.options import ScanOptions
from auditor.probes.routing import TablesOnce, fetch_vrps, load_tables, routing_for
from auditor.protocol.rpki import RpkiDataError
from tests.support.factories import NOW, run
from tests.unit.test_rpki import (
    BAD_AS_ADDR,
    GEN,
    ROAS,
    VALID_ADDR,
    _host,
    pfx2as,
    routinator_jsonext,
)

LAST_MODIFIED = "Fri, 27 Nov 2026 11:00:00 GMT"


@dataclass
class Routes:
    """What the test server answers per path: (status, headers, body)."""

    pages: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Routes]]:
    routes = Routes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            routes.hits.append(self.path)
            status, headers, body = routes.pages.get(self.path, (404, {}, b"not here"))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def bgp_file(tmp_path: Path) -> str:
    path = tmp_path / "routeviews-rv2-20261127-0800.pfx2as"
    path.write_text(pfx2as())
    return str(path)


def verdict_for(opts: ScanOptions, address: str) -> tuple[Status, str]:
    obs = _host((address,), routing_for(opts, [(address, "web", "www")], NOW))
    v = run("rpki.web.valid", obs)
    return v.status, v.message


def test_url_export_read_by_the_file_parser_and_judged(
    tmp_path: Path, server: tuple[str, Routes]
) -> None:
    base, routes = server
    routes.pages["/jsonext"] = (
        200,
        {"Last-Modified": LAST_MODIFIED},
        routinator_jsonext().encode(),
    )
    opts = ScanOptions(rpki_vrps_file=f"{base}/jsonext", bgp_table_file=bgp_file(tmp_path))
    tables = load_tables(opts.rpki_vrps_file, opts.bgp_table_file)
    assert not tables.data.error, tables.data.error
    assert tables.data.vrps_file == f"{base}/jsonext"
    assert tables.data.vrps_format == "routinator-jsonext"
    assert tables.data.vrps_count == len(ROAS)
    # the JSON's metadata wins over the HTTP header, as for a file over its mtime
    assert (tables.data.vrps_date, tables.data.vrps_date_source) == (GEN, "metadata")
    assert verdict_for(opts, VALID_ADDR)[0] == Status.PASS
    assert verdict_for(opts, BAD_AS_ADDR)[0] == Status.FAIL


def test_url_fetched_once_per_scan(tmp_path: Path, server: tuple[str, Routes]) -> None:
    base, routes = server
    routes.pages["/json"] = (200, {}, routinator_jsonext().encode())
    opts = ScanOptions(rpki_vrps_file=f"{base}/json", bgp_table_file=bgp_file(tmp_path))
    once = TablesOnce()
    for address in (VALID_ADDR, BAD_AS_ADDR, VALID_ADDR):
        obs = routing_for(opts, [(address, "web", "www")], NOW, once=once)
        assert obs.addresses and not obs.data.error
    assert routes.hits == ["/json"]
    # a new scan (a new TablesOnce) fetches again: the validator's newer data
    routing_for(opts, [(VALID_ADDR, "web", "www")], NOW, once=TablesOnce())
    assert routes.hits == ["/json", "/json"]


def test_http_date_when_the_metadata_has_none_and_gzip(
    tmp_path: Path, server: tuple[str, Routes]
) -> None:
    base, routes = server
    # Routinator metadata whose times do not parse: the date comes from Last-Modified
    doc = routinator_jsonext().replace(f'"generatedTime": "{GEN}"', '"generatedTime": "soon"')
    doc = doc.replace('"generated": 1,', '"generated": "x",')
    routes.pages["/lm"] = (200, {"Last-Modified": LAST_MODIFIED}, doc.encode())
    routes.pages["/gz"] = (
        200,
        {"Content-Encoding": "gzip"},
        gzip.compress(doc.encode()),
    )
    got = fetch_vrps(f"{base}/lm", 5.0)
    assert (got.date, got.date_source) == ("2026-11-27T11:00:00Z", "HTTP Last-Modified")
    tables = load_tables(f"{base}/lm", bgp_file(tmp_path))
    assert tables.data.vrps_date == "2026-11-27T11:00:00Z"
    assert tables.data.vrps_date_source == "HTTP Last-Modified"
    # no Last-Modified: http.server's Date header (now), which is not the fixtures' NOW
    tables = load_tables(f"{base}/gz", bgp_file(tmp_path))
    assert not tables.data.error and tables.data.vrps_count == len(ROAS)
    assert tables.data.vrps_date_source == "HTTP Date"


def refused_url() -> str:
    # a port bound and closed again: nothing listens there
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/json"


def test_fetch_failures_are_not_tested_with_the_reason(
    tmp_path: Path, server: tuple[str, Routes], monkeypatch: pytest.MonkeyPatch
) -> None:
    import auditor.probes.routing as routing

    base, routes = server
    big = routinator_jsonext().encode()
    routes.pages["/500"] = (500, {}, b"validator not ready")
    routes.pages["/big"] = (200, {}, big)
    routes.pages["/cut"] = (200, {"Content-Length": str(len(big) + 1000)}, big)
    routes.pages["/html"] = (200, {}, b"<html>login</html>")
    monkeypatch.setattr(routing, "MAX_FETCH_BYTES", len(big) - 1)
    bgp = bgp_file(tmp_path)
    cases = {
        f"{base}/500": "HTTP 500",
        refused_url(): "ConnectError",
        f"{base}/big": f"larger than {len(big) - 1} bytes (the cap); cut",
        f"{base}/html": "not JSON",
    }
    for url, why in cases.items():
        opts = ScanOptions(rpki_vrps_file=url, bgp_table_file=bgp, timeout=2.0)
        status, message = verdict_for(opts, VALID_ADDR)
        assert status == Status.NOT_TESTED, (url, message)
        assert why in message and url in message, (url, message)
    with pytest.raises(RpkiDataError):
        fetch_vrps(f"{base}/big", 5.0, max_bytes=len(big) - 1)
    # a body shorter than its Content-Length (the server closed early): an error, not data
    monkeypatch.setattr(routing, "MAX_FETCH_BYTES", 10 * len(big))
    status, message = verdict_for(
        ScanOptions(rpki_vrps_file=f"{base}/cut", bgp_table_file=bgp, timeout=2.0), VALID_ADDR
    )
    assert status == Status.NOT_TESTED and f"{base}/cut" in message


def test_cli_accepts_a_url_and_still_checks_files(tmp_path: Path) -> None:
    import argparse

    from auditor.cli.common import UsageError, add_network_options, options_from_args

    p = argparse.ArgumentParser()
    add_network_options(p)
    bgp = bgp_file(tmp_path)
    url = "http://192.0.2.1:8323/jsonext"
    opts = options_from_args(p.parse_args(["--rpki-vrps", url, "--bgp-table", bgp]))
    assert opts.rpki_vrps_file == url  # kept as given, not made a path
    with pytest.raises(UsageError, match="no such file"):
        options_from_args(p.parse_args(["--rpki-vrps", str(tmp_path / "nope.json")]))
