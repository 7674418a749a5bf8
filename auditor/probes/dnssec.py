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
import struct
import time
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

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


# ---------------------------------------------------------------------------------------
# Own validation with configured trust anchors (--trust-anchor FILE)


class AnchorError(ValueError):
    pass


def load_trust_anchors(path: str) -> dict[str, list[tuple[str, Any]]]:
    """DS or DNSKEY records in presentation format, one per line (``;``/``#`` comments).

    ``. IN DS 20326 8 2 E06D...`` or ``. 3600 IN DNSKEY 257 3 8 AwEAA...``; the format of
    IANA's root-anchors (as DS) and of unbound's ``trust-anchor:`` lines.
    """
    anchors: dict[str, list[tuple[str, Any]]] = {}
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise AnchorError(f"cannot read trust anchor file {path}: {exc}") from exc
    for number, raw in enumerate(text.splitlines()[:1000], 1):
        line = raw.split(";", 1)[0].strip()
        if line.lower().startswith(("trust-anchor:", "trust-anchors:")):
            line = line.split(":", 1)[1].strip()  # unbound.conf syntax
        line = line.strip('"')
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        kind = next((t.upper() for t in tokens[1:] if t.upper() in ("DS", "DNSKEY")), None)
        if kind is None:
            raise AnchorError(f"{path}:{number}: not a DS or DNSKEY record")
        at = [t.upper() for t in tokens].index(kind)
        try:
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, dns.rdatatype.from_text(kind), " ".join(tokens[at + 1 :])
            )
        except (dns.exception.DNSException, ValueError) as exc:
            raise AnchorError(f"{path}:{number}: {exc}") from exc
        owner = dns.name.from_text(tokens[0]).to_text().lower()
        anchors.setdefault(owner, []).append((kind, rdata))
    if not anchors:
        raise AnchorError(f"{path}: no DS or DNSKEY record")
    return anchors


class _Bogus(Exception):
    pass


def _rrsig_for(ans: RawAnswer, rdtype: str, owner: dns.name.Name) -> dns.rrset.RRset | None:
    if ans.message is None:
        return None
    want = dns.rdatatype.from_text(rdtype)
    for rrset in ans.message.answer:
        if rrset.rdtype == dns.rdatatype.RRSIG and rrset.covers == want and rrset.name == owner:
            return rrset
    return None


def _rrset_of(ans: RawAnswer, rdtype: str, owner: dns.name.Name) -> dns.rrset.RRset | None:
    if ans.message is None:
        return None
    want = dns.rdatatype.from_text(rdtype)
    for rrset in ans.message.answer:
        if rrset.rdtype == want and rrset.name == owner:
            return rrset
    return None


def _signed_data(rrset: dns.rrset.RRset, sig: Any) -> bytes:
    """RFC 4034 section 3.1.8.1: RRSIG RDATA (without the signature) + canonical RRset."""
    head = struct.pack(
        "!HBBIIIH",
        int(sig.type_covered),
        int(sig.algorithm),
        int(sig.labels),
        int(sig.original_ttl),
        int(sig.expiration),
        int(sig.inception),
        int(sig.key_tag),
    )
    data = head + sig.signer.to_digestable()
    owner = rrset.name
    labels = len(owner) - 1  # without the root label
    if sig.labels < labels:  # wildcard expansion (RFC 4035 section 5.3.2)
        owner = dns.name.Name((b"*", *owner.labels[-(sig.labels + 1) :]))
    wire_owner = owner.to_digestable()
    rdatas = sorted(r.to_digestable() for r in rrset)
    for rd in rdatas:
        data += wire_owner + struct.pack("!HHIH", rrset.rdtype, rrset.rdclass, sig.original_ttl,
                                         len(rd)) + rd  # fmt: skip
    return bytes(data)


