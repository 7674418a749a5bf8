"""DNS names: the one normal form, A-labels, and the Public Suffix List.

Every layer compares names (a CNAME target with a zone, a redirect's host with the page's,
a certificate's SAN with the target), so they are all put in one form first: lower case,
no trailing dot, no surrounding whitespace (:func:`norm_name`). The Public Suffix List is
loaded once per process (:func:`suffix_list`): it is a few thousand rules, parsed in tens
of milliseconds, and the zone probe, the checks, the gate and the self-check all ask it.
"""

from __future__ import annotations

import functools
from typing import Any

import idna


def norm_name(name: str) -> str:
    """``name`` lower-cased, without surrounding whitespace and trailing dots (the root,
    ``"."``, becomes ``""``). U-labels stay U-labels: :func:`a_label` converts them."""
    return name.strip().rstrip(".").lower()


def a_label(name: str) -> str:
    """The lower-case A-label form of a DNS name (:func:`norm_name`, then every U-label
    converted by IDNA 2008 with UTS 46 mapping), label by label so that a ``*`` label
    survives; ``""`` when a label is not a valid IDN."""
    n = norm_name(name)
    if not n or n.isascii():
        return n
    out = []
    for label in n.split("."):
        if label.isascii():
            out.append(label)
            continue
        try:
            out.append(idna.encode(label, uts46=True).decode("ascii").lower())
        except idna.IDNAError:
            return ""
    return ".".join(out)


@functools.cache
def suffix_list() -> Any:
    """The Public Suffix List (the copy the ``publicsuffixlist`` package ships), loaded
    once per process."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def public_suffix(name: str, *, accept_unknown: bool = True) -> str | None:
    """The public suffix of ``name`` (``gov.vn`` for ``www.moh.gov.vn``), None if none.

    With ``accept_unknown`` (the List's own default rule ``*``), an unknown top-level
    label counts as a suffix; without it, only suffixes the List names are returned.
    """
    suffix = suffix_list().publicsuffix(norm_name(name), accept_unknown=accept_unknown)
    return str(suffix) if suffix else None


def registrable_domain(name: str) -> str:
    """The public suffix plus one label (the normalised name itself when there is none,
    e.g. for a public suffix): what "same site" means for the web, and the organisational
    domain of DMARC (RFC 7489 sec. 3.2)."""
    low = norm_name(name)
    org = suffix_list().privatesuffix(low)
    return str(org) if org else low


def is_public_suffix(name: str) -> bool:
    """Is ``name`` itself a public suffix (``gov.vn``, ``com``)?"""
    return bool(suffix_list().is_public(norm_name(name)))
