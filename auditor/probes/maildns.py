"""Mail DNS lookups beyond the MX itself: the DNSSEC status of each MX target's zone
(dns.dnssec.mx), the TLSA records at ``_25._tcp.<mx>`` (mail.dane.*, RFC 7672), the
``_domainkey`` node (mail.dkim, RFC 8020) and the authorisation records of external DMARC
report destinations (RFC 7489 section 7.1). Every failure is an observation."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode

from auditor.obs.core import DnsAnswer, Outcome
from auditor.obs.zone import DkimLookup, Dnssec, DnssecStatus, NsQuery, ServerHost, TlsaLookup
from auditor.probes.context import ProbeContext
from auditor.probes.dns import DnsClient, _cname_chain, _rcode_outcome
from auditor.probes.sockets import classify_os_error
from auditor.protocol.names import norm_name

MAX_DKIM_NS = 4  # direct queries for _domainkey: one address of each of up to 4 servers
MAX_REPORT_DESTINATIONS = 10


async def mx_zone_apex(ctx: ProbeContext, name: str) -> str | None:
    """The apex of the zone holding the MX target ``name`` (None: not found), once per
    scan per name (dns.dnssec.mx and rpki.mx_ns.* both need it)."""
    from auditor.probes.dnssec import zone_apex

    apex: str | None = await ctx.once(
        ("zone-apex", norm_name(name)), lambda: zone_apex(ctx.dns, name)
    )
    return apex


async def mx_zone_status(
    ctx: ProbeContext, name: str, zone_status: Callable[[str], Awaitable[DnssecStatus]]
) -> DnssecStatus:
    """The DNSSEC status of the zone holding the MX target ``name`` (shared scan-wide: many
    agencies use the same provincial mail servers). ``zone_status`` judges one zone apex
    the way the zone probe judges its own (the resolver, or own validation)."""

    async def run() -> DnssecStatus:
        apex = await mx_zone_apex(ctx, name)
        if apex is None:
            return DnssecStatus(name, Dnssec.INDETERMINATE, detail=f"zone of {name} not found")
        st = await zone_status(apex)
        # keyed by the MX name: the check reads it per MX, the detail names the zone
        return DnssecStatus(
            name,
            st.status,
            st.method,
            st.ds_present,
            st.dnskey_algorithms,
            st.rrsig_expiry,
            f"zone {apex}: {st.detail}",
        )

    status: DnssecStatus = await ctx.once(("mx-dnssec", norm_name(name)), run)
    return status


def secure_expansion(host: ServerHost) -> str | None:
    """The MX host's CNAME-expanded name when its address records were reached over a
    DNSSEC-secure CNAME chain (AD set on the answer that followed it), else None: an
    insecure chain, or none, leaves the MX name as the only TLSA base domain (RFC 7672
    section 2.2.3)."""
    chained = [ans for ans in (host.aaaa, host.a) if ans.cname_chain]
    if not chained or any(not ans.authenticated for ans in chained):
        return None
    secure = [ans for ans in chained if ans.outcome == Outcome.OK]
    if not secure:
        return None
    final = norm_name(secure[0].cname_chain[-1])
    return final if final != norm_name(host.name) else None


async def mx_tlsa(client: DnsClient, host: ServerHost, port: int = 25) -> TlsaLookup:
    """The TLSA records of one MX (RFC 7672 section 2.2.3): with a secure CNAME expansion
    of its address records, first at the expanded name, then, when that is securely
    denied (no TLSA there), at the MX name; otherwise at the MX name only."""
    expanded = secure_expansion(host)
    if expanded is None:
        return await tlsa_lookup(client, host.name, port)
    first = await tlsa_lookup(client, host.name, port, base=expanded)
    if first.outcome in (Outcome.NXDOMAIN, Outcome.NODATA) and first.authenticated:
        initial = await tlsa_lookup(client, host.name, port)
        why = f"{first.qname} (the CNAME-expanded name): no TLSA, securely denied"
        return replace(initial, tried=(why,))
    return first


async def tlsa_lookup(
    client: DnsClient, mx: str, port: int = 25, *, base: str | None = None
) -> TlsaLookup:
    """TLSA at _<port>._tcp.<mx> (or at ``base``, the MX's CNAME-expanded name), with the
    AD bit; a SERVFAIL is asked again with CD to tell bogus data (answered with CD) from a
    resolver or zone that cannot answer. A CNAME at the TLSA name is followed by the
    resolver (RFC 7671 section 7), its chain kept."""
    qname = f"_{port}._tcp.{norm_name(base or mx)}"
    first = await client.message(qname, "TLSA")
    ans, bogus = first, False
    if first.outcome == Outcome.SERVFAIL:
        retry = await client.message(qname, "TLSA", cd=True)
        if retry.outcome in (Outcome.OK, Outcome.NODATA, Outcome.NXDOMAIN):
            ans, bogus = retry, True
    if ans.message is None:
        return TlsaLookup(
            mx, qname, ans.outcome, detail=ans.detail, base=norm_name(base) if base else ""
        )
    rrset = ans.rrset("TLSA")
    records = tuple(sorted({rr.to_text() for rr in rrset})) if rrset is not None else ()
    cap = client.options.max_dns_records
    truncated = len(records) > cap
    return TlsaLookup(
        mx,
        qname,
        ans.outcome,
        records[:cap],
        authenticated=ans.ad if not bogus else False,
        bogus=bogus,
        cname_chain=_cname_chain(ans.message, qname),
        detail=(
            "SERVFAIL with validation; answered with checking disabled (CD): bogus"
            if bogus
            else ans.detail
        ),
        truncated=truncated,
        base=norm_name(base) if base else "",
    )


async def query_kind(
    ns: str, address: str, qname: str, rdtype: str, *, timeout: float, port: int = 53
) -> NsQuery:
    """One RD=0 query to one authoritative address; ``outcome`` is the kind of answer
    (ok / nodata / nxdomain / servfail / dns_refused) or how it failed."""
    query = dns.message.make_query(qname, rdtype, use_edns=0, payload=1232)
    query.flags = 0
    start = time.perf_counter()
    try:
        response = await dns.asyncquery.udp(query, address, timeout=timeout, port=port)
    except dns.exception.Timeout:
        return NsQuery(ns, address, "udp", Outcome.TIMEOUT, detail="no answer before the timeout")
    except OSError as exc:
        outcome, detail = classify_os_error(exc)
        return NsQuery(ns, address, "udp", outcome, detail=detail)
    except (dns.exception.DNSException, ValueError, EOFError) as exc:
        return NsQuery(
            ns, address, "udp", Outcome.PROTOCOL_ERROR, detail=f"{type(exc).__name__}: {exc}"
        )
    rtt = round((time.perf_counter() - start) * 1000, 2)
    aa = bool(response.flags & dns.flags.AA)
    outcome = _rcode_outcome(response, qname, rdtype)
    return NsQuery(ns, address, "udp", outcome, dns.rcode.to_text(response.rcode()), aa, rtt)


async def dkim_lookup(
    ctx: ProbeContext, zone: str, ns_hosts: list[ServerHost], answer: DnsAnswer
) -> DkimLookup:
    """_domainkey.<zone>: the resolver's answer (given) and each name server's own."""
    qname = f"_domainkey.{zone}"
    port = ctx.options.wire_port(zone, 53)
    out: list[NsQuery] = []
    for host in ns_hosts[:MAX_DKIM_NS]:
        address = next(
            (
                a
                for a in host.aaaa.records + host.a.records
                if not ctx.guard.refusal(a) and not ctx.unreachable_family(a)
            ),
            None,
        )
        if address is None:
            continue
        async with ctx.address_slot(address):
            ctx.stats["dns_queries"] += 1
            out.append(
                await query_kind(
                    host.name, address, qname, "TXT", timeout=ctx.options.timeout, port=port
                )
            )
    return DkimLookup(answer, tuple(out))
