"""DNSSEC status of a name: secure, insecure, bogus (or why it could not be told).

Method "resolver" (default): ask the validating resolver with DO set.

- AD=1 on the answer: every RRset in it validated -> secure.
- SERVFAIL: retry with CD=1 (checking disabled). If the data comes back now, the
  resolver refused it for failing validation -> bogus; otherwise the zone is simply
  broken (indeterminate).
- AD=0 and a normal answer: no DS at the parent -> insecure (an unsigned delegation is
  insecure whatever the resolver does). A DS present but AD=0 means the resolver does not
  validate: "unvalidated", which the check reports as not tested rather than guessing.

Evidence kept: DS present at the parent, DNSKEY algorithms, earliest RRSIG expiry.
"""

from __future__ import annotations

import datetime as dt

import dns.rdatatype

from auditor.obs.core import Outcome
from auditor.obs.zone import Dnssec, DnssecStatus
from auditor.probes.dns import DnsClient, RawAnswer


def _expiry(answers: list[RawAnswer]) -> str | None:
    stamps: list[int] = []
    for ans in answers:
        for rrset in ans.rrsigs():
            for sig in rrset:
                stamps.append(int(sig.expiration))
    if not stamps:
        return None
    return dt.datetime.fromtimestamp(min(stamps), dt.UTC).isoformat(timespec="seconds")


def _algorithms(ans: RawAnswer) -> tuple[int, ...]:
    rrset = ans.rrset("DNSKEY")
    if rrset is None:
        return ()
    return tuple(sorted({int(k.algorithm) for k in rrset}))


async def resolver_status(client: DnsClient, name: str, rdtype: str = "SOA") -> DnssecStatus:
    """DNSSEC status of ``name`` (its ``rdtype`` RRset) as the validating resolver sees it."""
    first = await client.message(name, rdtype)
    if first.outcome in (Outcome.TIMEOUT, Outcome.ERROR, Outcome.DNS_REFUSED):
        return DnssecStatus(
            name,
            Dnssec.INDETERMINATE,
            detail=f"{rdtype} query failed: {first.outcome} {first.detail}".strip(),
        )
    if first.outcome == Outcome.SERVFAIL:
        retry = await client.message(name, rdtype, cd=True)
        if retry.outcome in (Outcome.OK, Outcome.NODATA, Outcome.NXDOMAIN):
            dnskey = await client.message(name, "DNSKEY", cd=True)
            return DnssecStatus(
                name,
                Dnssec.BOGUS,
                ds_present=None,
                dnskey_algorithms=_algorithms(dnskey),
                rrsig_expiry=_expiry([retry, dnskey]),
                detail="SERVFAIL with validation, data returned with checking disabled (CD): "
                "the signatures or the chain of trust do not validate",
            )
        return DnssecStatus(
            name,
            Dnssec.INDETERMINATE,
            detail="SERVFAIL even with checking disabled: the zone itself is broken "
            "(lame or unreachable name servers)",
        )
    ds = await client.message(name, "DS")
    dnskey = await client.message(name, "DNSKEY")
    ds_present = ds.rrset("DS") is not None if ds.outcome != Outcome.SERVFAIL else None
    algorithms = _algorithms(dnskey)
    expiry = _expiry([first, dnskey])
    if first.ad:
        return DnssecStatus(
            name,
            Dnssec.SECURE,
            ds_present=ds_present if ds_present is not None else True,
            dnskey_algorithms=algorithms,
            rrsig_expiry=expiry,
            detail="the resolver validated the answer (AD bit)",
        )
    if first.outcome == Outcome.NXDOMAIN and not ds_present:
        return DnssecStatus(name, Dnssec.INDETERMINATE, detail="the name does not exist")
    if ds_present:
        return DnssecStatus(
            name,
            Dnssec.UNVALIDATED,
            ds_present=True,
            dnskey_algorithms=algorithms,
            rrsig_expiry=expiry,
            detail="DS published at the parent but the resolver did not set AD: it does not "
            "validate (use a validating resolver or --trust-anchor)",
        )
    if ds_present is None:
        return DnssecStatus(
            name,
            Dnssec.INDETERMINATE,
            dnskey_algorithms=algorithms,
            rrsig_expiry=expiry,
            detail=f"the answer was not validated (AD=0) and the DS lookup failed ({ds.outcome})",
        )
    signed = bool(algorithms) or any(r.covers == dns.rdatatype.SOA for r in first.rrsigs())
    note = " (the zone is signed but no DS is published at the parent)" if signed else ""
    return DnssecStatus(
        name,
        Dnssec.INSECURE,
        ds_present=False,
        dnskey_algorithms=algorithms,
        rrsig_expiry=expiry,
        detail="no DS record at the parent: the delegation is insecure" + note,
    )


async def chain_status(
    client: DnsClient, name: str, resolver_validates: bool | None
) -> DnssecStatus | None:
    """Status of ``name``'s A answer when it is a CNAME chain (None when it is not).

    AD=1 means every RRset of the chain validated. AD=0 with a resolver known to validate
    (it validated the apex) means some zone of the chain is insecure; with a resolver not
    known to validate it stays "unvalidated".
    """
    first = await client.message(name, "A")
    chain = _chain(first)
    if first.outcome == Outcome.SERVFAIL:
        retry = await client.message(name, "A", cd=True)
        chain = _chain(retry)
        if not chain:
            return None
        if retry.outcome in (Outcome.OK, Outcome.NODATA, Outcome.NXDOMAIN):
            return DnssecStatus(
                name,
                Dnssec.BOGUS,
                detail=f"the CNAME chain to {chain[-1]} does not validate (SERVFAIL, data "
                "returned with CD)",
                cname_chain=chain,
            )
        return DnssecStatus(name, Dnssec.INDETERMINATE, detail="SERVFAIL", cname_chain=chain)
    if not chain:
        return None
    if first.outcome not in (Outcome.OK, Outcome.NODATA, Outcome.NXDOMAIN):
        return DnssecStatus(
            name, Dnssec.INDETERMINATE, detail=f"A lookup: {first.outcome}", cname_chain=chain
        )
    if first.ad:
        return DnssecStatus(
            name,
            Dnssec.SECURE,
            rrsig_expiry=_expiry([first]),
            detail=f"the CNAME chain to {chain[-1]} validates",
            cname_chain=chain,
        )
    if resolver_validates:
        return DnssecStatus(
            name,
            Dnssec.INSECURE,
            detail=f"CNAME to {chain[-1]}, whose zone is not signed (or not delegated "
            "securely): the answer is not protected",
            cname_chain=chain,
        )
    return DnssecStatus(
        name,
        Dnssec.UNVALIDATED,
        detail="the resolver did not validate the CNAME chain",
        cname_chain=chain,
    )


def _chain(ans: RawAnswer) -> tuple[str, ...]:
    if ans.message is None:
        return ()
    from auditor.probes.dns import _cname_chain

    qname = ans.message.question[0].name.to_text() if ans.message.question else ""
    return _cname_chain(ans.message, qname) if qname else ()
