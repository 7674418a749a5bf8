"""TLSA records (RFC 6698) as SMTP clients read them (RFC 7672): parsed with dnspython's
TLSA rdata type; which records are usable for mail, and the rollover schemes."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype

# RFC 6698 section 2.1: certificate usages
PKIX_TA, PKIX_EE, DANE_TA, DANE_EE = 0, 1, 2, 3
# RFC 6698 section 2.1.3 / 7671: the matching types' digest lengths (0 = the full data)
DIGEST_LENGTH = {1: 32, 2: 64}


@dataclass(frozen=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes
    text: str

    @property
    def kind(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype}"


def parse_tlsa(text: str) -> Tlsa | None:
    """One TLSA record in presentation format, None when it does not parse."""
    try:
        rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TLSA, text)
    except (dns.exception.DNSException, ValueError):
        return None
    usage, selector, mtype = int(rd.usage), int(rd.selector), int(rd.mtype)  # type: ignore[attr-defined]
    data = bytes(rd.cert)  # type: ignore[attr-defined]
    return Tlsa(usage, selector, mtype, data, text[:200])


def unusable_reason(rec: Tlsa) -> str | None:
    """Why an SMTP client ignores ``rec`` (None: usable).

    RFC 7672 section 3.1.3: PKIX-TA(0) and PKIX-EE(1) SHOULD NOT be published for SMTP and
    clients may treat them as unusable (Internet.nl and Postfix do); RFC 7671 section 4 /
    RFC 6698 sections 2.1.2-2.1.3: unknown selectors or matching types, or a digest of the
    wrong length, make the record unusable.
    """
    if rec.usage in (PKIX_TA, PKIX_EE):
        return f"usage {rec.usage} (PKIX-{'TA' if rec.usage == 0 else 'EE'}) is not for SMTP"
    if rec.usage not in (DANE_TA, DANE_EE):
        return f"unknown usage {rec.usage}"
    if rec.selector not in (0, 1):
        return f"unknown selector {rec.selector}"
    if rec.mtype not in (0, 1, 2):
        return f"unknown matching type {rec.mtype}"
    want = DIGEST_LENGTH.get(rec.mtype)
    if want is not None and len(rec.data) != want:
        return f"matching type {rec.mtype} needs {want} bytes, has {len(rec.data)}"
    if rec.mtype == 0 and not rec.data:
        return "empty certificate data"
    return None


def rollover_scheme(usable: list[Tlsa]) -> str | None:
    """The rollover scheme a set of usable records follows (Internet.nl's DANE rollover
    test, after RFC 7671 section 8.1 and RFC 7672 section 3.1.1): two or more records,
    either "current + next" (two DANE-EE 3xx) or "current + issuer" (3xx and DANE-TA 2xx)."""
    ee = {r.data for r in usable if r.usage == DANE_EE}
    ta = {r.data for r in usable if r.usage == DANE_TA}
    if len(ee) >= 2:
        return "current + next (3xx + 3xx)"
    if ee and ta:
        return "current + issuer (3xx + 2xx)"
    return None
