"""CAA property grammar (RFC 8659 sec. 4): tags and the issue / issuewild / iodef values.

The ABNF of sec. 4.2 (issue, issuewild)::

    issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
    issuer-domain-name = label *("." label)
    label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
    parameters = (parameter *WSP ";" *WSP parameters) / parameter
    parameter = tag *WSP "=" *WSP value
    tag = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
    value = *(%x21-3A / %x3C-7E)

and sec. 4.4 (iodef): a URL, ``mailto:`` (email report) or ``http:``/``https:`` (web
service). A property tag is 1-15 ASCII letters and digits (sec. 4.1).
"""

from __future__ import annotations

import re

_LABEL = r"[A-Za-z0-9](?:-*[A-Za-z0-9])*"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_PARAM = rf"{_LABEL}[ \t]*=[ \t]*[\x21-\x3A\x3C-\x7E]*"
_PARAMS = rf"{_PARAM}(?:[ \t]*;[ \t]*{_PARAM})*"
ISSUE_RE = re.compile(rf"[ \t]*(?:{_DOMAIN}[ \t]*)?(?:;[ \t]*(?:{_PARAMS}[ \t]*)?)?")
TAG_RE = re.compile(r"[A-Za-z0-9]{1,15}")
_MAILTO = re.compile(r"mailto:[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", re.IGNORECASE)
_HTTP = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d+)?(?:/\S*)?", re.IGNORECASE)


def tag_ok(tag: str) -> bool:
    return TAG_RE.fullmatch(tag) is not None


def issue_value_ok(value: str) -> bool:
    """RFC 8659 sec. 4.2 issue-value (also issuewild, sec. 4.3)."""
    return ISSUE_RE.fullmatch(value) is not None


def issuer_domain(value: str) -> str:
    """The issuer-domain-name of an issue value ("" = no CA may issue: ``;``)."""
    return value.split(";", 1)[0].strip().lower()


def iodef_ok(value: str) -> bool:
    """RFC 8659 sec. 4.4: a mailto: or http(s): URL."""
    v = value.strip()
    return _MAILTO.fullmatch(v) is not None or _HTTP.fullmatch(v) is not None


def property_problem(tag: str, value: str) -> str | None:
    """Why one CAA property breaks the grammar, or None."""
    if not tag_ok(tag):
        return f"tag {tag[:20]!r} is not 1-15 letters and digits (RFC 8659 sec. 4.1)"
    low = tag.lower()
    if low in ("issue", "issuewild") and not issue_value_ok(value):
        return f"{low} value {value[:80]!r} does not match the RFC 8659 sec. 4.2 grammar"
    if low == "iodef" and not iodef_ok(value):
        return f"iodef value {value[:80]!r} is not a mailto: or http(s): URL (sec. 4.4)"
    return None


__all__ = ["iodef_ok", "issue_value_ok", "issuer_domain", "property_problem", "tag_ok"]
