"""Typed view models of the target pages (one per host and per zone).

A stored observation is raw JSON from the network: any field may be missing, of another
type, or hostile. It is read here, once, into frozen dataclasses of plain strings and
tuples; ``target.html.j2`` reads only their attributes (no dict look-ups, no computing).
Every text stays a plain ``str`` (never ``Markup``), so the template's autoescaping and its
``finalize`` (visible control and bidirectional characters) apply to all of it, and every
remote text is clipped to ``MAX_VALUE_CHARS`` (a size cap on what the network sent).

A page is built from one target's findings and observation only (the render streams the
scan target by target), and is picklable: the pages of a big report are rendered by a
process pool (``reports.html``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.model import Finding
from auditor.text import clip

MAX_EVIDENCE_ROWS = 200
MAX_VALUE_CHARS = 600
MAX_LIST_ITEMS = 100  # rows of one observation list shown (ns queries, SMTP sessions, hops)

Rows = tuple[tuple[str, str], ...]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def flatten(obj: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Nested evidence/observation data as (dotted key, text) rows, capped in size."""
    rows: list[tuple[str, str]] = []

    def walk(o: Any, key: str, d: int) -> None:
        if len(rows) >= MAX_EVIDENCE_ROWS:
            return
        if isinstance(o, Mapping) and d < 6:
            if not o:
                rows.append((key or "-", "{}"))
            for k, v in o.items():
                walk(v, f"{key}.{k}" if key else str(k), d + 1)
            return
        if isinstance(o, list | tuple) and d < 6:
            if not o:
                rows.append((key or "-", "[]"))
            elif all(not isinstance(x, Mapping | list | tuple) for x in o):
                rows.append((key or "-", clip(", ".join(_text(x) for x in o), MAX_VALUE_CHARS)))
            else:
                for i, v in enumerate(o):
                    walk(v, f"{key}[{i}]", d + 1)
            return
        rows.append((key or "-", clip(_text(o), MAX_VALUE_CHARS)))

    walk(obj, prefix, depth)
    if len(rows) >= MAX_EVIDENCE_ROWS:
        rows.append(("…", f"(more than {MAX_EVIDENCE_ROWS} rows, cut)"))
    return rows


def s(value: Any) -> str:
    """A remote scalar as page text: ``""`` for a missing value, clipped."""
    if value is None:
        return ""
    return clip(str(value), MAX_VALUE_CHARS)


def _maps(value: Any, limit: int = MAX_LIST_ITEMS) -> list[Mapping[str, Any]]:
    """The mappings of a remote list (anything else dropped), at most ``limit``."""
    if not isinstance(value, list | tuple):
        return []
    return [x for x in value if isinstance(x, Mapping)][:limit]


def _strs(value: Any, limit: int = MAX_LIST_ITEMS) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(s(x) for x in value[:limit])


