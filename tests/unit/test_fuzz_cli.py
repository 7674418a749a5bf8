"""CLI-level fuzzing of the inventory and profile loaders (no network).

Every bad file given to `auditor inventory validate`, `auditor scan` or `auditor scan
--profile FILE` must end with exit code 2 and `file:line: field: message` lines on stderr,
never a traceback, and never start probing. The inventory loader's own hypothesis test is in
test_inventory.py; these drive the command line (argument parsing, error printing, the order
in which `scan` loads things), in process (fast, many examples) and, for a sample, as real
`python -m auditor` processes (what a user sees: tests/integration/test_fuzz_cli.py).

The cases named in BAD_INVENTORIES / BAD_PROFILES are rows of docs/ROBUSTNESS.md (section
"bad input"): tests/lab/robustness.json lists them with their expected outcome.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from auditor import cli
from auditor.cli import scan as cli_scan

ROOT = Path(__file__).resolve().parents[2]
GOOD_INVENTORY = ROOT / "inventories" / "example.yaml"

# `file:line: field: message` (the file may itself contain ':'; line is digits).
ERROR_LINE = re.compile(r"^(?:auditor: error: )?.+:\d+: [^\n]+: .+$")

VALID = """\
version: 1
name: fuzz
agencies:
  - id: so-a
    name: "Sở A"
    domains: [a.gov.vn]
    hosts:
      - www.a.gov.vn
      - {host: dvc.a.gov.vn, paths: ["/", "/x"]}
"""

LONG_LABEL = "a" * 64
LONG_NAME = ".".join(["abcdefghij" * 6 + "abc"] * 4) + ".gov.vn"  # > 253 octets

# name: (file suffix, content). Each must be rejected with exit code 2.
BAD_INVENTORIES: dict[str, tuple[str, str | bytes]] = {
    "empty file": (".yaml", ""),
    "binary garbage": (".yaml", bytes(range(256)) * 4),
    "not UTF-8": (".yaml", "version: 1\nname: \xe9\n".encode("latin-1")),
    "NUL byte": (".yaml", "version: 1\nname: a\x00b\n"),
    "top level is a list": (".yaml", "- 1\n- 2\n"),
    "YAML syntax error": (".yaml", "version: 1\nagencies: [\n"),
    "tab indentation": (".yaml", "version: 1\nagencies:\n\t- id: x\n"),
    "two documents": (".yaml", VALID + "---\n" + VALID),
    "duplicate top-level key": (".yaml", VALID + "name: again\n"),
    "duplicate agency key": (
        ".yaml",
        VALID.replace('name: "Sở A"', 'name: "Sở A"\n    name: "Sở B"'),
    ),
    "duplicate agency id": (
        ".yaml",
        VALID + '  - id: so-a\n    name: "again"\n    domains: [b.gov.vn]\n',
    ),
    "label longer than 63": (".yaml", VALID.replace("www.a.gov.vn", f"{LONG_LABEL}.a.gov.vn")),
    "name longer than 253": (".yaml", VALID.replace("www.a.gov.vn", LONG_NAME)),
    "label with underscore and space": (".yaml", VALID.replace("www.a.gov.vn", "w w_.a.gov.vn")),
    "label with HTML": (".yaml", VALID.replace("www.a.gov.vn", '"<script>.a.gov.vn"')),
    "URL instead of a host": (
        ".yaml",
        VALID.replace("www.a.gov.vn", '"https://www.a.gov.vn/"'),
    ),
    "host with port": (".yaml", VALID.replace("www.a.gov.vn", '"www.a.gov.vn:443"')),
    "IDN: invalid punycode": (".yaml", VALID.replace("www.a.gov.vn", "xn--zz.a.gov.vn")),
    "IDN: disallowed code point (emoji)": (
        ".yaml",
        VALID.replace("www.a.gov.vn", "\U0001f600.a.gov.vn"),
    ),
    "IDN: leading combining mark": (
        ".yaml",
        VALID.replace("www.a.gov.vn", "\u0301abc.a.gov.vn"),
    ),
    "IDN: mixed-direction label": (
        ".yaml",
        VALID.replace("www.a.gov.vn", "a\u05d0.a.gov.vn"),
    ),
    "single-label name": (".yaml", VALID.replace("www.a.gov.vn", "localhost")),
    "empty label": (".yaml", VALID.replace("www.a.gov.vn", "www..a.gov.vn")),
    "all-numeric TLD": (".yaml", VALID.replace("www.a.gov.vn", "www.a.123")),
    "wrong types": (".yaml", VALID.replace("domains: [a.gov.vn]", "domains: 42")),
    "unknown YAML tag": (".yaml", VALID.replace("name: fuzz", "name: !!python/object:os.system x")),
    "alias bomb (billion laughs)": (
        ".yaml",
        "version: 1\nname: x\n"
        + "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 9))
        + "agencies: [*a8]\n",
    ),
    "deep nesting": (".yaml", "version: 1\nagencies: " + "[" * 5000 + "]" * 5000 + "\n"),
    "unsupported suffix": (".txt", VALID),
    "CSV: bad header": (".csv", "a,b,c\n1,2,3\n"),
    "CSV: bad host": (".csv", "agency_id,agency_name,kind,name\nx,X,host,w w.gov.vn\n"),
    "CSV: NUL byte": (".csv", "agency_id,agency_name,kind,name\nx,X,host,a\x00.gov.vn\n"),
}

BAD_PROFILES: dict[str, str | bytes] = {
    "empty profile": "",
    "binary garbage": bytes(range(256)) * 4,
    "YAML syntax error": "name: x\nrequirements: [\n",
    "not a mapping": "- a\n- b\n",
    "unknown key": "name: x\nbogus: 1\nrequirements: []\n",
    "duplicate key": "name: x\nname: y\nrequirements: []\n",
    "unknown check id": (
        "name: x\ntitle: X\nrequirements:\n  - id: r\n    title: R\n    level: mandatory\n"
        "    weight: 1\n    checks: [no.such.check]\n"
    ),
    "negative weight": (
        "name: x\ntitle: X\nrequirements:\n  - id: r\n    title: R\n    level: mandatory\n"
        "    weight: -1\n    checks: [dns.resolve]\n"
    ),
    "alias bomb": (
        "name: x\n"
        + "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 9))
        + "requirements: *a8\n"
    ),
    "control character": "\x1f\nname: x\n",
    "deep nesting": "name: x\nrequirements: " + "[" * 5000 + "]" * 5000 + "\n",
}


class ScanStarted(Exception):
    """Raised instead of probing: a bad input must be rejected before any network step."""


@pytest.fixture(autouse=True)
def _no_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: object, **k: object) -> None:
        raise ScanStarted

    monkeypatch.setattr(cli_scan, "execute_scan", refuse)


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzzcli") as d:
        yield Path(d)


def _run(argv: list[str]) -> tuple[int, str]:
    """`auditor ARGV` in process: (exit code, stderr). Any exception but ScanStarted fails."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


