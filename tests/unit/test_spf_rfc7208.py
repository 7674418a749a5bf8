"""The openspf RFC 7208 test suite (tests/data/rfc7208-tests.yml), every case.

Each case's zone data is served to :func:`auditor.protocol.spf.check_host` through the lookup
interface the zone probe also uses (``Query`` in, ``Answer`` out). The fake resolver below
follows the suite's conventions as its reference driver does (pyspf ``test/testspf.py``):

- ``SPF`` records are copied to ``TXT`` unless the name has ``TXT`` records of its own
  (the suite was written for the SPF RR type, which RFC 7208 removed; only TXT is queried);
- ``TIMEOUT`` makes a query time out unless a record of the asked type came before it;
- a name absent from the zone is NXDOMAIN (``error.*`` names time out);
- CNAMEs are followed, a CNAME loop is a server failure.

Every case applies: check_host() is implemented in full (macros, exp=, ptr, %{p}), so no
case is skipped. Where the suite allows several results, any of them passes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.protocol.spf import Answer, AnswerKind, Query, SpfResult, check_host, drive

SUITE = Path(__file__).resolve().parents[1] / "data" / "rfc7208-tests.yml"
# Cases that do not apply, with the reason. Empty: every case of the suite is run.
NOT_APPLICABLE: dict[str, str] = {}


def _txt_presentation(strings: tuple[str, ...]) -> str:
    """TXT presentation format (RFC 1035 sec. 5.1) of character-strings given as text."""
    out = []
    for s in strings or ("",):
        chars = []
        for b in s.encode("utf-8"):
            if b in (0x22, 0x5C):
                chars.append("\\" + chr(b))
            elif 0x20 <= b < 0x7F:
                chars.append(chr(b))
            else:
                chars.append(f"\\{b:03d}")
        out.append('"' + "".join(chars) + '"')
    return " ".join(out)


def _entries(records: list[Any]) -> list[tuple[str, Any] | str]:
    """The zone entries of one name, SPF copied to TXT as the suite expects."""
    out: list[tuple[str, Any] | str] = []
    has_txt = any(isinstance(r, dict) and "TXT" in r for r in records)
    copies: list[tuple[str, Any]] = []
    for r in records:
        if r == "TIMEOUT":
            out.append("TIMEOUT")
            continue
        for rtype, value in r.items():
            if rtype in ("TXT", "SPF") and isinstance(value, str):
                value = (value,)
            elif rtype in ("TXT", "SPF"):
                value = tuple(value)
            if value == ("NONE",):
                continue
            out.append((rtype, value))
            if rtype == "SPF" and not has_txt:
                copies.append(("TXT", value))
    return out + copies


class SuiteZone:
    def __init__(self, zonedata: dict[str, list[Any]]) -> None:
        self.zone = {name.lower().rstrip("."): _entries(recs) for name, recs in zonedata.items()}
        self.queries: list[Query] = []

    def lookup(self, query: Query) -> Answer:
        self.queries.append(query)
        return self._resolve(query.name.lower().rstrip("."), query.rdtype, 0)

    def _resolve(self, name: str, rdtype: str, depth: int) -> Answer:
        if depth > 10:
            return Answer(AnswerKind.ERROR, detail="CNAME chain too long (loop)")
        entries = self.zone.get(name)
        if entries is None:
            if name.startswith("error."):
                return Answer(AnswerKind.ERROR, detail="timeout")
            return Answer(AnswerKind.NXDOMAIN)
        records: list[str] = []
        for entry in entries:
            if isinstance(entry, str):  # "TIMEOUT", the one bare string _entries makes
                if not records:
                    return Answer(AnswerKind.ERROR, detail="timeout")
                break
            rtype, value = entry
            if rtype == "CNAME" and rdtype != "CNAME":
                return self._resolve(str(value).lower().rstrip("."), rdtype, depth + 1)
            if rtype != rdtype:
                continue
            if value == "TIMEOUT":
                return Answer(AnswerKind.ERROR, detail="timeout")
            records.append(self._format(rtype, value))
        if not records:
            return Answer(AnswerKind.NODATA)
        return Answer(AnswerKind.OK, tuple(records))

    @staticmethod
    def _format(rtype: str, value: Any) -> str:
        if rtype == "TXT":
            return _txt_presentation(value)
        if rtype == "MX":
            pref, host = value
            return f"{pref} {host}."
        if rtype == "PTR":
            return str(value).rstrip(".") + "."
        return str(value)


def _cases() -> list[Any]:
    params = []
    with SUITE.open("rb") as f:
        for scenario in yaml.safe_load_all(f):
            zone = scenario["zonedata"]
            for name, case in scenario["tests"].items():
                marks = []
                if name in NOT_APPLICABLE:
                    marks.append(pytest.mark.skip(reason=NOT_APPLICABLE[name]))
                params.append(pytest.param(zone, case, id=name, marks=marks))
    return params


CASES = _cases()


def test_the_whole_suite_is_collected() -> None:
    # 2014.04 release plus the 2019.08 additions: a truncated file must not pass quietly
    assert len(CASES) == 203  # every "result:" of the file
    assert not NOT_APPLICABLE


@pytest.mark.parametrize(("zonedata", "case"), CASES)
def test_rfc7208_suite(zonedata: dict[str, list[Any]], case: dict[str, Any]) -> None:
    zone = SuiteZone(zonedata)
    mailfrom = case["mailfrom"]
    helo = case["helo"]
    if mailfrom:
        sender, domain = mailfrom, mailfrom.rpartition("@")[2]
    else:  # RFC 7208 sec. 2.3: the HELO identity, with postmaster as local-part
        sender, domain = f"postmaster@{helo}", helo
    outcome = drive(check_host(case["host"], domain, sender, helo), zone.lookup)
    expected = case["result"] if isinstance(case["result"], list) else [case["result"]]
    assert outcome.result in {SpfResult(r) for r in expected}, (
        f"{case.get('spec')}: got {outcome.result} ({outcome.reason}), want {expected}; "
        f"queries {[(q.name, q.rdtype) for q in zone.queries]}"
    )
    if "explanation" in case and outcome.result == SpfResult.FAIL:
        want = None if case["explanation"] == "DEFAULT" else case["explanation"]
        assert outcome.explanation == want