def _get(obj: Mapping[str, Any], key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else None


def _joined(*parts: Any) -> str:
    """Remote words shown side by side ("refused timeout"), the missing ones left out."""
    return " ".join(x for x in (s(p) for p in parts) if x)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Where:
    """One finding of a result group: where it was observed, with its evidence."""

    address: str  # "" for a target-scope check
    vantage: str
    evidence: Rows


@dataclass(frozen=True)
class ResultGroup:
    """One cause on a target: a check's findings from one vantage with the same status and
    message (an address-scope check passing alike on every address is one row, not one per
    address). ``evidence_shared``: every finding has the same evidence, shown once."""

    check: str
    title: str
    status: str
    message: str
    vantage: str
    where: tuple[Where, ...]
    evidence_shared: bool


@dataclass(frozen=True)
class Hit:
    check: str
    title: str
    address: str
    vantage: str


@dataclass(frozen=True)
class ReasonGroup:
    """One reason the scanner could not test something on this target, shown once, with
    every check (and address) it kept from being tested."""

    status: str
    reason: str
    hits: tuple[Hit, ...]


_ROW_ORDER = {
    "fail": 0,
    "error": 1,
    "warn": 2,
    "not_tested": 3,
    "info": 4,
    "pass": 5,
    "not_applicable": 6,
}
UNTESTED = ("not_tested", "error")


def result_groups(
    findings: Sequence[Finding],
    profile_order: Sequence[str],
    title: Callable[[str], str],
) -> tuple[tuple[ResultGroup, ...], tuple[ReasonGroup, ...]]:
    """A target's findings as result groups (what does not pass first, profile order within
    a status, then the stored checks the profile does not name) and, apart, the reasons
    something could not be tested, each once with what it hit."""
    rank = {c: i for i, c in enumerate(profile_order)}
    ordered = sorted(
        findings,
        key=lambda f: (
            f.check not in rank,
            _ROW_ORDER.get(f.status.value, 9) if f.check in rank else 0,
            rank.get(f.check, 0),
            f.check,
            ":" in (f.address or ""),
            f.address or "",
            f.vantage,
        ),
    )
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    reasons: dict[tuple[str, str], list[Finding]] = {}
    for f in ordered:
        if f.status.value in UNTESTED:
            reasons.setdefault((f.status.value, f.message), []).append(f)
        else:
            groups.setdefault((f.check, f.status.value, f.message, f.vantage), []).append(f)
    out = []
    for (check, status, message, vantage), fs in groups.items():
        where = tuple(Where(s(f.address), f.vantage, tuple(flatten(f.evidence))) for f in fs)
        out.append(
            ResultGroup(
                check=check,
                title=title(check),
                status=status,
                message=message,
                vantage=vantage,
                where=where,
                evidence_shared=len({w.evidence for w in where}) == 1,
            )
        )
    untested = [
        ReasonGroup(
            status=status,
            reason=reason,
            hits=tuple(Hit(f.check, title(f.check), s(f.address), f.vantage) for f in fs),
        )
        for (status, reason), fs in reasons.items()
    ]
    # The reason that kept most from being tested first.
    untested.sort(key=lambda g: (g.status != "error", -len(g.hits)))
    return tuple(out), tuple(untested)


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class DnsAnswer:
    rdtype: str
    outcome: str  # outcome and detail
    records: tuple[str, ...]
    cname_chain: str


@dataclass(frozen=True)
class TcpRow:
    address: str
    port: str
    outcome: str
    rtt_ms: str  # formatted for the page's language; "" when not measured


@dataclass(frozen=True)
class TlsVersionRow:
    version: str
    outcome: str
    detail: str  # detail and cipher


@dataclass(frozen=True)
class CipherRow:
    version: str
    name: str


@dataclass(frozen=True)
class CertView:
    subject: str
    issuer: str
    not_before: str
    not_after: str
    names: str  # the SANs, comma-separated
    key: str  # type, bits, curve
    signature: str


@dataclass(frozen=True)
class TlsView:
    address: str
    port: str
    outcome: str
    handshake: str
    versions: tuple[TlsVersionRow, ...]
    ciphers: tuple[CipherRow, ...]
    leaf: CertView | None
    trust: str
    chain: tuple[CertView, ...]


@dataclass(frozen=True)
class Hop:
    url: str
    status: str
    location: str


@dataclass(frozen=True)
class Fetch:
    url: str
    outcome: str
    hops: tuple[Hop, ...]
    headers: Rows


@dataclass(frozen=True)
class HttpView:
    address: str
    outcome: str
    fetches: tuple[Fetch, ...]
    rows: Rows


@dataclass(frozen=True)
class ZoneRecord:
    rdtype: str
    qname: str
    outcome: str
    records: tuple[str, ...]


@dataclass(frozen=True)
class ServerRow:
    role: str  # NS, or MX and its preference
    name: str
    a: tuple[str, ...]
    aaaa: tuple[str, ...]


@dataclass(frozen=True)
class DnssecView:
    status: str
    detail: str
    ds_present: str
    algorithms: str
    rrsig_expiry: str


@dataclass(frozen=True)
class NsQueryRow:
    ns: str
    address: str
    transport: str
    outcome: str


@dataclass(frozen=True)
class SmtpRow:
    mx: str
    address: str
    outcome: str
    starttls: str
    banner: str
    detail: str


@dataclass(frozen=True)
class ZoneView:
    records: tuple[ZoneRecord, ...]
    servers: tuple[ServerRow, ...]
    ns_queries: tuple[NsQueryRow, ...]
    dnssec: DnssecView | None
    smtp: tuple[SmtpRow, ...]


def dns_answers(obs: Mapping[str, Any]) -> tuple[DnsAnswer, ...]:
    dns = _get(obs, "dns")
    out = []
    for key in ("a", "aaaa"):
        ans = _get(dns, key) if isinstance(dns, Mapping) else None
        if not isinstance(ans, Mapping) or not ans:
            continue
        chain = ans.get("cname_chain")
        out.append(
            DnsAnswer(
                rdtype=s(ans.get("rdtype", key.upper())),
                outcome=_joined(ans.get("outcome"), ans.get("detail")),
                records=_strs(ans.get("records")),
                cname_chain=" → ".join(_strs(chain)),
            )
        )
    return tuple(out)


def addresses(obs: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    dns = _get(obs, "dns")
    if not isinstance(dns, Mapping):
        return ()
    out: list[tuple[str, str]] = []
    for rr, fam in (("a", "IPv4"), ("aaaa", "IPv6")):
        ans = dns.get(rr)
        if isinstance(ans, Mapping):
            out.extend((fam, r) for r in _strs(ans.get("records")))
    return tuple(out)


def tcp_rows(obs: Mapping[str, Any], num: Callable[[float], str]) -> tuple[TcpRow, ...]:
    out = []
    for p in _maps(obs.get("tcp")):
        rtt = p.get("rtt_ms")
        out.append(
            TcpRow(
                address=s(p.get("address")),
                port=s(p.get("port")),
                outcome=_joined(p.get("outcome"), p.get("detail")),
                rtt_ms=num(rtt)
                if isinstance(rtt, int | float) and not isinstance(rtt, bool)
                else "",
            )
        )
    return tuple(out)


def _cert(c: Mapping[str, Any]) -> CertView:
    return CertView(
        subject=s(c.get("subject")),
        issuer=s(c.get("issuer")),
        not_before=s(c.get("not_before")),
        not_after=s(c.get("not_after")),
        names=clip(", ".join(_strs(c.get("san"))), MAX_VALUE_CHARS),
        key=_joined(c.get("key_type"), c.get("key_bits"), c.get("curve")),
        signature=s(c.get("sig_algorithm")),
    )


def tls_views(obs: Mapping[str, Any]) -> tuple[TlsView, ...]:
    """Per-address TLS facts from a stored host observation (fields may be missing)."""
    out = []
    for t in _maps(obs.get("tls")):
        chain = tuple(_cert(c) for c in _maps(t.get("chain"), 16))
        out.append(
            TlsView(
                address=s(t.get("address")),
                port=s(t.get("port")),
                outcome=_joined(t.get("outcome"), t.get("detail")),
                handshake=_joined(t.get("handshake_version"), t.get("handshake_cipher")),
                versions=tuple(
                    TlsVersionRow(
                        s(v.get("version")),
                        s(v.get("outcome")),
                        _joined(v.get("detail"), v.get("cipher")),
                    )
                    for v in _maps(t.get("versions"))
                ),
                ciphers=tuple(
                    CipherRow(s(c.get("version")), s(c.get("name")))
                    for c in _maps(t.get("ciphers"), 400)
                ),
                leaf=chain[0] if chain else None,
                trust=_joined(t.get("trust"), t.get("trust_detail")),
                chain=chain,
            )
        )
    return tuple(out)


def http_views(obs: Mapping[str, Any]) -> tuple[HttpView, ...]:
    """Per address: each fetch (http://, https://) with its hops and the final headers."""
    out = []
    for h in _maps(obs.get("http")):
        fetches = []
        for key in ("http", "https"):
            f = h.get(key)
            if not isinstance(f, Mapping):
                continue
            hops = _maps(f.get("hops"))
            headers: list[tuple[str, str]] = []
            if hops:
                for pair in hops[-1].get("headers", []) or []:
                    if isinstance(pair, list | tuple) and len(pair) == 2:
                        headers.append((s(pair[0]), s(pair[1])))
            fetches.append(
                Fetch(
                    url=s(f.get("start_url")),
                    outcome=_joined(f.get("outcome"), f.get("detail")),
                    hops=tuple(
                        Hop(
                            s(x.get("url")),
                            s(x.get("status")),
                            s(x.get("target") or x.get("location")),
                        )
                        for x in hops
                    ),
                    headers=tuple(headers[:MAX_EVIDENCE_ROWS]),
                )
            )
        known = ("address", "http", "https", "outcome", "detail")
        rest = {k: v for k, v in h.items() if k not in known}
        out.append(
            HttpView(
                address=s(h.get("address")),
                outcome=_joined(h.get("outcome"), h.get("detail")),
                fetches=tuple(fetches),
                rows=tuple(flatten(rest)),
            )
        )
    return tuple(out)


def _answer(ans: Any) -> ZoneRecord | None:
    if not isinstance(ans, Mapping):
        return None
    return ZoneRecord(
        rdtype=s(ans.get("rdtype")),
        qname=s(ans.get("qname")),
        outcome=_joined(ans.get("outcome"), ans.get("detail")),
        records=_strs(ans.get("records"), 50),
    )


def zone_view(obs: Mapping[str, Any]) -> ZoneView:
    """Key facts of a stored zone observation: records, servers, DNSSEC, SMTP."""
    records = []
    for key in ("soa", "ns", "mx", "spf", "dmarc", "dmarc_org"):
        a = _answer(obs.get(key))
        if a is not None:
            records.append(a)
    caa = [x for x in (_answer(c) for c in _maps(obs.get("caa"))) if x is not None]
    relevant = next((c for c in caa if c.records), caa[-1] if caa else None)
    if relevant is not None:
        records.append(relevant)
    servers = []
    for role, key in (("NS", "ns_hosts"), ("MX", "mx_hosts")):
        for srv in _maps(obs.get(key)):
            a, aaaa = _answer(srv.get("a")), _answer(srv.get("aaaa"))
            pref = srv.get("preference")
            servers.append(
                ServerRow(
                    role=role if pref is None else f"{role} {s(pref)}",
                    name=s(srv.get("name")),
                    a=a.records if a else (),
                    aaaa=aaaa.records if aaaa else (),
                )
            )
    d = obs.get("dnssec")
    dnssec = (
        DnssecView(
            status=s(d.get("status")),
            detail=s(d.get("detail")),
            ds_present=s(d.get("ds_present")),
            algorithms=", ".join(_strs(d.get("dnskey_algorithms"))),
            rrsig_expiry=s(d.get("rrsig_expiry")),
        )
        if isinstance(d, Mapping)
        else None
    )
    return ZoneView(
        records=tuple(records),
        servers=tuple(servers),
        ns_queries=tuple(
            NsQueryRow(
                ns=s(q.get("ns")),
                address=s(q.get("address")),
                transport=s(q.get("transport")),
                outcome=_joined(q.get("outcome"), q.get("rcode"), q.get("detail")),
            )
            for q in _maps(obs.get("ns_queries"))
        ),
        dnssec=dnssec,
        smtp=tuple(
            SmtpRow(
                mx=s(x.get("mx")),
                address=s(x.get("address")),
                outcome=_joined(x.get("outcome"), x.get("greeting_code")),
                starttls=s(x.get("starttls")),
                banner=s(x.get("banner")),
                detail=s(x.get("detail")),
            )
            for x in _maps(obs.get("smtp"), 50)
        ),
    )


def other_rows(obs: Mapping[str, Any]) -> Rows:
    return tuple(
        flatten(
            {k: v for k, v in obs.items() if k not in ("host", "zone", "dns", "tcp", "tls", "http")}
        )
    )


# --------------------------------------------------------------------------- the page


@dataclass(frozen=True)
class OwnerLink:
    id: str
    name: str
    href: str  # the agency page, relative to the report's root


@dataclass(frozen=True)
class Problem:
    """A check of a requirement that does not pass, in the requirements table."""

    req_status: str
    title: str
    message: str


@dataclass(frozen=True)
class RequirementRow:
    title: str
    level: str  # localised
    status: str
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class MatrixRow:
    check: str
    title: str
    cells: tuple[str, ...]  # a status per column, "" where the check has none


@dataclass(frozen=True)
class TargetPage:
    """Everything one host or zone page shows, read by ``target.html.j2`` only."""

    rel: str  # the page's path in the report
    kind: str  # host | zone
    name: str  # A-label
    display_name: str  # Unicode (U-label) form
    heading: str
    owners: tuple[OwnerLink, ...]
    details_from: str  # several vantages: the vantage of the observation details
    addresses: tuple[tuple[str, str], ...]  # (family, address)
    vantage_rows: tuple[Any, ...]  # reports.html.VantageRow
    requirements: tuple[RequirementRow, ...]
    matrix_columns: tuple[str, ...]
    matrix_rows: tuple[MatrixRow, ...]
    results: tuple[ResultGroup, ...]
    untested: tuple[ReasonGroup, ...]
    dns: tuple[DnsAnswer, ...]
    tcp: tuple[TcpRow, ...]
    tls: tuple[TlsView, ...]
    http: tuple[HttpView, ...]
    zone: ZoneView | None
    other: Rows


# --------------------------------------------------------------------------- agency tree


@dataclass(frozen=True)
class TreeRow:
    """One agency in the tree of the inventory's ``parent`` links (the index's "by
    organisation" view, an agency page's subordinates): its score and how deep it sits."""

    agency: Any  # auditor.scoring.AgencyScore (Any: views stay free of the scoring import)
    depth: int  # 0 for a root
    children: int  # direct subordinates in the report
    delta: float | None  # score change since the previous scan (None: no previous score)


def agency_tree(
    agencies: Sequence[Any], delta: Callable[[str], float | None], root: str | None = None
) -> tuple[TreeRow, ...]:
    """The agencies depth first under their parents, siblings in inventory order.

    ``root``: only the subtree below that agency (it excluded), e.g. an agency page's
    subordinates. An agency whose parent is not in the report (another tag, ``--only``) is a
    root of its own. The inventory loader rejects cycles; a cycle in a hand-edited store is
    still shown once per agency and never loops."""
    ids = {a.agency.id for a in agencies}
    children: dict[str | None, list[Any]] = {}
    for a in agencies:
        parent = a.agency.parent if a.agency.parent in ids else None
        children.setdefault(parent, []).append(a)
    rows: list[TreeRow] = []
    seen: set[str] = set()

    def walk(parent: str | None, depth: int) -> None:
        for a in children.get(parent, []):
            if a.agency.id in seen:
                continue
            seen.add(a.agency.id)
            rows.append(TreeRow(a, depth, len(children.get(a.agency.id, [])), delta(a.agency.id)))
            walk(a.agency.id, depth + 1)

    if root is None:
        walk(None, 0)
        # Agencies only reachable through a cycle (no root above them): shown as roots.
        for a in agencies:
            if a.agency.id not in seen:
                seen.add(a.agency.id)
                rows.append(TreeRow(a, 0, len(children.get(a.agency.id, [])), delta(a.agency.id)))
                walk(a.agency.id, 1)
    else:
        seen.add(root)
        walk(root, 0)
    return tuple(rows)