def _verify(key: Any, sig: Any, data: bytes) -> bool:
    """One signature with one DNSKEY (algorithms 5, 7, 8, 10, 13, 14, 15, 16)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    alg = int(key.algorithm)
    raw = bytes(key.key)
    signature = bytes(sig.signature)
    try:
        if alg in (5, 7, 8, 10):
            if raw[0] == 0:
                exp_len, rest = int.from_bytes(raw[1:3], "big"), raw[3:]
            else:
                exp_len, rest = raw[0], raw[1:]
            e = int.from_bytes(rest[:exp_len], "big")
            n = int.from_bytes(rest[exp_len:], "big")
            digest = {5: hashes.SHA1(), 7: hashes.SHA1(), 8: hashes.SHA256(), 10: hashes.SHA512()}
            rsa.RSAPublicNumbers(e, n).public_key().verify(
                signature, data, padding.PKCS1v15(), digest[alg]
            )
            return True
        if alg in (13, 14):
            curve: ec.EllipticCurve = ec.SECP256R1() if alg == 13 else ec.SECP384R1()
            size = 32 if alg == 13 else 48
            x, y = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
            pub = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            hsh = hashes.SHA256() if alg == 13 else hashes.SHA384()
            pub.verify(encode_dss_signature(r, s), data, ec.ECDSA(hsh))
            return True
        if alg == 15:
            ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
            return True
        if alg == 16:
            ed448.Ed448PublicKey.from_public_bytes(raw).verify(signature, data)
            return True
    except (InvalidSignature, ValueError, IndexError):
        return False
    return False


def _check_rrsig(rrset: dns.rrset.RRset, sigs: dns.rrset.RRset, keys: dns.rrset.RRset) -> None:
    """Raise _Bogus unless one RRSIG, in its validity period, verifies with one key."""
    now = time.time()
    reasons: list[str] = []
    for sig in sigs:
        if sig.signer != keys.name:
            reasons.append(f"signer {sig.signer} is not {keys.name}")
            continue
        if not sig.inception <= now <= sig.expiration:
            reasons.append(f"signature (key tag {sig.key_tag}) outside its validity period")
            continue
        data = _signed_data(rrset, sig)
        for key in keys:
            if int(key.algorithm) != int(sig.algorithm):
                continue
            if dns.dnssec.key_id(key) != sig.key_tag or not int(key.flags) & 0x0100:
                continue
            if _verify(key, sig, data):
                return
        reasons.append(f"signature (key tag {sig.key_tag}, algorithm {sig.algorithm}) invalid")
    raise _Bogus("; ".join(reasons) or "no signature")


def _validate(ans: RawAnswer, rdtype: str, owner: dns.name.Name, keys: dns.rrset.RRset) -> None:
    rrset = _rrset_of(ans, rdtype, owner)
    sig = _rrsig_for(ans, rdtype, owner)
    if rrset is None:
        raise _Bogus(f"no {rdtype} RRset for {owner}")
    if sig is None:
        raise _Bogus(f"{rdtype} of {owner} is not signed")
    try:
        _check_rrsig(rrset, sig, keys)
    except _Bogus as exc:
        raise _Bogus(f"{rdtype} of {owner}: {exc}") from exc


def _keys_matching_ds(dnskeys: dns.rrset.RRset, ds_set: list[Any]) -> list[Any]:
    out = []
    for key in dnskeys:
        for ds in ds_set:
            try:
                made = dns.dnssec.make_ds(dnskeys.name, key, ds.digest_type)
            except (dns.exception.UnsupportedAlgorithm, ValueError):
                continue
            if made == ds:
                out.append(key)
    return out


async def _trusted_keys(
    client: DnsClient, zone: dns.name.Name, ds_set: list[Any], dnskey_anchors: list[Any]
) -> dns.rrset.RRset:
    """The zone's DNSKEY RRset, validated by a key that matches a DS (or is an anchor)."""
    ans = await client.message(zone.to_text(), "DNSKEY", cd=True)
    dnskeys = _rrset_of(ans, "DNSKEY", zone)
    if dnskeys is None:
        raise _Bogus(f"no DNSKEY at {zone} ({ans.outcome})")
    entry = [k for k in dnskeys if k in dnskey_anchors] + _keys_matching_ds(dnskeys, ds_set)
    if not entry:
        raise _Bogus(f"no DNSKEY of {zone} matches its DS / trust anchor")
    sig = _rrsig_for(ans, "DNSKEY", zone)
    if sig is None:
        raise _Bogus(f"DNSKEY of {zone} is not signed")
    entry_set = dns.rrset.from_rdata_list(zone, dnskeys.ttl, entry)
    try:
        _check_rrsig(dnskeys, sig, entry_set)
    except _Bogus as exc:
        raise _Bogus(f"DNSKEY of {zone} not signed by a trusted key: {exc}") from exc
    return dnskeys


