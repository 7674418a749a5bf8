"""TLS checks, per address (each A and each AAAA separately), and ipv6.web.https.

Inputs are :class:`auditor.obs.tls.TlsObservation` records made by auditor/probes/tls.py:
protocol versions seen through hand-built ClientHellos, the accepted cipher suites, a full
handshake with a permissive OpenSSL client, the served chain and how it was judged
against the trust store. Every function here is pure.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from auditor.model import Category, Level, Probe, Scope, Verdict
from auditor.obs import HostObservations
from auditor.obs.core import Outcome
from auditor.obs.tls import (
    ALL_VERSIONS,
    LEGACY_VERSIONS,
    MODERN_VERSIONS,
    SSL2,
    TLS12,
    TLS13,
    CertInfo,
    CipherResult,
    TlsObservation,
    Trust,
    VersionOutcome,
)
from auditor.protocol.addresses import unusable_v6_reason, usable_v6
from auditor.protocol.names import a_label, is_public_suffix
from auditor.registry import CheckContext, check
from checks import tls_tables
from checks._common import cut_answers, no_https_reason

_REFS_NCSC = "NCSC-NL IT Security Guidelines for TLS (2025-05)"
_TLS_NEEDS = (Probe.DNS, Probe.TCP, Probe.TLS)

# ---------------------------------------------------------------------------------------
# helpers


def _obs_for(obs: HostObservations, ctx: CheckContext) -> TlsObservation | Verdict:
    """The TLS observation of ctx.address, or the verdict saying why there is none."""
    address = ctx.address or ""
    t = obs.tls_for(address, 443)
    none = no_https_reason(obs, address)
    if none and (t is None or t.outcome == Outcome.SKIPPED):
        # nothing to judge of a TLS service that does not exist: tls.available fails it
        return Verdict.not_applicable(
            f"no HTTPS on {address}: {none} (see tls.available)", address=address
        )
    if t is None:
        tcp = obs.tcp_for(address, 443)
        if tcp is not None and not tcp.open:
            return Verdict.not_tested(
                f"port 443 on {address} is not open ({tcp.outcome})",
                address=address,
                tcp=tcp.outcome,
                detail=tcp.detail,
            )
        if obs.deadline_hit:
            return Verdict.not_tested(
                f"the target deadline passed before TLS on {address} was probed", address=address
            )
        return Verdict.not_tested(f"TLS on {address} was not probed", address=address)
    if t.outcome in (Outcome.SKIPPED, Outcome.BLOCKED):
        return Verdict.not_tested(
            f"TLS on {address} not probed: {t.detail or t.outcome}",
            address=address,
            outcome=t.outcome,
        )
    return t


def _responsive(t: TlsObservation) -> bool:
    """Did the server answer any hand-built hello (accepted or refused it)?

    Only then can a hello that got no answer be read as "not accepted": a server that
    answers other versions but stays silent to this one is not offering it. A server silent
    to every hello tells nothing (a stalled listener, a filter, an overloaded scanner).
    """
    # An SSL 2.0 "rejected" only says the first byte back was not SSL 2.0 (an HTTP server
    # dripping "HTTP/1.1" is not speaking TLS): it proves nothing about the TLS versions.
    return any(
        v.outcome == VersionOutcome.ACCEPTED
        or (v.outcome == VersionOutcome.REJECTED and v.version != SSL2)
        for v in t.versions
    )


def _undetermined(t: TlsObservation, versions: tuple[str, ...]) -> list[str]:
    """Versions about which nothing is known: not probed, the connection failed, or no
    answer from a server that answered no hello at all."""
    responsive = _responsive(t)
    out = []
    for label in versions:
        v = t.version(label)
        if v is None or (
            v.outcome == VersionOutcome.ERROR
            and (v.detail.startswith("connect:") or not responsive)
        ):
            out.append(label)
    return out


def _silent(t: TlsObservation, versions: tuple[str, ...]) -> list[str]:
    """Versions a responsive server did not answer (counted as not accepted)."""
    if not _responsive(t):
        return []
    return [
        label
        for label in versions
        if (v := t.version(label)) is not None
        and v.outcome == VersionOutcome.ERROR
        and not v.detail.startswith("connect:")
    ]


def _unparsed(cert: CertInfo) -> Verdict | None:
    if cert.parse_error:
        return Verdict.not_tested(
            f"the certificate could not be read ({cert.parse_error}): nothing to judge",
            parse_error=cert.parse_error,
        )
    return None


def _accepted(t: TlsObservation, label: str) -> bool:
    v = t.version(label)
    return v is not None and v.outcome == VersionOutcome.ACCEPTED


def _names(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _leaf(t: TlsObservation) -> CertInfo | None:
    return t.chain[0] if t.chain else None


def _no_chain(t: TlsObservation) -> Verdict:
    return Verdict.not_tested(
        f"no certificate was observed on {t.address}"
        + (f" (handshake: {t.detail})" if t.detail else ""),
        address=t.address,
        outcome=t.outcome,
    )


def _days(delta_seconds: float) -> int:
    return int(delta_seconds // 86400)


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 sec. 6.4: exact match, or a wildcard that is the whole left-most label and
    stands for exactly one label (sec. 6.4.3; CA/B BR 3.2.2.6 forbids partial wildcards
    such as ``w*.example.vn`` and wildcards over a public suffix: at least two labels follow
    the ``*``). IDNs are compared as A-labels (sec. 6.4.2)."""
    p, h = a_label(pattern), a_label(host)
    if not p or not h:
        return False
    if "*" not in p:
        return p == h
    labels = p.split(".")
    if labels[0] != "*" or "*" in ".".join(labels[1:]) or len(labels) < 3:
        return False
    if is_public_suffix(".".join(labels[1:])):
        return False  # "*.gov.vn" would cover every agency: never honoured (CA/B BR 3.2.2.6)
    hl = h.split(".")
    return len(hl) == len(labels) and bool(hl[0]) and hl[1:] == labels[1:]


