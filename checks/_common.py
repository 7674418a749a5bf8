"""Helpers shared by the check families (pure, no I/O)."""

from __future__ import annotations

from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, Outcome

# How a failed connection is worded in messages: a silent drop and a refusal are
# different faults (a firewall eating packets vs. nothing listening) with different fixes.
FAILURE_WORDS = {
    "timeout": "timeout (packets silently dropped, no answer)",
    "refused": "refused (TCP RST: nothing listening or a firewall rejects)",
    "unreachable": "unreachable (ICMPv6 unreachable or no route)",
    "reset": "reset after connecting",
    "blocked": "not probed (address guard)",
    "skipped": "not probed",
    "dns_refused": "REFUSED (DNS)",
    "servfail": "SERVFAIL",
    "not_authoritative": "answered without authority (lame)",
    "protocol_error": "spoke something else",
    "tls_error": "TLS error",
    "too_large": "too large (over the scanner's size cap)",
    "error": "error",
}


def describe_failure(outcome: str, detail: str = "") -> str:
    if outcome == "timeout" and detail:
        # A timeout after the connection opened (an SMTP tarpit, a slow HTTPS fetch) is not
        # a silent drop: the probe's own detail says which step timed out.
        return f"timeout: {detail}"
    words = FAILURE_WORDS.get(outcome, outcome)
    shown = ("error", "protocol_error", "too_large")
    return f"{words}: {detail}" if detail and outcome in shown else words


# Outcomes meaning "we did not look", never a verdict about the remote side.
UNDECIDED = frozenset({"blocked", "skipped"})


def cut_answers(*answers: DnsAnswer | None) -> str | None:
    """Why some DNS answers are not whole (the max_dns_records cap), or None.

    A cap hit is an observation: a check may still fail on what it saw when more records
    cannot change that, but never pass (or judge "exactly one", "every") on a part.
    """
    cut = [a for a in answers if a is not None and a.truncated]
    if not cut:
        return None
    what = ", ".join(f"{a.qname} {a.rdtype} ({a.detail})" if a.detail else f"{a.qname} {a.rdtype}"
                     for a in cut[:3])  # fmt: skip
    return f"more records than the scanner keeps (max_dns_records): {what}"


def no_https_reason(obs: HostObservations, address: str) -> str | None:
    """Why the address definitely has no HTTPS, or None.

    Port 443 refused (a TCP RST: nothing listens) on an address whose port 80 accepts
    connections: the host is there and serves plain HTTP, so "no HTTPS" is a fact, not a
    failed test. A silent (dropped) or unreachable 443 proves nothing: it stays not_tested.
    """
    tcp443 = obs.tcp_for(address, 443)
    tcp80 = obs.tcp_for(address, 80)
    if tcp443 is None or tcp443.outcome != Outcome.REFUSED or tcp80 is None or not tcp80.open:
        return None
    h = obs.http_for(address)
    first = h.http.first if h is not None and h.http is not None else None
    served = f" (http://{obs.host}/ answers {first.status})" if first is not None else ""
    return f"port 443 on {address} is refused (TCP RST) while port 80 serves HTTP{served}"