async def auditor_status(
    client: DnsClient, name: str, anchors: dict[str, list[tuple[str, Any]]]
) -> DnssecStatus:
    """Validate the chain of trust from the closest trust anchor down to ``name``'s SOA.

    Limits (stated in the evidence): a missing DS is taken from the answer as is; the
    NSEC/NSEC3 proof of its absence is not verified, so "insecure" relies on the resolver's
    word there. Signatures and DS matches are verified here, with the local clock.
    """
    target = dns.name.from_text(name)
    anchor_name = None
    for owner in sorted(anchors, key=lambda n: -len(dns.name.from_text(n))):
        if target.is_subdomain(dns.name.from_text(owner)):
            anchor_name = dns.name.from_text(owner)
            break
    if anchor_name is None:
        return DnssecStatus(
            name, Dnssec.INDETERMINATE, "auditor", detail="no trust anchor above this name"
        )
    entries = anchors[anchor_name.to_text().lower()]
    ds_set = [r for k, r in entries if k == "DS"]
    key_anchors = [r for k, r in entries if k == "DNSKEY"]
    algorithms: tuple[int, ...] = ()
    try:
        keys = await _trusted_keys(client, anchor_name, ds_set, key_anchors)
        zone = anchor_name
        labels = target.relativize(anchor_name).labels if target != anchor_name else ()
        for i in range(len(labels) - 1, -1, -1):
            child = dns.name.Name(labels[i:]).derelativize(anchor_name)
            ds_ans = await client.message(child.to_text(), "DS", cd=True)
            ds_rrset = _rrset_of(ds_ans, "DS", child)
            if ds_rrset is not None:
                _validate(ds_ans, "DS", child, keys)
                keys = await _trusted_keys(client, child, list(ds_rrset), [])
                zone = child
                continue
            soa = await client.message(child.to_text(), "SOA", cd=True)
            if _rrset_of(soa, "SOA", child) is not None:
                # a zone cut without DS: an insecure delegation (denial not verified here)
                return DnssecStatus(
                    name,
                    Dnssec.INSECURE,
                    "auditor",
                    ds_present=False,
                    detail=f"no DS for {child.to_text(omit_final_dot=True)} in the signed "
                    f"parent {zone.to_text()}: the delegation is insecure (NSEC proof not "
                    "verified)",
                )
        algorithms = tuple(sorted({int(k.algorithm) for k in keys}))
        soa = await client.message(target.to_text(), "SOA", cd=True)
        _validate(soa, "SOA", target, keys)
    except _Bogus as exc:
        return DnssecStatus(
            name, Dnssec.BOGUS, "auditor", dnskey_algorithms=algorithms, detail=str(exc)
        )
    return DnssecStatus(
        name,
        Dnssec.SECURE,
        "auditor",
        ds_present=True,
        dnskey_algorithms=algorithms,
        rrsig_expiry=_expiry([soa]),
        detail=f"chain of trust validated by the auditor from the {anchor_name} trust anchor",
    )


async def zone_apex(client: DnsClient, name: str) -> str | None:
    """The apex of the zone holding ``name``: the SOA owner in the answer or authority."""
    ans = await client.message(name, "SOA", cd=True)
    if ans.message is None:
        return None
    for section in (ans.message.answer, ans.message.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.SOA:
                return str(rrset.name.to_text(omit_final_dot=True)) or "."
    return None


async def auditor_chain_status(
    client: DnsClient, chain: DnssecStatus, anchors: dict[str, list[tuple[str, Any]]]
) -> DnssecStatus:
    """Own validation of a CNAME chain's final target zone (the zone citizens end up in)."""
    if not chain.cname_chain or chain.status == Dnssec.BOGUS:
        return chain
    target = chain.cname_chain[-1]
    apex = await zone_apex(client, target)
    if apex is None:
        return DnssecStatus(
            chain.name,
            Dnssec.INDETERMINATE,
            "auditor",
            detail=f"zone of the CNAME target {target} not found",
            cname_chain=chain.cname_chain,
        )
    st = await auditor_status(client, apex, anchors)
    return DnssecStatus(
        chain.name,
        st.status,
        "auditor",
        st.ds_present,
        st.dnskey_algorithms,
        st.rrsig_expiry,
        f"CNAME to {target}, in zone {apex}: {st.detail}",
        chain.cname_chain,
    )