def _assert_clear_error(code: int, stderr: str, path: Path) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines, "no message"
    for ln in lines:
        assert ERROR_LINE.match(ln), f"not file:line: field: message: {ln!r}"
    assert str(path) in lines[0]


def _write(d: Path, suffix: str, content: str | bytes, stem: str = "inv") -> Path:
    p = d / f"{stem}{suffix}"
    if isinstance(content, str):
        p.write_text(content, encoding="utf-8")
    else:
        p.write_bytes(content)
    return p


# -- named cases ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(BAD_INVENTORIES))
def test_bad_inventory_validate_and_scan(case: str) -> None:
    suffix, content = BAD_INVENTORIES[case]
    with _workdir() as d:
        p = _write(d, suffix, content)
        code, err = _run(["inventory", "validate", str(p)])
        _assert_clear_error(code, err, p)
        code, err = _run(["scan", str(p), "--db", str(d / "s.db"), "--quiet"])
        _assert_clear_error(code, err, p)
        assert not (d / "s.db").exists(), "a rejected inventory must not create a store"


@pytest.mark.parametrize("case", sorted(BAD_PROFILES))
def test_bad_profile_scan(case: str) -> None:
    with _workdir() as d:
        p = _write(d, ".yaml", BAD_PROFILES[case], stem="profile")
        code, err = _run(
            ["scan", str(GOOD_INVENTORY), "--profile", str(p), "--db", str(d / "s.db"), "--quiet"]
        )
        _assert_clear_error(code, err, p)


def test_missing_files() -> None:
    with _workdir() as d:
        missing = d / "nope.yaml"
        for argv in (
            ["inventory", "validate", str(missing)],
            ["scan", str(missing), "--db", str(d / "s.db")],
            ["scan", str(GOOD_INVENTORY), "--profile", str(missing), "--db", str(d / "s.db")],
        ):
            code, err = _run(argv)
            _assert_clear_error(code, err, missing)
        # a directory where a file is expected
        dir_inv = d / "dir.yaml"
        dir_inv.mkdir()
        code, err = _run(["inventory", "validate", str(dir_inv)])
        _assert_clear_error(code, err, dir_inv)


def test_good_inventory_reaches_the_scan() -> None:
    """The harness itself: a good inventory gets past the loaders (ScanStarted)."""
    with _workdir() as d, pytest.raises(ScanStarted):
        cli.main(["scan", str(GOOD_INVENTORY), "--db", str(d / "s.db"), "--quiet"])


# -- hypothesis -------------------------------------------------------------------------------

