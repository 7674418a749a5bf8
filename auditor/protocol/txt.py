"""TXT records in presentation format: the text a record carries (RFC 1035 sec. 3.3.14,
RFC 7208 sec. 3.3). Remote text: total (never raises on input)."""

from __future__ import annotations

from collections.abc import Iterable

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype


def txt_text(record: str) -> str:
    """The character-strings of one TXT record (presentation format), concatenated.

    RFC 7208 section 3.3: a record made of several strings is read as their
    concatenation without spaces. Undecodable bytes become U+FFFD.
    """
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, record)
    except (dns.exception.DNSException, ValueError, UnicodeError):
        # Not valid presentation format: take it as one unquoted string.
        return record.strip().strip('"')
    strings = getattr(rdata, "strings", ())
    return b"".join(strings).decode("utf-8", errors="replace")


def txt_texts(records: Iterable[str]) -> list[str]:
    return [txt_text(r) for r in records]
