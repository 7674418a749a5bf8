"""Mail DNS lookups beyond the MX itself: the DNSSEC status of each MX target's zone
(dns.dnssec.mx), the TLSA records at ``_25._tcp.<mx>`` (mail.dane.*, RFC 7672), the
``_domainkey`` node (mail.dkim, RFC 8020) and the authorisation records of external DMARC
report destinations (RFC 7489 section 7.1). Every failure is an observation."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

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


async def tlsa_lookup(client: DnsClient, mx: str, port: int = 25) -> TlsaLookup:
    """TLSA at _<port>._tcp.<mx>, with the AD bit; a SERVFAIL is asked again with CD to
    tell bogus data (answered with CD) from a resolver or zone that cannot answer."""
    qname = f"_{port}._tcp.{norm_name(mx)}"
    first = await client.message(qname, "TLSA")
    ans, bogus = first, False
    if first.outcome == Outcome.SERVFAIL:
        retry = await client.message(qname, "TLSA", cd=True)
        if retry.outcome in (Outcome.OK, Outcome.NODATA, Outcome.NXDOMAIN):
            ans, bogus = retry, True
    if ans.message is None:
        return TlsaLookup(mx, qname, ans.outcome, detail=ans.detail)
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