_label_chars = st.characters(
    codec="utf-8", exclude_categories=["Cs"], include_characters="-_.*:/ \t<>&\"'\\"
)
_host = st.one_of(
    st.text(_label_chars, min_size=0, max_size=80),
    st.lists(st.text(_label_chars, min_size=0, max_size=70), min_size=1, max_size=6).map(".".join),
    st.integers(0, 300).map(lambda n: "a" * n + ".gov.vn"),
    st.sampled_from(
        [
            "xn--",
            "xn--a",
            "xn--80ak6aa92e.vn",
            "-a.gov.vn",
            "a-.gov.vn",
            "ß.vn",
            "\u200d.gov.vn",
            "İ.gov.vn",
            "a.gov.vn.",
            ".a.gov.vn",
            "1.2.3.4",
            "[::1]",
            "::1",
            "*.gov.vn",
            "a" * 63 + ".vn",
        ]
    ),
)


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@st.composite
def _mutated_inventory(draw: st.DrawFn) -> str:
    """The valid inventory with one part replaced by something drawn."""
    kind = draw(st.sampled_from(["host", "domain", "id", "key", "dup", "line", "path", "raw"]))
    text = VALID
    if kind == "host":
        text = text.replace("www.a.gov.vn", _yaml_str(draw(_host)))
    elif kind == "domain":
        text = text.replace("[a.gov.vn]", "[" + _yaml_str(draw(_host)) + "]")
    elif kind == "id":
        text = text.replace("so-a", _yaml_str(draw(st.text(max_size=40))))
    elif kind == "key":
        key = draw(st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1))
        text = text.replace("    name:", f"    {key}: 1\n    name:")
    elif kind == "dup":
        line = draw(st.sampled_from(text.splitlines()[1:]))
        text = text.replace(line, line + "\n" + line, 1)
    elif kind == "line":
        lines = text.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.text(max_size=60))
        text = "\n".join(lines) + "\n"
    elif kind == "path":
        text = text.replace('"/x"', _yaml_str(draw(st.text(max_size=40))))
    else:
        text = draw(st.text(max_size=400))
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_mutated_inventory(), suffix=st.sampled_from([".yaml", ".yml"]))
def test_fuzz_inventory_cli(text: str, suffix: str) -> None:
    with _workdir() as d:
        p = _write(d, suffix, text)
        code, err = _run(["inventory", "validate", str(p)])
        assert code in (0, 2), err
        assert "Traceback" not in err
        if code == 0:
            return  # a valid inventory: `scan` would probe it (the harness refuses)
        _assert_clear_error(code, err, p)
        code, err = _run(["scan", str(p), "--db", str(d / "s.db"), "--quiet"])
        _assert_clear_error(code, err, p)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(st.text(max_size=30), min_size=0, max_size=6), max_size=6))
def test_fuzz_csv_inventory_cli(rows: list[list[str]]) -> None:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["agency_id", "agency_name", "kind", "name"])
    for r in rows:
        w.writerow(r)
    with _workdir() as d:
        p = _write(d, ".csv", buf.getvalue())
        code, err = _run(["inventory", "validate", str(p)])
        assert code in (0, 2), err
        assert "Traceback" not in err
        if code == 2:
            _assert_clear_error(code, err, p)
            code, err = _run(["scan", str(p), "--db", str(d / "s.db"), "--quiet"])
            _assert_clear_error(code, err, p)


_PROFILE_BASE = (ROOT / "checks" / "profiles" / "vn-gov.yaml").read_text(encoding="utf-8")


@st.composite
def _mutated_profile(draw: st.DrawFn) -> str:
    lines = _PROFILE_BASE.splitlines()
    kind = draw(st.sampled_from(["line", "drop", "dup", "value", "raw"]))
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "line":
        lines[i] = draw(st.text(max_size=60))
    elif kind == "drop":
        del lines[i]
    elif kind == "dup":
        lines.insert(i, lines[i])
    elif kind == "value" and ":" in lines[i]:
        head = lines[i].split(":", 1)[0]
        value = draw(
            st.one_of(
                st.text(max_size=30).map(_yaml_str),
                st.integers().map(str),
                st.sampled_from(["[]", "{}", "null", "-1", "1e999", "*x"]),
            )
        )
        lines[i] = f"{head}: {value}"
    else:
        return draw(st.text(max_size=300))
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_mutated_profile())
def test_fuzz_profile_cli(text: str) -> None:
    with _workdir() as d:
        p = _write(d, ".yaml", text, stem="profile")
        try:
            code, err = _run(
                [
                    "scan",
                    str(GOOD_INVENTORY),
                    "--profile",
                    str(p),
                    "--db",
                    str(d / "s.db"),
                    "--quiet",
                ]
            )
        except ScanStarted:
            assume(False)  # the mutation kept the profile valid
            return
        _assert_clear_error(code, err, p)


# -- as real processes ------------------------------------------------------------------------