def presented_names(leaf: CertInfo) -> tuple[str, ...]:
    """subjectAltName dNSNames; the subject CN only when there are none (RFC 6125 6.4.4)."""
    return leaf.san if leaf.san else leaf.cn


def hostname_ok(leaf: CertInfo, host: str) -> bool:
    try:  # an address-literal target matches iPAddress SANs only (RFC 6125 sec. 1.7.2)
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return any(name_matches(n, host) for n in presented_names(leaf))
    return any(_same_ip(ip, literal) for ip in leaf.san_ips)


def _same_ip(text: str, literal: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == literal
    except ValueError:
        return False


def _validity(leaf: CertInfo, now: datetime) -> str | None:
    """Why the leaf is not valid now, or None."""
    if leaf.not_after is not None and now > leaf.not_after:
        return f"expired on {leaf.not_after.date().isoformat()}"
    if leaf.not_before is not None and now < leaf.not_before:
        return f"not valid before {leaf.not_before.date().isoformat()}"
    return None


def _ciphers_by_class(t: TlsObservation) -> dict[str, list[CipherResult]]:
    out: dict[str, list[CipherResult]] = {}
    for c in t.ciphers:
        out.setdefault(tls_tables.classify(c.code, c.version), []).append(c)
    return out


def _enc(c: CipherResult) -> str:
    """The suite's encryption family (tls_suites facts); SSL 2.0 specs by their name."""
    if c.version == SSL2:
        name = c.name.upper()
        return "RC4" if "RC4" in name else "3DES" if "DES_192_EDE3" in name else name
    s = tls_tables.suite(c.code)
    return s.enc if s is not None else ""


def _label(c: CipherResult) -> str:
    return f"{c.name} ({c.version})"


# ---------------------------------------------------------------------------------------
# Remediation snippets shared by several checks

_NGINX_PROTOCOLS = (
    "In the server (or http) block: `ssl_protocols TLSv1.2 TLSv1.3;` then `nginx -t && "
    "systemctl reload nginx`. Check every server block and included file listening on 443: "
    "the first server block of an address:port decides the protocols offered before SNI."
)
_APACHE_PROTOCOLS = (
    "`SSLProtocol -all +TLSv1.2 +TLSv1.3` in ssl.conf (or the <VirtualHost *:443>), then "
    "`apachectl configtest && systemctl reload apache2`."
)
_IIS_PROTOCOLS = (
    "Schannel is configured per server, in the registry: under HKLM\\SYSTEM\\"
    "CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols create "
    "`SSL 2.0`, `SSL 3.0`, `TLS 1.0`, `TLS 1.1` each with a `Server` subkey holding "
    "DWORD `Enabled`=0 and `DisabledByDefault`=1; make sure `TLS 1.2\\Server` has "
    "Enabled=1 (Windows Server 2022+ also offers `TLS 1.3`). IIS Crypto (Nartac) "
    "'Best Practices' does the same. Reboot the server afterwards."
)
_NGINX_CIPHERS = (
    "`ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-CHACHA20-POLY1305;` and `ssl_prefer_server_ciphers off;` (TLS 1.3 suites are "
    "all good by default)."
)
_APACHE_CIPHERS = (
    "`SSLCipherSuite ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-CHACHA20-POLY1305` and `SSLHonorCipherOrder off`."
)
_IIS_CIPHERS = (
    "Group Policy: Computer Configuration > Administrative Templates > Network > SSL "
    "Configuration Settings > 'SSL Cipher Suite Order': list only "
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (plus the "
    "TLS_AES_* suites on Server 2022+). Or PowerShell `Disable-TlsCipherSuite -Name "
    "TLS_RSA_WITH_AES_128_CBC_SHA` for each weak suite; reboot."
)
_CERT_GENERAL = (
    "Obtain the certificate from a publicly trusted CA (for .gov.vn agencies: the CA the "
    "provincial DTTT/CNTT centre contracts, or a free ACME CA such as Let's Encrypt) and "
    "install the full chain (leaf + intermediates, not the root)."
)

# ---------------------------------------------------------------------------------------
# tls.available


@check(
    "tls.available",
    title="A TLS handshake completes on port 443",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=("NCSC 'Tin nhiem mang' (valid HTTPS)", "OMB M-15-13", "RFC 8446"),
    description="""
Port 443 is open on this address, so browsers will try HTTPS there. If no TLS handshake
completes (the server resets, times out or answers with an alert to a client that accepts
even weak settings), citizens see a connection error instead of the portal. Each address
is tested on its own: a broken IPv6 address or one bad node behind DNS round robin is
otherwise invisible from a single browser. An address that refuses port 443 (TCP RST) while
its port 80 serves plain HTTP has no HTTPS at all: that fails too, and the other TLS checks
of the address are not applicable. A port 443 that stays silent (packets dropped) is not
tested: the scanner cannot tell a firewall from a broken path on its own side.
""",
    remediation={
        "nginx": "Every `listen ... ssl` (IPv4 and `[::]:443`) needs `ssl_certificate` and "
        "`ssl_certificate_key` in that server block (or a default_server that has them); "
        "read `error.log` for the handshake error.",
        "apache": "Enable mod_ssl (`a2enmod ssl`), set `SSLEngine on`, `SSLCertificateFile`, "
        "`SSLCertificateKeyFile` in the <VirtualHost *:443>, and `Listen 443` plus "
        "`Listen [::]:443` if the IPv6 address is bound separately.",
        "iis": "IIS Manager > Site > Bindings: an https binding for this IP (IPv6 too, or "
        "'All Unassigned') with a certificate selected; with several sites on one address "
        "tick 'Require Server Name Indication'.",
        "general": "A load balancer or firewall terminating TLS must do so on every address "
        "the name resolves to, IPv4 and IPv6.",
    },
)
def tls_available(obs: HostObservations, ctx: CheckContext) -> Verdict:
    none = no_https_reason(obs, ctx.address or "")
    t_obs = obs.tls_for(ctx.address or "", 443)
    if none and (t_obs is None or t_obs.outcome == Outcome.SKIPPED):
        return Verdict.failed(
            f"no HTTPS: {none}", address=ctx.address, port443="refused", port80="open"
        )
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address, "outcome": t.outcome, "detail": t.detail}
    if t.outcome == Outcome.OK:
        return Verdict.passed(
            f"TLS handshake completed on {t.address} ({t.handshake_version}, {t.handshake_cipher})",
            version=t.handshake_version,
            cipher=t.handshake_cipher,
            **ev,
        )
    if t.detail.startswith("connect:"):
        # TCP 443 answered the connect probe but not the reconnect: we could not test.
        return Verdict.not_tested(f"could not reconnect to {t.address}:443: {t.detail}", **ev)
    hello = [v.version for v in t.versions if v.outcome == VersionOutcome.ACCEPTED]
    extra = f"; it does answer a {'/'.join(hello)} ClientHello" if hello else ""
    return Verdict.failed(
        f"no TLS handshake completes on {t.address}:443 ({t.outcome}: {t.detail}){extra}",
        hello_accepted=hello,
        **ev,
    )


# ---------------------------------------------------------------------------------------
# protocol versions


@check(
    "tls.protocols.legacy",
    title="SSL 2.0, SSL 3.0, TLS 1.0 and TLS 1.1 are refused",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=(
        "RFC 8996 (TLS 1.0/1.1 deprecated)",
        "RFC 7568 (SSL 3.0)",
        "RFC 6176 (SSL 2.0)",
        _REFS_NCSC + ", B1-1",
        "BOD 18-01",
    ),
    params={"refuse": list(LEGACY_VERSIONS)},
    description="""
SSL 2.0 and 3.0 are broken (DROWN, POODLE) and TLS 1.0 and 1.1 are deprecated by RFC 8996;
browsers stopped offering them in 2020, so keeping them enabled helps no visitor but lets an
attacker force a weaker connection. SSL Labs caps such a site at grade B. The auditor tests
with hand-built ClientHellos, so a server that accepts these versions is detected even
though modern client libraries can no longer speak them.
""",
    remediation={
        "nginx": _NGINX_PROTOCOLS,
        "apache": _APACHE_PROTOCOLS,
        "iis": _IIS_PROTOCOLS,
        "general": "On load balancers/WAFs (F5, FortiGate, Citrix ADC) apply a TLS profile "
        "allowing TLS 1.2 and 1.3 only, on the IPv6 virtual server too.",
    },
)
def protocols_legacy(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    if not t.versions:
        return Verdict.not_tested(f"protocol versions were not probed on {t.address}")
    # Which versions must be refused: all four by default (RFC 8996, 7568, 6176); BOD 18-01
    # asks only SSLv2/SSLv3 (its profile sets ``refuse``).
    refuse = tuple(v for v in LEGACY_VERSIONS if v in ctx.params.get("refuse", LEGACY_VERSIONS))
    accepted = [v for v in refuse if _accepted(t, v)]
    versions = {v.version: v.outcome for v in t.versions}
    if accepted:
        # RFC 8996 sec. 2-3 (MUST NOT negotiate TLS 1.0/1.1); RFC 7568; RFC 6176.
        return Verdict.failed(
            f"{t.address} accepts {', '.join(accepted)}",
            address=t.address,
            accepted=accepted,
            versions=versions,
        )
    if not t.accepted_versions() and t.outcome != Outcome.OK:
        # Nothing speaks TLS here (plain HTTP on 443, a broken terminator): "refused" would
        # be a vacuous pass. tls.available reports the actual failure.
        return Verdict.not_tested(
            f"{t.address} accepts no TLS version at all ({t.outcome}: {t.detail})",
            address=t.address,
            versions=versions,
        )
    unknown = _undetermined(t, refuse)
    if unknown:
        return Verdict.not_tested(
            f"could not test {', '.join(unknown)} on {t.address} (connection failed)",
            address=t.address,
            versions=versions,
        )
    silent = _silent(t, refuse)
    note = f" ({', '.join(silent)}: no answer, counted as refused)" if silent else ""
    return Verdict.passed(
        f"{t.address} refuses {', '.join(refuse)}{note}",
        address=t.address,
        versions=versions,
    )


@check(
    "tls.protocols.modern",
    title="TLS 1.2 or TLS 1.3 is accepted (a profile may warn without TLS 1.3)",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    params={"warn_without_tls13": False},
    refs=(_REFS_NCSC + ", B1-1 (TLS 1.3 good, TLS 1.2 sufficient)", "RFC 9325 sec. 3.1.1"),
    description="""
TLS 1.3 is faster (one round trip) and removes the weak options of older versions; NCSC-NL
rates it good and TLS 1.2 only sufficient, and RFC 9325 asks servers to support it. A server
without TLS 1.2 or 1.3 cannot be reached by current browsers at all.
""",
    remediation={
        "nginx": _NGINX_PROTOCOLS + " TLS 1.3 needs OpenSSL >= 1.1.1 (Debian 10+, RHEL 8+).",
        "apache": _APACHE_PROTOCOLS + " TLS 1.3 needs Apache >= 2.4.37 with OpenSSL >= 1.1.1.",
        "iis": "TLS 1.3 needs Windows Server 2022 or later (IIS 10, build 20348); on older "
        "servers make sure TLS 1.2 is enabled (`TLS 1.2\\Server` Enabled=1) and plan the "
        "upgrade. " + _IIS_PROTOCOLS,
    },
)
def protocols_modern(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    if not t.versions:
        return Verdict.not_tested(f"protocol versions were not probed on {t.address}")
    versions = {v.version: v.outcome for v in t.versions}
    ev: dict[str, Any] = {"address": t.address, "versions": versions}
    if _accepted(t, TLS13):
        with12 = " and TLS 1.2" if _accepted(t, TLS12) else ""
        return Verdict.passed(f"{t.address} accepts TLS 1.3{with12}", **ev)
    if not _responsive(t):
        # Every hello went unanswered (timeouts): nothing says what the server accepts.
        # The same evidence leaves tls.protocols.legacy untested; tls.available judges
        # the missing handshake itself.
        return Verdict.not_tested(
            f"{t.address} answered no ClientHello ({t.outcome}: {t.detail}): "
            "its TLS versions are unknown",
            **ev,
        )
    if _undetermined(t, (TLS13,)):
        return Verdict.not_tested(f"could not test TLS 1.3 on {t.address}", **ev)
    silent = _silent(t, MODERN_VERSIONS)
    note = f" ({', '.join(silent)}: no answer, counted as not accepted)" if silent else ""
    if _accepted(t, TLS12):
        # NCSC-NL 2025-05 version table: TLS 1.2 "sufficient" = pass (Internet.nl passes
        # it); RFC 9325 3.1.1 SHOULD 1.3, so a profile may ask for it (warn_without_tls13).
        if ctx.params.get("warn_without_tls13", False):
            return Verdict.warn(
                f"{t.address} accepts TLS 1.2 but not TLS 1.3{note}", score=0.5, **ev
            )
        return Verdict.passed(
            f"{t.address} accepts TLS 1.2 (sufficient) but not TLS 1.3{note}", **ev
        )
    if _undetermined(t, (TLS12,)):
        return Verdict.not_tested(f"could not test TLS 1.2 on {t.address}", **ev)
    return Verdict.failed(f"{t.address} accepts neither TLS 1.2 nor TLS 1.3{note}", **ev)


# ---------------------------------------------------------------------------------------
# cipher suites


def _cipher_precheck(t: TlsObservation) -> Verdict | None:
    if not t.versions or not t.accepted_versions():
        return Verdict.not_tested(
            f"no protocol version was accepted on {t.address}, so no suite could be tested",
            address=t.address,
        )
    if not t.ciphers:
        return Verdict.not_tested(
            f"cipher suites on {t.address} could not be enumerated: {t.ciphers_detail}",
            address=t.address,
        )
    return None


def _unknown_suites(t: TlsObservation) -> str | None:
    """Why the accepted suites may be more than those seen (None when they are all)."""
    if not t.ciphers_complete:
        return f"cipher enumeration on {t.address} was incomplete: {t.ciphers_detail}"
    unknown = _undetermined(t, ALL_VERSIONS)
    if unknown:
        # a version that could not be tested may accept suites of its own (3DES on TLS 1.0)
        return f"{', '.join(unknown)} could not be tested on {t.address}, nor its suites"
    return None


@check(
    "tls.ciphers",
    title="No insufficient cipher suite is accepted (phase-out = warn)",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    params={"prohibit_only": []},
    refs=(_REFS_NCSC + ", B2-1..B2-4", "BOD 18-01 (no RC4, no 3DES)", "RFC 9325 sec. 4"),
    description="""
The cipher suite decides how the connection is encrypted. Suites with RC4, 3DES, NULL or
EXPORT encryption, anonymous key exchange, RSA key exchange (no forward secrecy, ROBOT),
CBC with SHA-1 (Lucky13/padding-oracle class attacks) or CCM_8 are "insufficient" in the
NCSC-NL 2025 guidelines; CBC with SHA-2 is "phase out". A client that supports a weak suite
can be steered to it, so every accepted suite counts, in every TLS version.
""",
    remediation={
        "nginx": _NGINX_CIPHERS,
        "apache": _APACHE_CIPHERS,
        "iis": _IIS_CIPHERS,
        "general": "The Mozilla SSL Configuration Generator 'intermediate' profile gives the "
        "same list for most servers and load balancers.",
    },
)
def ciphers(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    pre = _cipher_precheck(t)
    if pre is not None:
        return pre
    by_class = _ciphers_by_class(t)
    ev: dict[str, Any] = {
        "address": t.address,
        "classes": {k: [_label(c) for c in v] for k, v in by_class.items()},
        "complete": t.ciphers_complete,
    }
    only = [str(e) for e in ctx.params.get("prohibit_only", [])]
    if only:
        # A profile naming the prohibited encryptions itself (BOD 18-01: RC4 and 3DES) is
        # judged on those alone: the NCSC-NL classes are not its rule.
        hit = [c for c in t.ciphers if _enc(c) in only]
        if hit:
            return Verdict.failed(
                f"{t.address} accepts {len(hit)} suite(s) with {'/'.join(only)}: "
                f"{_names([_label(c) for c in hit])}",
                **ev,
            )
        partial = _unknown_suites(t)
        if partial:
            return Verdict.not_tested(partial, **ev)
        return Verdict.passed(f"{t.address} accepts no {'/'.join(only)} suite", **ev)
    bad = by_class.get(tls_tables.INSUFFICIENT, []) + by_class.get(tls_tables.UNKNOWN, [])
    if bad:
        why = sorted({tls_tables.reason(c.code, c.version) for c in bad})
        return Verdict.failed(
            f"{t.address} accepts {len(bad)} insufficient suite(s): "
            f"{_names([_label(c) for c in bad])}",
            reasons=why,
            **ev,
        )
    partial = _unknown_suites(t)
    if partial:
        return Verdict.not_tested(partial, **ev)
    phase = by_class.get(tls_tables.PHASE_OUT, [])
    if phase:
        return Verdict.warn(
            f"{t.address} accepts {len(phase)} phase-out suite(s): "
            f"{_names([_label(c) for c in phase])}",
            score=0.5,
            **ev,
        )
    return Verdict.passed(
        f"{t.address} accepts only good/sufficient suites ({len(t.ciphers)} in total)", **ev
    )


@check(
    "tls.forward_secrecy",
    title="Every accepted suite has forward secrecy (ECDHE/DHE or TLS 1.3)",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=(_REFS_NCSC + ", B2 (key exchange)", "RFC 9325 sec. 4.1"),
    description="""
With forward secrecy each connection uses a fresh key exchange, so a server key stolen
later (or handed over) cannot decrypt recorded traffic of citizens. Suites with plain RSA
or static (EC)DH key exchange lack it; TLS 1.3 always has it.
""",
    remediation={
        "nginx": _NGINX_CIPHERS + " (removes every `AES128-SHA`, `AES256-GCM-SHA384`... RSA "
        "key-exchange suite).",
        "apache": _APACHE_CIPHERS,
        "iis": _IIS_CIPHERS + " Remove every TLS_RSA_WITH_* suite from the order.",
        "general": "Enable only ECDHE (or DHE) key-exchange suites and TLS 1.3; turn off "
        "static RSA key exchange, also on load balancers and WAFs in front of the server.",
    },
)
def forward_secrecy(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    pre = _cipher_precheck(t)
    if pre is not None:
        return pre
    no_fs = [c for c in t.ciphers if not tls_tables.is_forward_secret(c.code, c.version)]
    ev: dict[str, Any] = {"address": t.address, "complete": t.ciphers_complete}
    if no_fs:
        return Verdict.failed(
            f"{t.address} accepts {len(no_fs)} suite(s) without forward secrecy: "
            f"{_names([_label(c) for c in no_fs])}",
            without_fs=[_label(c) for c in no_fs],
            **ev,
        )
    partial = _unknown_suites(t)
    if partial:
        return Verdict.not_tested(partial, **ev)
    return Verdict.passed(
        f"all {len(t.ciphers)} accepted suites on {t.address} use ECDHE/DHE or TLS 1.3", **ev
    )


# ---------------------------------------------------------------------------------------
# certificate


@check(
    "tls.cert.trusted",
    title="The certificate chain builds to a trusted root, intermediates sent",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=("NCSC 'Tin nhiem mang' (valid certificate)", "RFC 5280 sec. 6", "RFC 8446 sec. 4.4.2"),
    description="""
Browsers show a full-page warning for a self-signed certificate or one from an unknown CA,
and teach citizens to click through warnings on government sites. A server that does not
send its intermediate certificate works in some desktop browsers (which cache or fetch it)
but fails on phones, in apps and in scripts: that case is reported separately as a probably
missing intermediate.
""",
    remediation={
        "nginx": "`ssl_certificate` must point at the full chain: `cat leaf.crt intermediate.crt "
        "> fullchain.pem` (leaf first; certbot's fullchain.pem already is).",
        "apache": "Apache >= 2.4.8: `SSLCertificateFile` with leaf + intermediates in one file "
        "(older: `SSLCertificateChainFile intermediate.crt`).",
        "iis": "Import the intermediate certificate into the computer's 'Intermediate "
        "Certification Authorities' store (certlm.msc), then re-select the certificate in the "
        "https binding; IIS sends what it can build from the local stores.",
        "general": _CERT_GENERAL,
    },
)
def cert_trusted(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    if not t.chain or t.trust in ("", Trust.NO_CHAIN):
        return _no_chain(t)
    ev: dict[str, Any] = {
        "address": t.address,
        "trust": t.trust,
        "path": list(t.trust_path),
        "anchor": t.trust_anchor,
        "served": [c.subject for c in t.chain],
    }
    if t.trust == Trust.TRUSTED:
        return Verdict.passed(f"chain on {t.address} builds to {t.trust_anchor}", **ev)
    if t.chain_truncated:
        # the path may go through certificates past the cap: judged on a part, not the whole
        ev["truncated"] = True
        return Verdict.not_tested(
            f"{t.address} sent more than {len(t.chain)} certificates; the first "
            f"{len(t.chain)} do not build a trusted path and the rest was not read",
            **ev,
        )
    if t.trust == Trust.MISSING_INTERMEDIATE:
        return Verdict.failed(
            f"probably missing intermediate certificate on {t.address}: {t.trust_detail}", **ev
        )
    if t.trust == Trust.ERROR:
        return Verdict.not_tested(
            f"the chain on {t.address} could not be judged: {t.trust_detail}", **ev
        )
    return Verdict.failed(f"certificate on {t.address} is not trusted: {t.trust_detail}", **ev)


@check(
    "tls.cert.hostname",
    title="The certificate is valid for the host name (SAN, or CN without SAN)",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=("RFC 6125 sec. 6.4", "RFC 9525", "CA/B Forum Baseline Requirements 7.1.4.2"),
    description="""
The certificate must name the host the citizen typed, otherwise the browser warns that the
site may be an impostor. Common causes: a certificate for `example.gov.vn` only (without
`www`), another agency's certificate served as the default on a shared IPv6 address, or an
IDN name missing in its xn-- form. Wildcards cover exactly one label.
""",
    remediation={
        "nginx": "Give the host its own server block with `server_name` and the right "
        "`ssl_certificate`, on both `listen 443 ssl` and `listen [::]:443 ssl`; reissue the "
        "certificate with every served name in subjectAltName.",
        "apache": "A <VirtualHost *:443> with `ServerName`/`ServerAlias` for this host and its "
        "own `SSLCertificateFile`; reissue with all names in subjectAltName.",
        "iis": "Bindings: the https binding for this host name with 'Require Server Name "
        "Indication' and the matching certificate; request a SAN certificate listing every "
        "host name (IDNs in xn-- form).",
        "general": _CERT_GENERAL,
    },
)
def cert_hostname(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    leaf = _leaf(t)
    if leaf is None:
        return _no_chain(t)
    unread = _unparsed(leaf)
    if unread:
        return unread
    names = list(presented_names(leaf))
    ev: dict[str, Any] = {
        "address": t.address,
        "names": names[:50],
        "from": "san" if leaf.san else "cn",
    }
    if hostname_ok(leaf, ctx.target):
        return Verdict.passed(f"certificate on {t.address} is valid for {ctx.target}", **ev)
    shown = _names(names, 5) if names else "no DNS name at all"
    return Verdict.failed(
        f"certificate on {t.address} does not cover {ctx.target} (it names {shown})", **ev
    )


@check(
    "tls.cert.expiry",
    title="The certificate is within its validity period (warn below 30 days left)",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=("RFC 5280 sec. 4.1.2.5", "CA/B Forum Baseline Requirements 6.3.2"),
    params={"warn_days": 30},
    description="""
An expired certificate takes the portal offline for every visitor in one moment, usually
on a weekend. Renewal should be automatic; the warning at 30 days left (configurable)
gives time to act when it is not. Served intermediate certificates are checked too.
""",
    remediation={
        "general": "Automate renewal (ACME: certbot, acme.sh, win-acme for IIS) and monitor "
        "the expiry date; renew at 2/3 of the lifetime.",
        "nginx": "Install the renewed full chain and `systemctl reload nginx` (certbot's "
        "deploy hook does it: `--deploy-hook 'systemctl reload nginx'`).",
        "apache": "Install the renewed certificate and `systemctl reload apache2` "
        "(certbot --apache handles it).",
        "iis": "win-acme (wacs.exe) renews and rebinds automatically; manually: import the "
        "new PFX in certlm.msc and select it in every https binding, IPv6 ones included.",
    },
)
def cert_expiry(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    leaf = _leaf(t)
    if leaf is None:
        return _no_chain(t)
    if leaf.not_after is None:
        return Verdict.not_tested(f"validity dates of the certificate on {t.address} unknown")
    now = ctx.now
    left = _days((leaf.not_after - now).total_seconds())
    ev: dict[str, Any] = {
        "address": t.address,
        "not_before": leaf.not_before.isoformat() if leaf.not_before else None,
        "not_after": leaf.not_after.isoformat(),
        "days_left": left,
    }
    bad = _validity(leaf, now)
    if bad:
        return Verdict.failed(f"certificate on {t.address} {bad}", **ev)
    for inter in t.chain[1:]:
        if inter.self_signed:
            continue  # a served root is ignored by clients
        why = _validity(inter, now)
        if why:
            return Verdict.failed(f"intermediate {inter.subject} on {t.address} {why}", **ev)
    if t.chain_truncated:
        ev["truncated"] = True
        return Verdict.not_tested(
            f"the leaf on {t.address} is valid, but the server sent more than {len(t.chain)} "
            "certificates and the rest of the chain was not read",
            **ev,
        )
    warn_days = int(ctx.params.get("warn_days", 30))
    if left < warn_days:
        # CA/B BR: lifetimes are short (<= 398 days, shrinking); renew well before the end.
        return Verdict.warn(
            f"certificate on {t.address} expires in {left} days "
            f"({leaf.not_after.date().isoformat()})",
            score=0.5,
            **ev,
        )
    return Verdict.passed(
        f"certificate on {t.address} valid until {leaf.not_after.date().isoformat()} "
        f"({left} days left)",
        **ev,
    )


@check(
    "tls.cert.key",
    title="Certificate key: RSA >= 2048 (2048-3071 = phase-out), EC >= 256, Ed25519/Ed448",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=(_REFS_NCSC + ", B3 (certificate keys)", "CA/B Forum Baseline Requirements 6.1.5"),
    params={"rsa_min": 2048, "rsa_good": 3072, "ec_min": 256},
    description="""
The certificate key protects the server's identity. RSA keys below 2048 bits can be
factored with enough computing power and are refused by browsers; NCSC-NL 2025 rates
RSA-2048 as phase-out and asks for 3072 bits or an elliptic-curve key (P-256 and up,
Ed25519), which is also faster on the server.
""",
    remediation={
        "general": "Generate a new key and certificate: `openssl req -new -newkey ec "
        "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout site.key -out site.csr` (or "
        "`-newkey rsa:3072`), and have the CA reissue.",
        "nginx": "Point `ssl_certificate`/`ssl_certificate_key` at the new pair; nginx can "
        "serve an ECDSA and an RSA certificate side by side (two ssl_certificate lines).",
        "apache": "Point `SSLCertificateFile`/`SSLCertificateKeyFile` at the new pair.",
        "iis": "certlm.msc > Personal > All Tasks > Advanced > Create Custom Request: key "
        "type ECDH_P256 (or RSA 3072); import the issued certificate and select it in the "
        "https bindings.",
    },
)
def cert_key(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    leaf = _leaf(t)
    if leaf is None:
        return _no_chain(t)
    unread = _unparsed(leaf)
    if unread:
        return unread
    kind, bits = leaf.key_type, leaf.key_bits
    ev: dict[str, Any] = {"address": t.address, "key_type": kind, "bits": bits}
    if leaf.curve:
        ev["curve"] = leaf.curve
    desc = f"{kind}-{bits}" if bits else kind
    rsa_min = int(ctx.params.get("rsa_min", 2048))  # CA/B BR 6.1.5; NCSC-NL: < 2048 insufficient
    rsa_good = int(ctx.params.get("rsa_good", 3072))  # NCSC-NL 2025: 2048-3071 phase out
    ec_min = int(ctx.params.get("ec_min", 256))  # NCSC-NL: P-256 and up; CA/B BR 6.1.5
    if kind == "RSA":
        if bits < rsa_min:
            return Verdict.failed(f"{desc} key on {t.address} (< {rsa_min} bits)", **ev)
        if bits < rsa_good:
            return Verdict.warn(
                f"{desc} key on {t.address}: phase-out (NCSC-NL asks >= {rsa_good} bits or EC)",
                score=0.5,
                **ev,
            )
        return Verdict.passed(f"{desc} key on {t.address}", **ev)
    if kind == "EC":
        if bits >= ec_min:
            return Verdict.passed(f"EC {leaf.curve or bits} key on {t.address}", **ev)
        return Verdict.failed(f"EC key of {bits} bits on {t.address} (< {ec_min})", **ev)
    if kind in ("Ed25519", "Ed448"):
        return Verdict.passed(f"{kind} key on {t.address}", **ev)
    # DSA and anything else is not in the NCSC-NL tables (and not allowed by CA/B BR).
    return Verdict.failed(f"{desc} key on {t.address} is not an accepted key type", **ev)


_WEAK_HASHES = ("md2", "md4", "md5", "sha1")


@check(
    "tls.cert.signature",
    title="No MD5 or SHA-1 signature in the served chain (root excluded)",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=("CA/B Forum Baseline Requirements 7.1.3.2", "RFC 9155", _REFS_NCSC + ", B3"),
    description="""
A certificate signed with MD5 or SHA-1 can be forged by a collision attack (demonstrated
for SHA-1 in 2017 and 2020); browsers reject such certificates. The root's own signature is
not checked by anyone (the root is trusted as such), so only the leaf and the intermediates
count.
""",
    remediation={
        "general": "Have the CA reissue the certificate with SHA-256 (any current CA does); "
        "replace old intermediates with the CA's current SHA-256 chain.",
        "nginx": "Install the reissued full chain in `ssl_certificate` and reload.",
        "apache": "Install the reissued certificate and chain and reload.",
        "iis": "Import the reissued certificate (and the CA's current intermediate into the "
        "Intermediate store) and select it in the https bindings.",
    },
)
def cert_signature(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    if not t.chain:
        return _no_chain(t)
    weak: list[str] = []
    hashes: dict[str, str] = {}
    unread: list[str] = []
    for i, cert in enumerate(t.chain):
        if cert.parse_error:
            unread.append(f"certificate {i + 1}: {cert.parse_error}")
            continue
        if i > 0 and cert.self_signed:
            continue  # a served root: its self-signature is never relied on
        hashes[cert.subject] = cert.sig_hash or cert.sig_algorithm
        if cert.sig_hash in _WEAK_HASHES:
            role = "leaf" if i == 0 else "intermediate"
            weak.append(f"{role} {cert.subject} ({cert.sig_hash.upper()})")
    ev: dict[str, Any] = {"address": t.address, "signatures": hashes}
    if weak:
        return Verdict.failed(f"weak signature on {t.address}: {_names(weak, 4)}", **ev)
    if unread or t.chain_truncated:
        # no weak signature among what was read; what was not read may have one
        why = "; ".join(unread) or f"more than {len(t.chain)} certificates, the rest not read"
        return Verdict.not_tested(f"part of the chain on {t.address} was not judged: {why}", **ev)
    return Verdict.passed(f"no MD5/SHA-1 signature in the chain served on {t.address}", **ev)


@check(
    "tls.ocsp_stapling",
    title="A stapled OCSP response is sent, and it verifies (must-staple honoured)",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.INFORMATIONAL,
    scored=False,
    refs=(
        "RFC 6066 sec. 8",
        "RFC 6960 sec. 4.2.2 (response validation)",
        "RFC 7633 (TLS feature: must-staple)",
        "RFC 8446 sec. 4.4.2.1",
        _REFS_NCSC + " (OCSP stapling)",
    ),
    description="""
With OCSP stapling the server sends the CA's signed "not revoked" statement itself, so the
citizen's browser does not have to ask the CA (faster, and the CA does not learn who visits
which government site). A stapled response is verified as Internet.nl does: signed by the
issuer (or a responder it delegated), for this certificate, and within its validity
window; a stale or wrong staple is a warning. A certificate without an OCSP address needs
no stapling (not applicable). A certificate marked "must staple" (RFC 7633) that is served
without a staple is refused by Firefox: that fails. Otherwise informational: not scored.
""",
    remediation={
        "nginx": "`ssl_stapling on; ssl_stapling_verify on; ssl_trusted_certificate "
        "/etc/ssl/chain.pem; resolver 127.0.0.53;` (the server must reach the CA's OCSP URL); "
        "a stale staple: check that outbound HTTP to the responder works, or refresh the "
        "`ssl_stapling_file` before its nextUpdate.",
        "apache": "`SSLUseStapling on` in the VirtualHost and `SSLStaplingCache "
        "shmcb:/var/run/ocsp(128000)` outside it; `SSLStaplingReturnResponderErrors off` so "
        "that a responder error is not stapled.",
        "iis": "IIS staples OCSP automatically (Windows Server 2008 and later) when the "
        "server can reach the CA's OCSP responder: allow outbound HTTP to it in the firewall.",
    },
)
def ocsp_stapling(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address, "detail": t.ocsp_detail}
    leaf = _leaf(t)
    must = leaf is not None and leaf.must_staple
    if must:
        ev["must_staple"] = True
    if t.ocsp_stapled is None:
        return Verdict.not_tested(f"could not tell whether {t.address} staples OCSP", **ev)
    if t.ocsp_stapled and t.ocsp_status == "revoked":
        return Verdict.failed(
            f"the OCSP response stapled on {t.address} says the certificate is REVOKED", **ev
        )
    if not t.ocsp_stapled:
        if must:  # RFC 7633 sec. 4.2.3: the client MUST treat a missing staple as fatal
            return Verdict.failed(
                f"the certificate on {t.address} is must-staple (RFC 7633) but no OCSP "
                "response is stapled",
                **ev,
            )
        # Internet.nl: a certificate naming no OCSP responder has nothing to staple
        # (chain_checked: an observation new enough to have read ocsp_urls)
        if leaf is not None and not leaf.parse_error and t.chain_checked and not leaf.ocsp_urls:
            return Verdict.not_applicable(
                f"the certificate on {t.address} names no OCSP responder (no AIA OCSP URI): "
                "nothing to staple",
                **ev,
            )
        return Verdict.info(f"no OCSP response stapled on {t.address}", **ev)
    if not t.ocsp_checked:  # an older observation: stapled, not verified
        return Verdict.passed(f"{t.address}: {t.ocsp_detail}", status=t.ocsp_status, **ev)
    ev.update(
        status=t.ocsp_status,
        signer=t.ocsp_signer,
        this_update=t.ocsp_this_update.isoformat() if t.ocsp_this_update else None,
        next_update=t.ocsp_next_update.isoformat() if t.ocsp_next_update else None,
    )
    problem = t.ocsp_problem
    # RFC 6960 sec. 4.2.2.1: thisUpdate not in the future (5 minutes of clock skew, as
    # Internet.nl and browsers allow), nextUpdate (when given) not in the past.
    skew = timedelta(minutes=5)
    if not problem and t.ocsp_this_update is not None and t.ocsp_this_update > ctx.now + skew:
        problem = f"thisUpdate {t.ocsp_this_update.isoformat()} is in the future"
    if not problem and t.ocsp_next_update is not None and t.ocsp_next_update < ctx.now - skew:
        problem = f"stale: nextUpdate {t.ocsp_next_update.isoformat()} has passed"
    if not problem and t.ocsp_status != "good":  # "unknown": the responder does not know it
        problem = f"status {t.ocsp_status}"
    if problem:
        ev["problem"] = problem
        return Verdict.warn(
            f"the OCSP response stapled on {t.address} is not valid: {problem}", score=0.5, **ev
        )
    return Verdict.passed(
        f"{t.address}: valid stapled OCSP response (signed by the {t.ocsp_signer}, "
        f"certificate {t.ocsp_status})",
        **ev,
    )


# ---------------------------------------------------------------------------------------
# ipv6.web.https


@check(
    "ipv6.web.https",
    title="HTTPS works over every IPv6 address (handshake + valid certificate)",
    category=Category.IPV6_WEB,
    scope=Scope.HOST,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=("QD 38/QD-BTTTT (IPv6 For Gov, 'works well over IPv6')", "OMB M-21-07"),
    description="""
Having an AAAA record is not enough: an IPv6 visitor must get a working, trusted HTTPS
connection. Often the IPv6 address lands on another server or load-balancer listener
than IPv4, with TLS missing, a default certificate, or an expired one. Each AAAA is tested
on its own and the failing addresses are named. A host without AAAA is not applicable
here (ipv6.web.aaaa already fails it; counting it twice would double the penalty).
""",
    remediation={
        "nginx": "Add `listen [::]:443 ssl;` (http2 as for IPv4) to the same server block as "
        "`listen 443 ssl;`, so both families share one certificate configuration.",
        "apache": "`Listen [::]:443` and <VirtualHost *:443> (or list the IPv6 address in "
        "the VirtualHost) so that the same SSL settings apply.",
        "iis": "Bindings: the https binding must cover the IPv6 address ('All Unassigned' or "
        "the IPv6 literal) with the same certificate and SNI setting as IPv4.",
        "general": "On a load balancer/CDN, create the IPv6 virtual server with the same TLS "
        "profile and certificate as the IPv4 one; open TCP 443 for IPv6 in the firewall.",
    },
)
def web_https(obs: HostObservations, ctx: CheckContext) -> Verdict:
    v6 = usable_v6(obs.v6, ctx.guard)
    # An IPv4-mapped, link-local or unique-local AAAA is no IPv6 address a citizen can use:
    # there is nothing to test over IPv6 (and "could not test" would blame the scanner).
    ignored = {a: r for a in obs.v6 if (r := unusable_v6_reason(a, ctx.guard)) is not None}
    if not v6:
        what = (
            "no usable AAAA record (" + ", ".join(f"{a}: {r}" for a, r in ignored.items()) + ")"
            if ignored
            else "no AAAA record"
        )
        return Verdict.not_applicable(
            f"{what}: nothing to test over IPv6 (reported by ipv6.web.aaaa)", unusable=ignored
        )
    failures: dict[str, str] = {}
    unknown: dict[str, str] = {}
    for address in v6:
        tcp = obs.tcp_for(address, 443)
        t = obs.tls_for(address, 443)
        if tcp is not None and not tcp.open:
            if tcp.outcome in (Outcome.BLOCKED, Outcome.SKIPPED):
                unknown[address] = f"not probed ({tcp.outcome}: {tcp.detail})"
            else:
                # For this check the failure to connect *is* the finding.
                failures[address] = f"port 443 {tcp.outcome}" + (
                    f" ({tcp.detail})" if tcp.detail else ""
                )
            continue
        if t is None or t.outcome in (Outcome.SKIPPED, Outcome.BLOCKED):
            unknown[address] = "TLS not probed" + (f" ({t.detail})" if t else "")
            continue
        if t.outcome != Outcome.OK:
            if t.detail.startswith("connect:"):
                unknown[address] = f"could not reconnect ({t.detail})"
            else:
                failures[address] = f"TLS handshake failed ({t.outcome}: {t.detail})"
            continue
        leaf = _leaf(t)
        if leaf is None:
            unknown[address] = "no certificate observed"
            continue
        if leaf.parse_error:
            unknown[address] = f"the certificate could not be read ({leaf.parse_error})"
            continue
        if t.trust != Trust.TRUSTED and (t.trust in ("", Trust.ERROR) or t.chain_truncated):
            # the chain was not judged (or only its first part was): no verdict on trust
            unknown[address] = f"trust not judged ({t.trust or 'no verdict'}: {t.trust_detail})"
            continue
        problems = []
        if t.trust != Trust.TRUSTED:
            problems.append(f"untrusted certificate ({t.trust}: {t.trust_detail})")
        if not hostname_ok(leaf, ctx.target):
            problems.append(f"certificate not valid for {ctx.target}")
        why = _validity(leaf, ctx.now)
        if why:
            problems.append(f"certificate {why}")
        if problems:
            failures[address] = "; ".join(problems)
    ok = [a for a in v6 if a not in failures and a not in unknown]
    ev: dict[str, Any] = {"ok": ok, "failures": failures, "not_tested": unknown}
    if ignored:
        ev["unusable"] = ignored
    if failures:
        listed = "; ".join(f"{a}: {why}" for a, why in failures.items())
        return Verdict.failed(
            f"HTTPS over IPv6 fails on {len(failures)} of {len(v6)} address(es) - {listed}",
            score=len(ok) / len(v6),
            **ev,
        )
    if unknown:
        listed = "; ".join(f"{a}: {why}" for a, why in unknown.items())
        return Verdict.not_tested(f"HTTPS over IPv6 not tested on {listed}", **ev)
    cut = cut_answers(obs.dns.aaaa)
    if cut:  # "every AAAA" cannot be said of the first part of the RRset
        return Verdict.not_tested(f"HTTPS works on the AAAA addresses kept, but {cut}", **ev)
    return Verdict.passed(f"HTTPS with a valid certificate on every AAAA ({', '.join(ok)})", **ev)
