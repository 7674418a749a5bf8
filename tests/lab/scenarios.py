"""THE scenario table of the lab.

One entry per scenario: what the lab sets up (zones, web hosts, mail hosts, packet filters)
and, next to it, the verdicts `auditor scan` must give, per target and check id.

An expectation is one of:
- a status string ("pass", "fail", ...): the worst status among the findings of that check
  for that target must be exactly this one;
- a tuple of statuses: the worst status must be one of them (used only where
  /work/shared/CHECKS.md leaves the status open, e.g. "informational" checks);
- a dict {"v4": ..., "v6": ...}: per address family, for per-address checks; the findings
  must carry the lab's address of that family for the host (so a failure names the v6
  address when only the v6 address is broken).

Statuses are ranked pass < not_applicable < info < not_tested < warn < fail < error.

Addresses are allocated by `allocate()` from the documentation prefixes (see README.md).
Everything here is plain data so a later "scale mode" can append synthetic hosts/zones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

Expect = str | tuple[str, ...] | dict[str, Any]

STATUS_RANK = {
    "pass": 0,
    "not_applicable": 1,
    "info": 2,
    "not_tested": 3,
    "warn": 4,
    "fail": 5,
    "error": 6,
}

# Statuses accepted for a check CHECKS.md calls "informational" when its condition is not met.
INFO_BAD = ("fail", "warn", "info")

# --- TLS parameters -----------------------------------------------------------------------
GOOD_PROTOCOLS = "TLSv1.2 TLSv1.3"
# NCSC-NL 2025 "good": ECDHE + AEAD only.
GOOD_CIPHERS_EC = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"
)
GOOD_CIPHERS_RSA = (
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
)
# RFC 9155: no SHA-1 (nor SHA-224) signatures in a TLS 1.2 key exchange (tls.kex_hash): the
# lab's MX (nginx's mail module and Postfix) sign with these only
MAIL_SIGALGS = (
    "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:"
    "rsa_pss_rsae_sha512:RSA+SHA256:RSA+SHA384:RSA+SHA512:ed25519:ed448"
)
# Legacy protocols and weak keys need the server's security level lowered (LAB-NOTES).
LEGACY_CIPHERS_EC = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"


@dataclass(frozen=True)
class CertSpec:
    """A leaf certificate. Names default to the host name (SAN)."""

    key: str = "ec"  # ec | rsa1024 | rsa2048
    issuer: str = "inter"  # inter (lab intermediate) | self
    names: tuple[str, ...] = ()  # SAN dNSNames; () = the host name
    cn: str | None = None  # subject CN; None = first SAN
    org: str = "Lab agency"
    not_before_days: int = -1  # relative to now
    not_after_days: int = 365
    sha1: bool = False
    send_chain: bool = True  # send the intermediate with the leaf
    stapling: bool = False  # staple a (lab-made) OCSP response
    # --- issue #19, certificate depth (tests/lab/pki.py) ---
    ocsp_uri: bool = True  # authorityInfoAccess OCSP URI in the leaf (as public CAs do)
    staple_signer: str = "issuer"  # issuer | root (a signer neither issuer nor delegated)
    # "" = `openssl ocsp`'s response; sct (SCTs in the single response) | stale (nextUpdate
    # past) | other (another serial number): made by tests/lab/pki.py made_staple
    staple_content: str = ""
    must_staple: bool = False  # TLS feature status_request (RFC 7633)
    sct: bool = False  # embed a synthetic precertificate SCT list (2 logs)
    eku: str = "serverAuth"  # extendedKeyUsage of the leaf ("" = none)
    # the issuing intermediate: inter (the lab's) | nc (name constraints: only example.org)
    # | sha1 (the intermediate itself signed with SHA-1 by the root)
    inter: str = "inter"


@dataclass(frozen=True)
class DeptPath:
    """A department's page as a path of a portal (issue #18: inventory ``paths``)."""

    path: str  # "/soa/": served from its own folder (an nginx ``location`` with ``alias``)
    # The location sets an add_header of its own: nginx then drops every add_header of the
    # server block (they are not inherited), the classic way one path loses its headers.
    own_headers: bool = False
    insecure: bool = False  # the page loads a script and an image over http://


@dataclass(frozen=True)
class Web:
    """nginx settings of one host for one address family (defaults = a good site)."""

    listen80: bool = True
    listen443: bool = True
    tls443: bool = True  # False: port 443 speaks plain HTTP (TLS handshake fails)
    redirect: str = "https"  # https | none | downgrade (https://host/ -> http://host/landing)
    protocols: str = GOOD_PROTOCOLS
    ciphers: str | None = None  # None: good suites for the certificate's key type
    hsts: str | None = "max-age=31536000; includeSubDomains"
    # a good policy by http.csp's rules (Internet.nl's depth: base-uri and form-action too)
    csp: str | None = (
        "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    xcto: bool = True
    xfo: str | None = "DENY"
    referrer: str | None = "strict-origin-when-cross-origin"
    cookie: str | None = "sid=lab; Path=/; Secure; HttpOnly; SameSite=Lax"
    server_tokens: bool = False  # True: "Server: nginx/1.22.1"
    extra_headers: tuple[str, ...] = ()  # "Name: value" via headers-more (hostile values ok)
    body: str = "main"  # page variant; v4 and v6 must match for parity
    status: int | None = None  # force this status for "/"
    security_txt: str = "valid"  # valid | expired | far | missing | huge (valid, then 50 MiB)
    block: str | None = None  # nftables: drop | reset (whole address, in the server ns)
    gzip: bool = False  # issue #19: nginx `gzip on` (http.compression)
    # TLS handshake depth (issue 19): False = `ssl_prefer_server_ciphers off` (the client's
    # order decides); dhparam = an RFC 7919 group name (ffdhe2048, ffdhe3072) for DHE suites
    prefer_server_ciphers: bool = True
    dhparam: str | None = None
    # `ssl_conf_command SignatureAlgorithms`: None = OpenSSL's default list (which, at
    # Debian's security level 2, still signs with SHA-224 when a client offers nothing else)
    sigalgs: str | None = None
    # TLS 1.3 early data (tls.zero_rtt): None = nginx's default (off); "on" =
    # `ssl_early_data on` (nginx passes early requests on: fail); "425" = on, plus
    # `if ($ssl_early_data) { return 425; }` (RFC 8470: pass)
    early_data: str | None = None
    # `ssl_ecdh_curve` (tls.kex_params): None = nginx's default (OpenSSL's list)
    ecdh_curve: str | None = None
    paths: tuple[DeptPath, ...] = ()  # department pages (location blocks) on 443


@dataclass(frozen=True)
class Mta:
    """Postfix settings of one MX listen address (tests/lab/postfix.py; defaults = good)."""

    protocols: str = ">=TLSv1.2"  # smtpd_tls_protocols (Postfix 3.6+ range syntax)
    ciphers: str | None = None  # tls_medium_cipherlist; None: good suites for the key type
    prefer_server: bool = True  # tls_preempt_cipherlist
    # tls_ssl_options (a bit mask of OpenSSL's SSL_OP_*): "0x1" = SSL_OP_NO_EXTENDED_MASTER_SECRET
    ssl_options: str = ""


@dataclass(frozen=True)
class Host:
    name: str
    v4: bool = True
    v6: bool = True
    web: Web = field(default_factory=Web)
    web6: Web | None = None  # v6-specific settings (default: same as web)
    cert: CertSpec = field(default_factory=CertSpec)
    page_refs: tuple[str, ...] = ()  # hosts whose script/img the landing page loads
    cname: str | None = None  # a CNAME instead of addresses
    share_with: str | None = None  # use the addresses of another host (SNI on one address)
    dns_only: bool = False  # addresses in DNS, nothing listens
    # None | starttls | plain (greets 220 without STARTTLS), both nginx's mail module |
    # postfix (tests/lab/postfix.py, with the settings of ``mta``) | depth (port 25 served by
    # depth_server.py, kind ``tls_server``) | scripted (nothing listens: a test starts its
    # own server there, tests/lab/test_mail_politeness.py)
    smtp: str | None = None
    smtp6: bool = True  # SMTP listens on the v6 address too
    mta: Mta = field(default_factory=Mta)
    mta6: Mta | None = None  # v6-specific Postfix settings (default: same as mta)
    # port 443 served by tests/lab/depth_server.py (this kind) instead of nginx; nginx
    # still serves port 80
    tls_server: str | None = None


@dataclass(frozen=True)
class Zone:
    name: str
    signing: str = "knot"  # knot | none | expired (pre-signed, expired RRSIGs) | bogus_ds
    ns: tuple[str, ...] = ("ns1.nic.gov.vn", "ns2.nic.gov.vn")
    records: tuple[str, ...] = ()  # extra zone-file lines, owner relative to the zone
    caa: bool = False
    # False: delegated but not served by the lab's Knot (which would otherwise answer for it
    # on every address, bypassing the delegation)
    served: bool = True


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    zones: tuple[Zone, ...] = ()
    hosts: tuple[Host, ...] = ()
    inventory_domains: tuple[str, ...] = ()
    inventory_hosts: tuple[str, ...] = ()
    expected: dict[str, dict[str, Expect]] = field(default_factory=dict)
    # target -> check -> words of which at least one must appear (case-insensitive) in the
    # message or evidence of a worst-status finding: failures told apart ("timeout" vs
    # "refused", NXDOMAIN vs SERVFAIL, "probably missing intermediate"...)
    evidence: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def agency_id(self) -> str:
        return f"lab-{self.name}"


# --- name servers of the lab (one Knot instance answers on all of them) --------------------
@dataclass(frozen=True)
class NameServer:
    name: str
    v4: str | None
    v6: str | None
    listen_v6: bool = True  # False: AAAA published but nothing answers on it
    blackhole: bool = False  # nothing listens and nftables drops every packet to it


NAME_SERVERS: tuple[NameServer, ...] = (
    NameServer("a.root-servers.lab", "192.0.2.1", "2001:db8:1::1"),
    NameServer("a.dns.vn", "192.0.2.2", "2001:db8:2::2"),
    NameServer("b.dns.vn", "198.51.100.2", "2001:db8:102::2"),
    NameServer("ns1.nic.gov.vn", "192.0.2.53", "2001:db8:53::53"),
    NameServer("ns2.nic.gov.vn", "198.51.100.53", "2001:db8:153::53"),
    # IPv4-only name servers
    NameServer("ns4a.nic.gov.vn", "192.0.2.54", None),
    NameServer("ns4b.nic.gov.vn", "198.51.100.54", None),
    # same /24 and same /48 as ns1 (RFC 2182 diversity warning)
    NameServer("ns1b.nic.gov.vn", "192.0.2.55", "2001:db8:53::55"),
    # AAAA published, nothing answers on it over IPv6
    NameServer("nsdead6.nic.gov.vn", "198.51.100.56", "2001:db8:153::dead", listen_v6=False),
    # a second name for ns1's addresses (one server under two names, as with anycast)
    NameServer("nsalias.nic.gov.vn", "192.0.2.53", "2001:db8:53::53"),
    # a black hole: delegations to it time out (lame zone)
    NameServer("nsblack.nic.gov.vn", "198.51.100.57", "2001:db8:153::57", blackhole=True),
)
RESOLVER_V4 = "192.0.2.253"
RESOLVER_V6 = "2001:db8:253::53"
# The veth link: server side ::1 / .1, client side ::2 / .2.
LINK_V6_SRV, LINK_V6_CLI = "2001:db8:ffff::1", "2001:db8:ffff::2"
LINK_V4_SRV, LINK_V4_CLI = "203.0.113.1", "203.0.113.2"
ALLOW_NETS = ("2001:db8::/32", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
# AAAA records published in the lab's DNS but outside ALLOW_NETS on purpose: the scanner
# must judge them unusable and never connect to them (the address guard blocks them).
ULA_AAAA = "fd00:db8::80"
MAPPED_AAAA = "::ffff:198.51.100.99"
UNROUTED_AAAA = (ULA_AAAA, MAPPED_AAAA)
# The IPv4-only client namespace (tests/lab/test_footing.py): its one address.
V4ONLY_CLI = "203.0.113.44"
# The second dual-stack client (a second vantage point, tests/lab/test_distributed_lab.py):
# its own veth link for IPv6 (a /64 of its own) and one IPv4 /32 inside the main link's /24.
LINK2_V6_SRV, LINK2_V6_CLI = "2001:db8:fffe::1", "2001:db8:fffe::2"
CLI2_V4 = "203.0.113.45"

# Checks, for building "everything passes" expectations.
HOST_CHECKS = (
    "dns.resolve",
    "ipv6.web.aaaa",
    "ipv6.web.reach",
    "ipv6.web.https",
    "ipv6.web.parity",
    "ipv6.web.icmp",
    "ipv6.web.only",
    "tls.available",
    "tls.protocols.legacy",
    "tls.protocols.modern",
    "tls.ciphers",
    "tls.forward_secrecy",
    "tls.cert.trusted",
    "tls.cert.hostname",
    "tls.cert.expiry",
    "tls.cert.key",
    "tls.cert.signature",
    "tls.ocsp_stapling",
    "http.https_redirect",
    "http.hsts",
    "http.csp",
    "http.xcto",
    "http.frame",
    "http.referrer_policy",
    "http.security_txt",
    "http.cookies",
    "http.disclosure",
)
ZONE_CHECKS = (
    "dns.zone.exists",
    "dns.dnssec",
    "dns.ns.count",
    "dns.caa",
    "ipv6.ns.aaaa",
    "ipv6.ns.reach",
    "ipv6.mx.aaaa",
    "ipv6.mx.reach",
    "mail.spf",
    "mail.dmarc",
    "mail.starttls",
    "mail.mta_sts",
)


def _all(checks: tuple[str, ...], status: str = "pass", **over: Expect) -> dict[str, Expect]:
    out: dict[str, Expect] = dict.fromkeys(checks, status)
    out.update({k.replace("__", "."): v for k, v in over.items()})
    return out


def _e(**kw: Expect) -> dict[str, Expect]:
    """Keyword form: tls__cert__key="fail" -> {"tls.cert.key": "fail"}."""
    return {k.replace("__", "."): v for k, v in kw.items()}


def dane(host: str, kind: str) -> str:
    """A TLSA record's data derived at lab start-up from ``host``'s certificate (kind
    "<usage> <selector> <mtype>"; tests/lab/lab.py, dane_records)."""
    return "{dane:" + host + ":" + kind + "}"


def _mail_records(
    zone: str,
    mx: str | None = "mx1",
    spf: str | None = "v=spf1 mx -all",
    dmarc: str | None = "v=DMARC1; p=reject; rua=mailto:dmarc@{z}",
) -> tuple[str, ...]:
    recs: list[str] = []
    if mx:
        recs.append(f"@ MX 10 {mx}.{zone}.")
    if spf:
        recs.append(f'@ TXT "{spf}"')
    if dmarc:
        recs.append(f'_dmarc TXT "{dmarc.format(z=zone)}"')
    return tuple(recs)


def _sectxt(kind: str, now: dt.datetime) -> str | None:
    exp = {
        "valid": now + dt.timedelta(days=180),
        "expired": now - dt.timedelta(days=30),
        "far": now + dt.timedelta(days=800),
    }.get(kind)
    if exp is None:
        return None
    return (
        "Contact: mailto:security@lab.gov.vn\n"
        f"Expires: {exp.strftime('%Y-%m-%dT%H:%M:%S.000Z')}\n"
        "Preferred-Languages: vi, en\n"
    )


def security_txt(kind: str) -> str | None:
    return _sectxt(kind, dt.datetime.now(dt.UTC))


def _z(name: str, **kw: Any) -> Zone:
    return Zone(name=name, **kw)


def _host_scn(
    name: str,
    description: str,
    expected: dict[str, Expect],
    *,
    host: Host | None = None,
    zone_kw: dict[str, Any] | None = None,
    extra_hosts: tuple[Host, ...] = (),
    evidence: dict[str, tuple[str, ...]] | None = None,
    **host_kw: Any,
) -> Scenario:
    """A host scenario: zone <name>.gov.vn, host www.<name>.gov.vn."""
    zone = f"{name}.gov.vn"
    h = host or Host(name=f"www.{zone}", **host_kw)
    return Scenario(
        name=name,
        description=description,
        zones=(Zone(zone, **(zone_kw or {})),),
        hosts=(h, *extra_hosts),
        inventory_hosts=(h.name,),
        expected={h.name: expected},
        evidence={h.name: evidence} if evidence else {},
    )


def _zone_scn(
    name: str,
    description: str,
    expected: dict[str, Expect],
    *,
    hosts: tuple[Host, ...] = (),
    evidence: dict[str, tuple[str, ...]] | None = None,
    **zone_kw: Any,
) -> Scenario:
    zone = f"{name}.gov.vn"
    return Scenario(
        name=name,
        description=description,
        zones=(Zone(zone, **zone_kw),),
        hosts=hosts,
        inventory_domains=(zone,),
        expected={zone: expected},
        evidence={zone: evidence} if evidence else {},
    )


NOT_TESTED_ALL = _all(
    tuple(c for c in HOST_CHECKS if c != "dns.resolve"), "not_tested", dns__resolve="fail"
)
# TLS/HTTP checks whose probes cannot run when the address does not accept connections.
PER_ADDRESS_TLS_HTTP = tuple(c for c in HOST_CHECKS if c.startswith(("tls.", "http.")))


DEPT_PATHS = (
    DeptPath("/soa/", own_headers=True, insecure=True),
    DeptPath("/sob/"),
    DeptPath("/soc/"),
)
DEPT_PATHS_V6 = tuple(d for d in DEPT_PATHS if d.path != "/sob/")


def build_scenarios() -> tuple[Scenario, ...]:
    S: list[Scenario] = []
    add = S.append

    # ---- the fully good agency: zone + web + mail, everything passes ----------------------
    good_zone = "good.gov.vn"
    add(
        Scenario(
            name="good",
            description="Fully good dual-stack agency: signed zone, 2 diverse NS with AAAA, CAA, "
            "MX with AAAA + STARTTLS, SPF -all, DMARC reject, MTA-STS; web host with good TLS, "
            "OCSP stapling, HSTS, all headers, security.txt, subresources on dual-stack CDN",
            zones=(
                Zone(
                    good_zone,
                    caa=True,
                    records=(
                        *_mail_records(good_zone),
                        '_mta-sts TXT "v=STSv1; id=20261101T000000"',
                        '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@good.gov.vn"',
                        # mail DNS (maildns block): a DKIM key and a DANE rollover pair, so
                        # the fully good agency passes mail.dkim and mail.dane.* too: the
                        # current key (derived from mx1's lab certificate at start-up, so
                        # mail.dane.valid passes) and the next one (a placeholder)
                        f"sel1._domainkey TXT {_DKIM}",
                        "_25._tcp.mx1 TLSA " + dane(f"mx1.{good_zone}", "3 1 1"),
                        f"_25._tcp.mx1 TLSA {_TLSA_B}",
                    ),
                ),
            ),
            hosts=(
                Host(
                    f"www.{good_zone}",
                    cert=CertSpec(stapling=True),
                    page_refs=("static.cdn6.vn",),
                ),
                Host(f"mta-sts.{good_zone}", share_with=f"www.{good_zone}"),
                Host(f"mx1.{good_zone}", smtp="starttls"),
            ),
            inventory_domains=(good_zone,),
            inventory_hosts=(f"www.{good_zone}",),
            expected={
                f"www.{good_zone}": _all(HOST_CHECKS),
                # (issue #20: nginx's mail module is the second MTA over STARTTLS)
                good_zone: _all(
                    ZONE_CHECKS,
                    mail__dane__valid="pass",
                    mail__tls__protocols="pass",
                    mail__tls__ciphers="pass",
                    mail__tls__cert="pass",
                ),
            },
        )
    )

    # ---- IPv6 web ---------------------------------------------------------------------------
    add(
        _host_scn(
            "v4only",
            "IPv4-only web host (no AAAA)",
            _e(dns__resolve="pass", ipv6__web__aaaa="fail", tls__available="pass"),
            v6=False,
        )
    )
    add(
        _host_scn(
            "v6drop",
            "AAAA whose packets are silently dropped (nftables drop: timeouts)",
            _e(
                ipv6__web__aaaa="pass",
                ipv6__web__reach="fail",
                ipv6__web__https="fail",
                ipv6__web__icmp=INFO_BAD,
                tls__available={"v4": "pass", "v6": "not_tested"},
                http__hsts={"v4": "pass", "v6": "not_tested"},
            ),
            web6=Web(block="drop"),
            evidence={"ipv6.web.reach": ("timeout",)},
        )
    )
    add(
        _host_scn(
            "v6refused",
            "AAAA where TCP is refused (nftables reject with tcp reset)",
            _e(
                ipv6__web__aaaa="pass",
                ipv6__web__reach="fail",
                ipv6__web__https="fail",
                tls__available={"v4": "pass", "v6": "not_tested"},
            ),
            web6=Web(block="reset"),
            evidence={"ipv6.web.reach": ("refused", "reset", "rst")},
        )
    )
    add(
        _host_scn(
            "v6content",
            "v6 serves a different page than v4 (same status): similarity < 90 %",
            _e(ipv6__web__reach="pass", ipv6__web__https="pass", ipv6__web__parity="warn"),
            web6=Web(body="other"),
        )
    )
    add(
        _host_scn(
            "v6status",
            "v6 answers 503 where v4 answers 200",
            _e(ipv6__web__reach="pass", ipv6__web__parity="fail"),
            web6=Web(status=503),
        )
    )
    add(
        _host_scn(
            "v6no443",
            "v6 open on 80 but not on 443 (RST)",
            _e(
                ipv6__web__aaaa="pass",
                ipv6__web__reach="fail",
                ipv6__web__https="fail",
                ipv6__web__parity="fail",
                # 443 refused while 80 serves HTTP on the v6 address: no HTTPS there, a
                # fact (before: not_tested, as if the scanner could not tell)
                tls__available={"v4": "pass", "v6": "fail"},
                tls__cert__trusted={"v4": "pass", "v6": "not_applicable"},
            ),
            web6=Web(listen443=False),
        )
    )
    add(
        _host_scn(
            "prelaunch",
            "good site whose certificate also covers new.prelaunch.gov.vn, a name not in DNS "
            "yet: `auditor gate --resolve` tests it before the DNS change",
            _e(
                dns__resolve="pass",
                ipv6__web__aaaa="pass",
                ipv6__web__reach="pass",
                ipv6__web__https="pass",
                tls__cert__hostname="pass",
                tls__cert__trusted="pass",
            ),
            cert=CertSpec(names=("www.prelaunch.gov.vn", "new.prelaunch.gov.vn")),
        )
    )
    add(
        _host_scn(
            "v6only",
            "IPv6-only web host (no A): parity passes, TLS over v6 fine",
            _e(
                ipv6__web__aaaa="pass",
                ipv6__web__reach="pass",
                ipv6__web__https="pass",
                ipv6__web__parity="pass",
                tls__available={"v6": "pass"},
            ),
            v4=False,
        )
    )
    add(
        _host_scn(
            "subres4",
            "landing page loads script/img from an IPv4-only CDN host",
            _e(ipv6__web__only="fail", ipv6__web__aaaa="pass"),
            page_refs=("static.cdn4.vn", "static.cdn6.vn"),
        )
    )

    # AAAA records a citizen cannot use. Before: the unique-local one counted as "usable"
    # (ipv6.web.aaaa pass); the IPv4-mapped one left ipv6.web.https "not tested (blocked)".
    add(
        _host_scn(
            "ulaaaa",
            "the only AAAA is unique-local (fd00::/8): not reachable from the Internet",
            _e(
                ipv6__web__aaaa="fail",
                ipv6__web__reach="not_applicable",
                ipv6__web__https="not_applicable",
                ipv6__web__parity="not_applicable",
                tls__available={"v4": "pass"},
            ),
            v6=False,
            zone_kw={"records": (f"www AAAA {ULA_AAAA}",)},
            evidence={"ipv6.web.aaaa": ("unique-local",)},
        )
    )
    add(
        _host_scn(
            "mappedaaaa",
            "the only AAAA is IPv4-mapped (::ffff:0:0/96): no IPv6 address at all",
            _e(
                ipv6__web__aaaa="fail",
                ipv6__web__reach="not_applicable",
                ipv6__web__https="not_applicable",
                ipv6__web__parity="not_applicable",
                ipv6__web__only="not_applicable",
                tls__available={"v4": "pass"},
            ),
            v6=False,
            zone_kw={"records": (f"www AAAA {MAPPED_AAAA}",)},
            evidence={"ipv6.web.aaaa": ("ipv4-mapped",), "ipv6.web.https": ("ipv4-mapped",)},
        )
    )

    # ---- TLS --------------------------------------------------------------------------------
    add(
        _host_scn(
            "tls10",
            "TLS 1.0 and 1.1 still enabled (v4 and v6)",
            _e(
                tls__protocols__legacy={"v4": "fail", "v6": "fail"},
                tls__protocols__modern="pass",
                tls__available="pass",
            ),
            web=Web(protocols="TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", ciphers=LEGACY_CIPHERS_EC),
        )
    )
    add(
        _host_scn(
            "tls10v6",
            "good TLS on IPv4, TLS 1.0 enabled only on the IPv6 address",
            _e(tls__protocols__legacy={"v4": "pass", "v6": "fail"}),
            web6=Web(protocols="TLSv1 TLSv1.2 TLSv1.3", ciphers=LEGACY_CIPHERS_EC),
        )
    )
    add(
        _host_scn(
            "tlsold",
            "only TLS 1.0/1.1 (no 1.2, no 1.3)",
            _e(tls__protocols__modern="fail", tls__protocols__legacy="fail"),
            web=Web(protocols="TLSv1 TLSv1.1", ciphers=LEGACY_CIPHERS_EC),
        )
    )
    add(
        _host_scn(
            "no13",
            "TLS 1.2 only, good ECDHE AEAD suites (TLS 1.2 alone: NCSC-NL sufficient = pass)",
            _e(
                tls__protocols__modern="pass",
                tls__protocols__legacy="pass",
                tls__ciphers="pass",
                tls__forward_secrecy="pass",
            ),
            web=Web(protocols="TLSv1.2"),
        )
    )
    add(
        _host_scn(
            "cbcsha1",
            "CBC-SHA1 suites accepted on TLS 1.2 (ECDHE-ECDSA-AES128-SHA)",
            _e(tls__ciphers="fail", tls__forward_secrecy="pass"),
            web=Web(
                ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:"
                "ECDHE-ECDSA-AES256-SHA"
            ),
        )
    )
    add(
        _host_scn(
            "nopfs",
            "RSA key exchange only (AES128-GCM-SHA256 on TLS 1.2): no forward secrecy",
            _e(tls__forward_secrecy="fail", tls__ciphers="fail", tls__protocols__modern="pass"),
            web=Web(protocols="TLSv1.2", ciphers="AES128-GCM-SHA256"),
            cert=CertSpec(key="rsa2048"),
        )
    )
    add(
        _host_scn(
            "expired",
            "expired certificate",
            _e(tls__cert__expiry="fail", ipv6__web__https="fail", tls__available="pass"),
            cert=CertSpec(not_before_days=-400, not_after_days=-10),
        )
    )
    add(
        _host_scn(
            "expiring",
            "certificate expiring in 10 days (< 30)",
            _e(tls__cert__expiry="warn", tls__cert__trusted="pass"),
            cert=CertSpec(not_before_days=-300, not_after_days=10),
        )
    )
    add(
        _host_scn(
            "selfsigned",
            "self-signed certificate",
            _e(tls__cert__trusted="fail", ipv6__web__https="fail", tls__available="pass"),
            cert=CertSpec(issuer="self"),
            evidence={"tls.cert.trusted": ("self-signed", "self signed", "self_signed")},
        )
    )
    add(
        _host_scn(
            "mismatch",
            "certificate for another name (hostname mismatch)",
            _e(tls__cert__hostname="fail", tls__cert__trusted="pass", ipv6__web__https="fail"),
            cert=CertSpec(names=("other.example.gov.vn",)),
        )
    )
    add(
        _host_scn(
            "nointer",
            "intermediate certificate not sent",
            _e(tls__cert__trusted="fail", tls__cert__hostname="pass"),
            cert=CertSpec(send_chain=False),
            # CHECKS.md: "probably missing intermediate" is its own message
            evidence={"tls.cert.trusted": ("intermediate",)},
        )
    )
    add(
        _host_scn(
            "rsa1024",
            "RSA-1024 key",
            _e(tls__cert__key="fail", tls__available="pass"),
            web=Web(ciphers="ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"),
            cert=CertSpec(key="rsa1024"),
        )
    )
    add(
        _host_scn(
            "rsa2048",
            "RSA-2048 key (NCSC-NL phase-out; vn-gov, whose profile the lab scores, passes it)",
            _e(tls__cert__key="pass", tls__cert__trusted="pass"),
            cert=CertSpec(key="rsa2048"),
        )
    )
    add(
        _host_scn(
            "sha1",
            "leaf certificate signed with SHA-1",
            _e(tls__cert__signature="fail", tls__available="pass"),
            web=Web(ciphers=GOOD_CIPHERS_EC + ":@SECLEVEL=0"),
            cert=CertSpec(sha1=True),
        )
    )
    add(
        _host_scn(
            "notls",
            "port 443 open but speaking plain HTTP: no TLS handshake",
            _e(tls__available="fail", ipv6__web__reach="pass", ipv6__web__https="fail"),
            web=Web(tls443=False),
        )
    )
    add(
        _host_scn(
            "no443",
            "a site that serves plain HTTP only: port 443 refused (RST) on both families",
            # before: tls.available not_tested ("incomplete") on a site with no HTTPS at all
            _e(
                tls__available={"v4": "fail", "v6": "fail"},
                tls__protocols__legacy={"v4": "not_applicable", "v6": "not_applicable"},
                tls__cert__trusted="not_applicable",
                http__hsts="not_applicable",
                http__security_txt="not_applicable",
                http__https_redirect="fail",
                ipv6__web__reach="pass",
                ipv6__web__https="fail",
            ),
            web=Web(listen443=False, redirect="none"),
            evidence={"tls.available": ("refused",)},
        )
    )
    add(
        _host_scn(
            "nostaple",
            "good site without OCSP stapling",
            _e(tls__ocsp_stapling=INFO_BAD, tls__cert__trusted="pass"),
        )
    )

    # ---- HTTP -------------------------------------------------------------------------------
    add(
        _host_scn(
            "noredirect",
            "port 80 serves the site, no redirect to HTTPS",
            _e(http__https_redirect="fail", http__hsts="pass"),
            web=Web(redirect="none"),
        )
    )
    add(
        _host_scn(
            "downgrade",
            "http -> https -> http redirect chain (downgrade)",
            _e(http__https_redirect="fail"),
            web=Web(redirect="downgrade"),
        )
    )
    add(
        _host_scn(
            "only443",
            "port 80 closed, 443 open (redirect check passes)",
            _e(http__https_redirect="pass", tls__available="pass"),
            web=Web(listen80=False),
        )
    )
    add(_host_scn("nohsts", "no HSTS header", _e(http__hsts="fail"), web=Web(hsts=None)))
    add(
        _host_scn(
            "shorthsts",
            "HSTS max-age=86400 (< 1 year)",
            _e(http__hsts="fail"),
            web=Web(hsts="max-age=86400"),
        )
    )
    add(
        _host_scn(
            "noheaders",
            "no CSP, no X-Content-Type-Options, no X-Frame-Options, no Referrer-Policy",
            _e(
                http__csp="warn",
                http__xcto="fail",
                http__frame="fail",
                http__referrer_policy=("fail", "warn"),
            ),
            web=Web(csp=None, xcto=False, xfo=None, referrer=None),
        )
    )
    add(
        _host_scn(
            "badcsp",
            "CSP with bare * and unsafe-inline; frame-ancestors but no X-Frame-Options",
            # CHECKS.md: "missing = warn; each broken rule named" leaves the status of a
            # present-but-broken policy open (fail by the Pass-when column, warn by analogy
            # with a missing one): either, but never pass.
            _e(http__csp=("fail", "warn"), http__frame="pass"),
            web=Web(
                csp="default-src *; script-src * 'unsafe-inline'; frame-ancestors 'self'", xfo=None
            ),
        )
    )
    add(
        _host_scn(
            "unsaferef",
            "Referrer-Policy: unsafe-url",
            _e(http__referrer_policy="warn"),
            web=Web(referrer="unsafe-url"),
        )
    )
    add(
        _host_scn(
            "badcookie",
            "cookie without Secure, HttpOnly or SameSite",
            _e(http__cookies="fail"),
            web=Web(cookie="sid=lab; Path=/"),
        )
    )
    add(
        _host_scn(
            "disclose",
            "Server: nginx/1.22.1 and X-Powered-By: PHP/8.1.2",
            _e(http__disclosure=INFO_BAD),
            web=Web(server_tokens=True, extra_headers=("X-Powered-By: PHP/8.1.2",)),
        )
    )
    add(
        _host_scn(
            "sectxtexp",
            "security.txt with Expires in the past",
            _e(http__security_txt="fail"),
            web=Web(security_txt="expired"),
        )
    )
    add(
        _host_scn(
            "sectxtfar",
            "security.txt with Expires more than a year ahead",
            _e(http__security_txt="warn"),
            web=Web(security_txt="far"),
        )
    )
    add(
        _host_scn(
            "sectxthuge",
            "a 50 MiB security.txt whose first lines are a valid file",
            # before: pass (the first 32 KiB were parsed as if they were the whole file)
            _e(http__security_txt="fail"),
            web=Web(security_txt="huge"),
            evidence={"http.security_txt": ("too large",)},
        )
    )
    add(
        _host_scn(
            "nosectxt",
            "no security.txt (404)",
            _e(http__security_txt="fail"),
            web=Web(security_txt="missing"),
        )
    )
    add(
        _host_scn(
            "hostile",
            "HTML/JS in header values and <b>x</b> in the certificate subject (report escaping)",
            _e(tls__available="pass", tls__cert__hostname="pass"),
            web=Web(
                extra_headers=(
                    "X-Hostile: <script>alert(1)</script>",
                    "X-Powered-By: <img src=x onerror=alert(1)>",
                )
            ),
            cert=CertSpec(cn="<b>x</b>", org="<b>x</b> & <script>alert(1)</script>"),
        )
    )

    # ---- names ------------------------------------------------------------------------------
    add(
        Scenario(
            name="nxdomain",
            description="a host name that does not exist (NXDOMAIN, signed denial)",
            zones=(Zone("nxdomain.gov.vn"),),
            inventory_hosts=("www.nxdomain.gov.vn",),
            expected={
                "www.nxdomain.gov.vn": _e(
                    dns__resolve="fail",
                    ipv6__web__aaaa="not_tested",
                    tls__available="not_tested",
                    http__hsts="not_tested",
                )
            },
            evidence={"www.nxdomain.gov.vn": {"dns.resolve": ("nxdomain",)}},
        )
    )
    add(
        _host_scn(
            "nolisten",
            "a name that resolves (A + AAAA) where nothing listens",
            _e(
                dns__resolve="pass",
                ipv6__web__aaaa="pass",
                tls__available={"v4": "not_tested", "v6": "not_tested"},
                http__hsts={"v4": "not_tested", "v6": "not_tested"},
            ),
            dns_only=True,
        )
    )
    add(
        Scenario(
            name="cname",
            description="host CNAME'd into an unsigned zone (DNSSEC chain broken)",
            zones=(Zone("cname.gov.vn"),),
            hosts=(Host("www.cname.gov.vn", cname="web.unsigned-cdn.vn"),),
            # the zone is listed too: an auditor may report the CNAME target's status on it
            inventory_domains=("cname.gov.vn",),
            inventory_hosts=("www.cname.gov.vn",),
            expected={
                "www.cname.gov.vn": _e(
                    dns__resolve="pass", dns__dnssec="fail", tls__cert__hostname="pass"
                )
            },
            evidence={"www.cname.gov.vn": {"dns.dnssec": ("unsigned-cdn.vn",)}},
        )
    )

    # ---- DNS zones --------------------------------------------------------------------------
    add(
        Scenario(
            name="lame",
            description="zone delegated only to a name server that drops every packet: "
            "its host cannot be resolved (resolver SERVFAIL or timeout)",
            zones=(Zone("lame.gov.vn", signing="none", ns=("nsblack.nic.gov.vn",), served=False),),
            hosts=(Host("www.lame.gov.vn"),),
            inventory_hosts=("www.lame.gov.vn",),
            # A resolver timeout is "reported distinctly" (CHECKS.md); whether it is a failure of
            # the name or an untested one (the scanner's resolver gave up) is left open.
            expected={
                "www.lame.gov.vn": _e(
                    dns__resolve=("fail", "not_tested"), tls__available="not_tested"
                )
            },
            # A second scan of the same lab (the Celery one) finds the black hole in
            # Unbound's infrastructure cache: SERVFAIL at once instead of a timeout, the
            # same fact about the delegation.
            evidence={"www.lame.gov.vn": {"dns.resolve": ("timeout", "lame", "servfail")}},
        )
    )
    add(
        _zone_scn(
            "unsigned",
            "unsigned zone (insecure delegation)",
            _e(dns__dnssec="fail", dns__ns__count="pass"),
            signing="none",
            evidence={"dns.dnssec": ("insecure",)},
        )
    )
    add(
        Scenario(
            name="bogusds",
            description="DS in the parent does not match the zone's key (bogus): the zone "
            "fails DNSSEC and its host does not resolve (SERVFAIL)",
            zones=(Zone("bogusds.gov.vn", signing="bogus_ds"),),
            hosts=(Host("www.bogusds.gov.vn"),),
            inventory_domains=("bogusds.gov.vn",),
            inventory_hosts=("www.bogusds.gov.vn",),
            expected={
                "bogusds.gov.vn": _e(dns__dnssec="fail"),
                "www.bogusds.gov.vn": _e(dns__resolve="fail", tls__available="not_tested"),
            },
            evidence={
                "bogusds.gov.vn": {"dns.dnssec": ("bogus",)},
                "www.bogusds.gov.vn": {"dns.resolve": ("servfail",)},
            },
        )
    )
    add(
        _zone_scn(
            "expiredsig",
            "RRSIGs expired (pre-signed with a past end time; bogus)",
            _e(dns__dnssec="fail"),
            signing="expired",
            evidence={"dns.dnssec": ("bogus", "expired")},
        )
    )
    add(
        _zone_scn(
            "ns4only",
            "both name servers IPv4-only",
            _e(ipv6__ns__aaaa="fail", dns__dnssec="pass"),
            ns=("ns4a.nic.gov.vn", "ns4b.nic.gov.vn"),
        )
    )
    add(
        _zone_scn(
            "ns1aaaa",
            "only one of two name servers has an AAAA",
            _e(ipv6__ns__aaaa="fail"),
            ns=("ns1.nic.gov.vn", "ns4a.nic.gov.vn"),
        )
    )
    add(
        _zone_scn(
            "nsdead6",
            "an NS whose AAAA does not answer over IPv6",
            _e(ipv6__ns__aaaa="pass", ipv6__ns__reach="fail"),
            ns=("ns1.nic.gov.vn", "nsdead6.nic.gov.vn"),
        )
    )
    add(
        _zone_scn(
            "onens", "a single name server", _e(dns__ns__count="fail"), ns=("ns1.nic.gov.vn",)
        )
    )
    add(
        _zone_scn(
            "samenet",
            "two name servers in the same /24 and /48",
            _e(dns__ns__count="warn", ipv6__ns__aaaa="pass"),
            ns=("ns1.nic.gov.vn", "ns1b.nic.gov.vn"),
        )
    )
    add(
        _zone_scn(
            "nsalias",
            "two NS names with the same addresses (one server, one /24 and one /48)",
            # before: pass "2 name servers in different networks" (the rule counted
            # addresses, not servers, and one shared address did not count)
            _e(dns__ns__count="warn"),
            ns=("ns1.nic.gov.vn", "nsalias.nic.gov.vn"),
            evidence={"dns.ns.count": ("192.0.2.0/24",)},
        )
    )
    add(_zone_scn("nocaa", "no CAA anywhere up the tree", _e(dns__caa="fail")))
    # A domain in the inventory that the (signed) gov.vn zone denies: one finding, and every
    # other zone check points at it (before: DNSSEC passed on the signed denial, SPF, DMARC
    # and CAA failed with advice to add records to a zone that does not exist).
    add(
        Scenario(
            name="ghostzone",
            description="an inventory domain that does not exist (NXDOMAIN from signed gov.vn)",
            inventory_domains=("ghostzone.gov.vn",),
            expected={
                "ghostzone.gov.vn": _all(
                    tuple(c for c in ZONE_CHECKS if c != "dns.zone.exists"),
                    "not_applicable",
                    dns__zone__exists="fail",
                )
            },
            evidence={"ghostzone.gov.vn": {"dns.zone.exists": ("does not exist",)}},
        )
    )
    # A host name listed as a domain: it exists but is no zone apex (no SOA of its own);
    # decided: it exists (pass), and the NS / DNSSEC checks judge the enclosing zone.
    add(
        Scenario(
            name="nonapex",
            description="a name inside a zone listed as a domain (exists, not a zone apex)",
            zones=(Zone("nonapex.gov.vn"),),
            hosts=(Host("portal.nonapex.gov.vn"),),
            inventory_domains=("portal.nonapex.gov.vn",),
            expected={
                "portal.nonapex.gov.vn": _e(
                    dns__zone__exists="pass", dns__dnssec="pass", dns__ns__count="pass"
                )
            },
            evidence={"portal.nonapex.gov.vn": {"dns.zone.exists": ("not a zone apex",)}},
        )
    )

    # ---- mail -------------------------------------------------------------------------------
    def mz(name: str) -> str:
        return f"{name}.gov.vn"

    add(
        _zone_scn(
            "mxv4",
            "MX host without AAAA",
            _e(ipv6__mx__aaaa="fail", mail__spf="pass", mail__dmarc="pass"),
            records=_mail_records(mz("mxv4")),
            hosts=(Host(f"mx1.{mz('mxv4')}", v6=False, smtp="starttls"),),
        )
    )
    add(
        _zone_scn(
            "mxdead6",
            "MX host with an AAAA where nothing listens on port 25",
            _e(ipv6__mx__aaaa="pass", ipv6__mx__reach="fail"),
            records=_mail_records(mz("mxdead6")),
            hosts=(Host(f"mx1.{mz('mxdead6')}", smtp="starttls", smtp6=False),),
        )
    )
    add(
        _zone_scn(
            "nostarttls",
            "MX greets 220 but offers no STARTTLS",
            _e(mail__starttls="fail", ipv6__mx__reach="pass", ipv6__mx__aaaa="pass"),
            records=_mail_records(mz("nostarttls")),
            hosts=(Host(f"mx1.{mz('nostarttls')}", smtp="plain"),),
        )
    )
    add(
        _zone_scn(
            "nullmx",
            "null MX (RFC 7505), SPF -all",
            _e(ipv6__mx__aaaa="not_applicable", ipv6__mx__reach="not_applicable", mail__spf="pass"),
            records=("@ MX 0 .", '@ TXT "v=spf1 -all"', '_dmarc TXT "v=DMARC1; p=reject"'),
        )
    )
    add(
        _zone_scn(
            "nomx",
            "no MX at all",
            _e(ipv6__mx__aaaa="not_applicable"),
            records=('@ TXT "v=spf1 -all"', '_dmarc TXT "v=DMARC1; p=reject"'),
        )
    )
    add(
        _zone_scn(
            "spfsoft",
            "SPF ~all, DMARC p=none",
            _e(mail__spf="pass", mail__dmarc="fail"),
            records=_mail_records(
                mz("spfsoft"), mx=None, spf="v=spf1 ip4:192.0.2.0/24 ~all", dmarc="v=DMARC1; p=none"
            ),
        )
    )
    add(
        _zone_scn(
            "nospf",
            "no SPF, no DMARC",
            _e(mail__spf="fail", mail__dmarc="fail"),
            records=_mail_records(mz("nospf"), mx=None, spf=None, dmarc=None),
        )
    )
    add(
        _zone_scn(
            "spfall",
            "SPF +all",
            _e(mail__spf="fail"),
            records=_mail_records(mz("spfall"), mx=None, spf="v=spf1 +all"),
        )
    )
    many = tuple(f'inc{i}._spf TXT "v=spf1 ip4:192.0.2.{i}/32 -all"' for i in range(12))
    add(
        _zone_scn(
            "spfmany",
            "SPF needing 12 DNS lookups (> 10)",
            _e(mail__spf="fail"),
            records=(
                *_mail_records(
                    mz("spfmany"),
                    mx=None,
                    spf="v=spf1 "
                    + " ".join(f"include:inc{i}._spf.spfmany.gov.vn" for i in range(12))
                    + " -all",
                ),
                *many,
            ),
        )
    )
    add(
        _zone_scn(
            "mtastsbad",
            "_mta-sts TXT present but the policy file is missing (404)",
            _e(mail__mta_sts=INFO_BAD, mail__starttls="pass"),
            records=(*_mail_records(mz("mtastsbad")), '_mta-sts TXT "v=STSv1; id=1"'),
            hosts=(
                Host(f"mx1.{mz('mtastsbad')}", smtp="starttls"),
                Host(f"mta-sts.{mz('mtastsbad')}", web=Web(body="nopolicy")),
            ),
        )
    )
    add(
        _zone_scn(
            "caa",
            "zone with CAA, single good mail setup",
            _e(dns__caa="pass", dns__dnssec="pass"),
            caa=True,
        )
    )

    # ---- TLS handshake depth (issue 19) -----------------------------------------------------
    # PASS and FAIL on both families of every depth check. nginx serves the kex and order
    # cases; what OpenSSL 3 cannot be made to do (DEFLATE, no RFC 5746/7627, a heartbeat
    # over-read, an early CCS accepted, the fallback SCSV ignored) is tests/lab/depth_server.py.
    def both(status: str) -> dict[str, str]:
        return {"v4": status, "v6": status}

    add(
        _host_scn(
            "depthok",
            "good TLS 1.2 + 1.3 site, OpenSSL's default signature list: SHA-224 still signed "
            "when asked (NCSC-NL phase out; the vn-gov profile passes it)",
            _e(
                tls__kex_params=both("pass"),
                tls__kex_hash=both("pass"),
                tls__cipher_order=both("not_applicable"),
                tls__compression=both("pass"),
                tls__renegotiation__secure=both("pass"),
                tls__ems=both("pass"),
                tls__fallback_scsv=both("pass"),
                tls__vuln__heartbleed=both("pass"),
                tls__vuln__ccs_injection=both("pass"),
                tls__renegotiation__client=both("pass"),  # nginx refuses it
            ),
            evidence={"tls.kex_hash": ("sha224",)},
        )
    )
    add(
        _host_scn(
            "sigsha2",
            "good site with `ssl_conf_command SignatureAlgorithms` SHA-256+ only",
            _e(tls__kex_hash=both("pass"), tls__kex_params=both("pass")),
            web=Web(sigalgs="ECDSA+SHA256:ECDSA+SHA384:RSA-PSS+SHA256:RSA+SHA256:RSA+SHA384"),
        )
    )
    add(
        _host_scn(
            "dhe2048",
            "DHE only, RFC 7919 ffdhe2048 (ssl_dhparam): NCSC-NL insufficient group",
            _e(tls__kex_params=both("fail")),
            web=Web(protocols="TLSv1.2", ciphers="DHE-RSA-AES128-GCM-SHA256", dhparam="ffdhe2048"),
            cert=CertSpec(key="rsa2048"),
            evidence={"tls.kex_params": ("ffdhe2048",)},
        )
    )
    add(
        _host_scn(
            "dhe3072",
            "DHE only, RFC 7919 ffdhe3072 (ssl_dhparam): NCSC-NL phase out = warn",
            _e(tls__kex_params=both("warn")),
            web=Web(protocols="TLSv1.2", ciphers="DHE-RSA-AES128-GCM-SHA256", dhparam="ffdhe3072"),
            cert=CertSpec(key="rsa2048"),
            evidence={"tls.kex_params": ("ffdhe3072",)},
        )
    )
    add(
        _host_scn(
            "sha1kex",
            "TLS 1.1 + 1.2 at @SECLEVEL=0: signs the key exchange with SHA-1 when asked",
            _e(tls__kex_hash=both("fail")),
            web=Web(protocols="TLSv1.1 TLSv1.2", ciphers=LEGACY_CIPHERS_EC),
            evidence={"tls.kex_hash": ("sha1",)},
        )
    )
    add(
        _host_scn(
            "ancient",
            "scripted 2014-era TLS 1.1/1.2 server (tests/lab/depth_server.py): DEFLATE, no "
            "renegotiation_info, no EMS, Heartbleed, early CCS accepted, SCSV ignored",
            _e(
                tls__compression=both("fail"),
                tls__renegotiation__secure=both("fail"),
                tls__ems=both("fail"),
                tls__fallback_scsv=both("fail"),
                tls__vuln__heartbleed=both("fail"),
                tls__vuln__ccs_injection=both("fail"),
            ),
            cert=CertSpec(key="rsa2048"),
            tls_server="ancient",
            evidence={"tls.vuln.heartbleed": ("heartbeat response",)},
        )
    )
    order = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256"
    add(
        _host_scn(
            "ordgood",
            "a phase-out CBC suite after the AEAD one, server order: cipher order passes",
            _e(tls__cipher_order=both("pass")),
            web=Web(protocols="TLSv1.2", ciphers=order),
        )
    )
    add(
        _host_scn(
            "ordclient",
            "the same suites with ssl_prefer_server_ciphers off: the client's order decides",
            _e(tls__cipher_order=both("fail")),
            web=Web(protocols="TLSv1.2", ciphers=order, prefer_server_ciphers=False),
            evidence={"tls.cipher_order": ("client's order",)},
        )
    )
    add(
        _host_scn(
            "ordweak",
            "server order, but the phase-out CBC suite first",
            _e(tls__cipher_order=both("fail")),
            web=Web(
                protocols="TLSv1.2",
                ciphers="ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256",
            ),
            evidence={"tls.cipher_order": ("preferred over",)},
        )
    )

    # ---- support hosts (not in the inventory as targets of their own) ----------------------
    add(
        Scenario(
            name="cdn",
            description="CDN-like zones for subresources and CNAME targets: static.cdn6.vn "
            "(dual-stack), static.cdn4.vn (IPv4-only), web.unsigned-cdn.vn (unsigned zone)",
            zones=(
                Zone("cdn6.vn", ns=("a.dns.vn", "b.dns.vn")),
                Zone("cdn4.vn", ns=("a.dns.vn", "b.dns.vn")),
                Zone("unsigned-cdn.vn", signing="none", ns=("a.dns.vn", "b.dns.vn")),
            ),
            hosts=(
                Host("static.cdn6.vn"),
                Host("static.cdn4.vn", v6=False),
                Host(
                    "web.unsigned-cdn.vn",
                    cert=CertSpec(names=("web.unsigned-cdn.vn", "www.cname.gov.vn")),
                ),
            ),
        )
    )
    # ==== issue #19, certificate half (tls.cert.chain, tls.ocsp_stapling, tls.cert.sct,
    # dns.caa depth, http.compression); the handshake half has its own block ==============
    add(
        _host_scn(
            "certdepth",
            "good chain (EKU serverAuth), verified OCSP staple, embedded SCTs, no compression",
            _e(
                tls__cert__chain={"v4": "pass", "v6": "pass"},
                tls__ocsp_stapling={"v4": "pass", "v6": "pass"},
                tls__cert__sct={"v4": "pass", "v6": "pass"},
                http__compression={"v4": "pass", "v6": "pass"},
            ),
            cert=CertSpec(stapling=True, sct=True),
            evidence={"tls.ocsp_stapling": ("signed by the issuer",)},
        )
    )
    add(
        _host_scn(
            "certeku",
            "leaf EKU clientAuth only: not valid for a TLS server",
            _e(tls__cert__chain={"v4": "fail", "v6": "fail"}, tls__cert__trusted="pass"),
            cert=CertSpec(eku="clientAuth"),
            evidence={"tls.cert.chain": ("eku", "serverauth")},
        )
    )
    add(
        _host_scn(
            "certnc",
            "intermediate with name constraints permitting only example.org",
            _e(tls__cert__chain={"v4": "fail", "v6": "fail"}, tls__cert__trusted="pass"),
            cert=CertSpec(inter="nc"),
            evidence={"tls.cert.chain": ("name constraints",)},
        )
    )
    add(
        _host_scn(
            "certsha1inter",
            "SHA-256 leaf under an intermediate signed with SHA-1",
            _e(
                tls__cert__chain={"v4": "fail", "v6": "fail"},
                tls__cert__signature="fail",
                tls__available="pass",
            ),
            web=Web(ciphers=GOOD_CIPHERS_EC + ":@SECLEVEL=0"),
            cert=CertSpec(inter="sha1"),
            evidence={"tls.cert.chain": ("sha1",)},
        )
    )
    add(
        _host_scn(
            "ocspnoaia",
            "no OCSP URI in the certificate, nothing stapled; no SCT",
            _e(
                tls__ocsp_stapling={"v4": "not_applicable", "v6": "not_applicable"},
                tls__cert__sct=INFO_BAD,
            ),
            cert=CertSpec(ocsp_uri=False),
        )
    )
    add(
        _host_scn(
            "ocspbad",
            "stapled OCSP response signed by the root, neither issuer nor delegated",
            _e(tls__ocsp_stapling={"v4": "warn", "v6": "warn"}),
            cert=CertSpec(stapling=True, staple_signer="root"),
            evidence={"tls.ocsp_stapling": ("ocspsigning",)},
        )
    )
    add(
        _host_scn(
            "muststaple",
            "must-staple certificate (RFC 7633) served without a staple",
            _e(tls__ocsp_stapling={"v4": "fail", "v6": "fail"}),
            cert=CertSpec(must_staple=True),
            evidence={"tls.ocsp_stapling": ("must-staple",)},
        )
    )
    add(
        _host_scn(
            "gzip",
            "HTTPS landing page served gzip-compressed (BREACH, informational)",
            _e(http__compression={"v4": INFO_BAD, "v6": INFO_BAD}),
            web=Web(gzip=True),
            evidence={"http.compression": ("gzip",)},
        )
    )
    add(
        _zone_scn(
            "caanoissue",
            "CAA set with iodef only (no issue property): restricts nothing",
            _e(dns__caa="fail"),
            records=('@ CAA 0 iodef "mailto:security@caanoissue.gov.vn"',),
            evidence={"dns.caa": ("no issue",)},
        )
    )
    add(
        _zone_scn(
            "caasyntax",
            "CAA issue value that breaks the RFC 8659 grammar",
            _e(dns__caa="fail"),
            records=('@ CAA 0 issue "lets encrypt.org"',),
            evidence={"dns.caa": ("grammar",)},
        )
    )
    caahost = "caahost.gov.vn"
    add(
        Scenario(
            name="caahost",
            description="zone CAA good; the inventory host www publishes its own set "
            "without issue (RFC 8659 sec. 3: the host's set replaces the zone's)",
            zones=(
                Zone(caahost, caa=True, records=('www CAA 0 iodef "mailto:s@caahost.gov.vn"',)),
            ),
            hosts=(Host(f"www.{caahost}"),),
            inventory_domains=(caahost,),
            inventory_hosts=(f"www.{caahost}",),
            expected={caahost: _e(dns__caa="fail")},
            evidence={caahost: {"dns.caa": (f"www.{caahost}",)}},
        )
    )
    # TLS handshake depth, added last so no earlier scenario changes address (the
    # testssl.sh table in docs/TLS-TESTSSL.md names them)
    add(
        _host_scn(
            "reneg",
            "TLS 1.2 server allowing client renegotiation (tests/lab/depth_server.py kind "
            "reneg): client-initiated renegotiation accepted (informational: info)",
            _e(tls__renegotiation__client={"v4": INFO_BAD, "v6": INFO_BAD}),
            tls_server="reneg",
            evidence={"tls.renegotiation.client": ("accepted 2",)},
        )
    )
    # tls.zero_rtt (issue 19), last so no earlier scenario changes address
    add(
        _host_scn(
            "zerortt",
            "nginx `ssl_early_data on`: a GET in TLS 1.3 early data is answered 200 (replayable)",
            _e(tls__zero_rtt={"v4": "fail", "v6": "fail"}),
            web=Web(early_data="on"),
            evidence={"tls.zero_rtt": ("200",)},
        )
    )
    add(
        _host_scn(
            "zerortt425",
            "nginx `ssl_early_data on` with `if ($ssl_early_data) { return 425; }`: early "
            "data accepted, answered 425 Too Early (RFC 8470)",
            _e(tls__zero_rtt={"v4": "pass", "v6": "pass"}),
            web=Web(early_data="425"),
            evidence={"tls.zero_rtt": ("425",)},
        )
    )
    # tls.vuln.robot (issue 19), appended after the 0-RTT pair for the same reason
    add(
        _host_scn(
            "robot",
            "scripted TLS 1.2 RSA-key-exchange server with a Bleichenbacher padding oracle "
            "(tests/lab/depth_server.py kind robot): ROBOT, strong oracle",
            _e(tls__vuln__robot={"v4": "fail", "v6": "fail"}),
            tls_server="robot",
            cert=CertSpec(key="rsa2048"),
            evidence={"tls.vuln.robot": ("strong",)},
        )
    )
    add(
        _host_scn(
            "robotok",
            "nginx (OpenSSL 3) still accepting TLS_RSA_* suites: RSA key exchange without "
            "an oracle",
            _e(tls__vuln__robot={"v4": "pass", "v6": "pass"}),
            web=Web(ciphers="ECDHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256:AES128-SHA"),
            cert=CertSpec(key="rsa2048"),
            evidence={"tls.vuln.robot": ("same reaction",)},
        )
    )
    # ==== issue #20, mail DNS half: its own block, last, so no earlier address moves ====
    S.extend(_mail_dns_scenarios())
    # ==== issue #19, SCT and staple depth: after the mail DNS block, so no address moves
    S.extend(_sct_staple_scenarios())
    # ==== issue #20, STARTTLS: its own block, last, so no earlier address moves ====
    S.extend(_starttls_scenarios())
    # Last, so that no earlier host's address moves: a provincial portal with departments as
    # paths (tests/lab/test_dept_paths.py scans it with an inventory of its own: the
    # departments are agencies listing the paths): /soa/ drops the headers and loads http://
    # resources, /sob/ is only in the IPv4 server block, /soc/ is good. Here the portal's
    # own root is judged: a good dual-stack host.
    add(
        _host_scn(
            "deptpath",
            "Portal with department paths (the paths are judged in test_dept_paths.py)",
            _e(
                dns__resolve="pass",
                ipv6__web__reach="pass",
                ipv6__web__parity="pass",
                tls__available="pass",
                http__hsts="pass",
            ),
            web=Web(paths=DEPT_PATHS),
            web6=Web(paths=DEPT_PATHS_V6),
        )
    )
    return tuple(S)


def _sct_staple_scenarios() -> list[Scenario]:
    """SCTs in the TLS extension and in the staple (RFC 6962 sec. 3.3), bad staples (RFC
    6960 sec. 4.2.2.1, sec. 4.1.1), a P-224-only server (NCSC-NL 2025-05 phase out)."""

    def both(v: str) -> dict[str, str]:
        return {"v4": v, "v6": v}

    return [
        _host_scn(
            "sctext",
            "SCTs (2 logs) only in the TLS signed_certificate_timestamp extension: TLS 1.3 "
            "CertificateEntry and TLS 1.2 ServerHello (tests/lab/depth_server.py kind sct)",
            _e(tls__cert__sct=both("pass")),
            tls_server="sct",
            evidence={"tls.cert.sct": ("in the tls extension",)},
        ),
        _host_scn(
            "sctext12",
            "TLS 1.2-only server with SCTs only in the ServerHello extension "
            "(tests/lab/depth_server.py kind sct12)",
            _e(tls__cert__sct=both("pass")),
            tls_server="sct12",
            evidence={"tls.cert.sct": ("in the tls extension",)},
        ),
        _host_scn(
            "staplesct",
            "SCTs (2 logs) only in the stapled OCSP response's single extension",
            _e(tls__cert__sct=both("pass"), tls__ocsp_stapling=both("pass")),
            cert=CertSpec(stapling=True, staple_content="sct"),
            evidence={"tls.cert.sct": ("in the ocsp",)},
        ),
        _host_scn(
            "staplestale",
            "stapled OCSP response signed by the issuer, nextUpdate 3 days past (stale)",
            _e(tls__ocsp_stapling=both("warn")),
            cert=CertSpec(stapling=True, staple_content="stale"),
            evidence={"tls.ocsp_stapling": ("stale",)},
        ),
        _host_scn(
            "stapleother",
            "stapled OCSP response of the right issuer for another serial number",
            _e(tls__ocsp_stapling=both("warn")),
            cert=CertSpec(stapling=True, staple_content="other"),
            evidence={"tls.ocsp_stapling": ("another certificate",)},
        ),
        _host_scn(
            "p224",
            "nginx `ssl_ecdh_curve secp224r1`, TLS 1.2, ECDHE-RSA: P-224 the only curve; "
            "no browser offers P-224, nor does the scanner's OpenSSL 3 client (no handshake)",
            _e(tls__kex_params=both("warn"), tls__available=both("fail")),
            web=Web(protocols="TLSv1.2", ecdh_curve="secp224r1"),
            cert=CertSpec(key="rsa2048"),
            evidence={
                "tls.kex_params": ("secp224r1",),
                "tls.available": ("does answer",),
            },
        ),
    ]


# ==== mail DNS: DANE TLSA, DKIM, DNSSEC of the MX, DMARC report authorisation (maildns) ====
# (the STARTTLS/TLS half of issue 20 adds its own block)
_TLSA_A = "3 1 1 " + "a1" * 32
_TLSA_B = "3 1 1 " + "b2" * 32
_DKIM = '"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="'


def _mail_dns_scenarios() -> list[Scenario]:
    out: list[Scenario] = []

    def mail(zone: str, mx_zone: str | None = None, **kw: Any) -> tuple[str, ...]:
        target = f"mx1.{mx_zone}." if mx_zone else "mx1"
        recs = list(_mail_records(zone, mx=None, **kw))
        recs.insert(0, f"@ MX 10 {target}" if mx_zone else f"@ MX 10 mx1.{zone}.")
        return tuple(recs)

    z = "dane.gov.vn"
    out.append(
        _zone_scn(
            "dane",
            "signed zone, MX with two DANE-EE TLSA records (rollover) and a DKIM selector",
            _e(
                mail__dane__exists="pass",
                mail__dane__rollover="pass",
                mail__dkim="pass",
                dns__dnssec__mx="pass",
            ),
            records=(
                *mail(z),
                "_25._tcp.mx1 TLSA " + dane(f"mx1.{z}", "3 1 1"),
                f"_25._tcp.mx1 TLSA {_TLSA_B}",
                f"sel1._domainkey TXT {_DKIM}",
            ),
            hosts=(Host(f"mx1.{z}", smtp="starttls"),),
        )
    )
    z = "danesingle.gov.vn"
    out.append(
        _zone_scn(
            "danesingle",
            "one TLSA record only (no rollover scheme), TLSA of usage 1 beside it (unusable)",
            _e(mail__dane__exists="pass", mail__dane__rollover="warn"),
            records=(
                *mail(z),
                "_25._tcp.mx1 TLSA " + dane(f"mx1.{z}", "3 1 1"),
                "_25._tcp.mx1 TLSA 1 1 1 " + "c3" * 32,
            ),
            hosts=(Host(f"mx1.{z}", smtp="starttls"),),
        )
    )
    z = "nodane.gov.vn"
    out.append(
        _zone_scn(
            "nodane",
            "signed zone, MX without TLSA (securely denied), no DKIM key (_domainkey NXDOMAIN)",
            _e(
                mail__dane__exists="fail",
                mail__dane__rollover="not_applicable",
                mail__dkim="fail",
                dns__dnssec__mx="pass",
            ),
            evidence={"mail.dane.exists": ("securely denied",), "mail.dkim": ("NXDOMAIN",)},
            records=mail(z),
            hosts=(Host(f"mx1.{z}", smtp="starttls"),),
        )
    )
    # the MX target lives in an unsigned zone: its TLSA is insecure, its domain not secure
    out.append(
        Scenario(
            name="mxunsigned",
            description="MX target in an unsigned zone (mx1.unsignedmx.vn) with a TLSA there",
            zones=(
                Zone("mxunsigned.gov.vn", records=mail("mxunsigned.gov.vn", "unsignedmx.vn")),
                Zone(
                    "unsignedmx.vn",
                    signing="none",
                    ns=("a.dns.vn", "b.dns.vn"),
                    records=(f"_25._tcp.mx1 TLSA {_TLSA_A}",),
                ),
            ),
            hosts=(Host("mx1.unsignedmx.vn", smtp="starttls"),),
            inventory_domains=("mxunsigned.gov.vn",),
            expected={
                "mxunsigned.gov.vn": _e(dns__dnssec__mx="fail", mail__dane__exists="fail"),
            },
            evidence={
                "mxunsigned.gov.vn": {
                    "dns.dnssec.mx": ("insecure",),
                    "mail.dane.exists": ("not DNSSEC-secure",),
                }
            },
        )
    )
    # the MX target's zone has a DS that matches no key: bogus
    out.append(
        Scenario(
            name="mxbogus",
            description="MX target in a zone whose DS matches no DNSKEY (bogus)",
            zones=(
                Zone("mxbogus.gov.vn", records=mail("mxbogus.gov.vn", "bogusmx.vn")),
                Zone(
                    "bogusmx.vn",
                    signing="bogus_ds",
                    ns=("a.dns.vn", "b.dns.vn"),
                    records=(f"_25._tcp.mx1 TLSA {_TLSA_A}",),
                ),
            ),
            hosts=(Host("mx1.bogusmx.vn", smtp="starttls"),),
            inventory_domains=("mxbogus.gov.vn",),
            expected={"mxbogus.gov.vn": _e(dns__dnssec__mx="fail")},
            evidence={"mxbogus.gov.vn": {"dns.dnssec.mx": ("bogus",)}},
        )
    )
    out.append(
        _zone_scn(
            "nullmxdns",
            "null MX (RFC 7505), SPF -all, DMARC reject: no MX check applies, DKIM neither",
            _e(
                mail__dane__exists="not_applicable",
                mail__dane__rollover="not_applicable",
                dns__dnssec__mx="not_applicable",
                mail__dkim="not_applicable",
                mail__starttls="not_applicable",
                ipv6__mx__aaaa="not_applicable",
            ),
            evidence={"mail.dane.exists": ("RFC 7505",)},
            records=("@ MX 0 .", '@ TXT "v=spf1 -all"', '_dmarc TXT "v=DMARC1; p=reject"'),
        )
    )
    # DMARC aggregate reports to another organisation: authorised there, or not
    out.append(
        Scenario(
            name="dmarcext",
            description="DMARC rua= to dmarcrep.vn, which authorises dmarcext.gov.vn only",
            zones=(
                Zone(
                    "dmarcext.gov.vn",
                    records=_mail_records(
                        "dmarcext.gov.vn",
                        mx=None,
                        dmarc="v=DMARC1; p=reject; rua=mailto:agg@dmarcrep.vn",
                    ),
                ),
                Zone(
                    "dmarcunauth.gov.vn",
                    records=_mail_records(
                        "dmarcunauth.gov.vn",
                        mx=None,
                        dmarc="v=DMARC1; p=reject; rua=mailto:agg@dmarcrep.vn",
                    ),
                ),
                Zone(
                    "dmarcrep.vn",
                    ns=("a.dns.vn", "b.dns.vn"),
                    records=('dmarcext.gov.vn._report._dmarc TXT "v=DMARC1"',),
                ),
            ),
            inventory_domains=("dmarcext.gov.vn", "dmarcunauth.gov.vn"),
            expected={
                "dmarcext.gov.vn": _e(mail__dmarc="pass"),
                "dmarcunauth.gov.vn": _e(mail__dmarc="warn"),
            },
            evidence={
                "dmarcext.gov.vn": {"mail.dmarc": ("authorised",)},
                "dmarcunauth.gov.vn": {"mail.dmarc": ("not authorised",)},
            },
        )
    )
    return out


# ==== end of the maildns block ================================================================


# ==== issue #20, STARTTLS ======================================================================
# Postfix MX (tests/lab/postfix.py), one listen address per family with its own settings;
# TLSA data derived from the lab's certificates at start-up (tests/lab/lab.py, dane_records):
# "{dane:<host>:<usage> <selector> <mtype>}", usage 3 = the host's leaf, 2 = its issuer.
# (compression and insecure renegotiation fail on depth_server.py's ancient25 behind
# STARTTLS, a SHA-1 key-exchange signature on nginx's mail module: scenario mxsha1)
MAIL_TLS_CHECKS = (
    "mail.tls.protocols",
    "mail.tls.ciphers",
    "mail.tls.kex_params",
    "mail.tls.kex_hash",
    "mail.tls.compression",
    "mail.tls.renegotiation",
    "mail.tls.ems",
    "mail.tls.cert",
)
# TLS 1.0/1.1 allowed (SECLEVEL=0, LAB-NOTES), CBC-SHA1 and RSA key exchange, DHE with
# Postfix's built-in 2048-bit group, and the client's order deciding
WEAK_MTA = Mta(
    protocols=">=TLSv1",
    ciphers="ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:"
    "AES128-SHA:@SECLEVEL=0",
    prefer_server=False,
    ssl_options="0x1",  # no extended master secret (RFC 7627)
)
WEAK_FAILS = (
    "mail.tls.protocols",
    "mail.tls.ciphers",
    "mail.tls.kex_params",
    "mail.tls.cipher_order",
    "mail.tls.ems",
)


def _starttls_scenarios() -> list[Scenario]:
    out: list[Scenario] = []

    def pf(
        name: str,
        description: str,
        expected: dict[str, Expect],
        *,
        records: tuple[str, ...] = (),
        evidence: dict[str, tuple[str, ...]] | None = None,
        **host_kw: Any,
    ) -> Scenario:
        zone = f"{name}.gov.vn"
        mx = f"mx1.{zone}"
        host_kw.setdefault("smtp", "postfix")
        return _zone_scn(
            name, description, expected, evidence=evidence,
            records=(*_mail_records(zone), *(r.replace("{mx}", mx) for r in records)),
            hosts=(Host(mx, **host_kw),),
        )  # fmt: skip

    out.append(
        pf(
            "pfgood",
            "Postfix MX, both families good: TLS 1.2/1.3, ECDHE AEAD suites in server order, "
            "TLSA 3 1 1 of its key and 2 1 1 of its issuer (current + issuer rollover)",
            # (mail.tls.cipher_order: only good suites, the order cannot matter: n/a)
            _e(
                **{c.replace(".", "__"): "pass" for c in MAIL_TLS_CHECKS},
                mail__dane__valid="pass",
                mail__dane__exists="pass",
                mail__dane__rollover="pass",
                mail__starttls="pass",
            ),
            records=(
                "_25._tcp.mx1 TLSA " + dane("{mx}", "3 1 1"),
                "_25._tcp.mx1 TLSA " + dane("{mx}", "2 1 1"),
            ),
        )
    )
    for fam, other in (("v6", "v4"), ("v4", "v6")):
        weak: dict[str, Any] = (
            {"mta6": WEAK_MTA} if fam == "v6" else {"mta": WEAK_MTA, "mta6": Mta()}
        )
        out.append(
            pf(
                f"pfweak{fam[1]}",
                f"Postfix MX good over {other}, weak over {fam}: TLS 1.0 allowed, CBC-SHA1 and "
                "RSA key exchange, DHE-2048, the client's cipher order",
                _e(
                    **dict.fromkeys((c.replace(".", "__") for c in WEAK_FAILS), "fail"),
                    mail__tls__cert="warn",  # RSA-2048: NCSC-NL phase out
                    mail__starttls="pass",
                ),
                evidence=dict.fromkeys(WEAK_FAILS, (f"({fam})",)),
                cert=CertSpec(key="rsa2048"),
                **weak,
            )
        )
    out.append(
        pf(
            "pfselfsigned",
            "Postfix MX with a self-signed certificate and DANE-EE: trust is informational "
            "for mail, the TLSA record of the key matches",
            _e(
                mail__tls__cert="pass",
                mail__dane__valid="pass",
                mail__dane__exists="pass",
                mail__tls__cipher_order="pass",
                mail__tls__ciphers="warn",
            ),
            evidence={"mail.tls.cert": ("informational",), "mail.tls.ciphers": ("phase-out",)},
            records=("_25._tcp.mx1 TLSA " + dane("{mx}", "3 0 1"),),
            cert=CertSpec(issuer="self"),
            # a phase-out suite after the good ones, in the server's order
            mta=Mta(ciphers=GOOD_CIPHERS_EC + ":ECDHE-ECDSA-AES128-SHA256"),
        )
    )
    out.append(
        pf(
            "pfdaneta",
            "Postfix MX with DANE-TA (2 1 2 of its issuer) and a certificate for another name: "
            "the record matches, the name must match under DANE-TA (RFC 7672 3.2.3)",
            _e(mail__tls__cert="fail", mail__dane__valid="pass"),
            evidence={"mail.tls.cert": ("DANE-TA",)},
            records=("_25._tcp.mx1 TLSA " + dane("{mx}", "2 1 2"),),
            cert=CertSpec(names=("other.example.org",)),
        )
    )
    out.append(
        pf(
            "pfdanebad",
            "Postfix MX whose TLSA records (3 1 1, 2 0 1) match neither its key nor its issuer",
            _e(mail__dane__valid="fail", mail__dane__exists="pass"),
            evidence={"mail.dane.valid": ("none of the 2",)},
            records=(
                "_25._tcp.mx1 TLSA 3 1 1 " + "a1" * 32,
                "_25._tcp.mx1 TLSA 2 0 1 " + "b2" * 32,
            ),
        )
    )
    # the MX target in an unsigned zone: its matching TLSA does not count (RFC 7672 2.2)
    out.append(
        Scenario(
            name="pfunsigned",
            description="Postfix MX in an unsigned zone with a matching TLSA: not DANE",
            zones=(
                Zone(
                    "pfunsigned.gov.vn",
                    records=(
                        "@ MX 10 mx1.pfunsigned.vn.",
                        *_mail_records("pfunsigned.gov.vn", mx=None),
                    ),
                ),
                Zone(
                    "pfunsigned.vn",
                    signing="none",
                    ns=("a.dns.vn", "b.dns.vn"),
                    records=("_25._tcp.mx1 TLSA " + dane("mx1.pfunsigned.vn", "3 1 1"),),
                ),
            ),
            hosts=(Host("mx1.pfunsigned.vn", smtp="postfix"),),
            inventory_domains=("pfunsigned.gov.vn",),
            expected={
                "pfunsigned.gov.vn": _e(
                    mail__dane__exists="fail",
                    mail__dane__valid="not_applicable",
                    mail__tls__protocols="pass",
                )
            },
            evidence={"pfunsigned.gov.vn": {"mail.dane.valid": ("mail.dane.exists",)}},
        )
    )
    out.append(
        pf(
            "pfancient",
            "scripted 2014-era TLS 1.1/1.2 server behind STARTTLS (depth_server.py ancient25): "
            "DEFLATE, no renegotiation_info, no EMS, TLS_RSA only",
            _e(
                mail__tls__compression="fail",
                mail__tls__renegotiation="fail",
                mail__tls__ems="fail",
                mail__tls__protocols="fail",
                mail__starttls="pass",
            ),
            evidence={"mail.tls.compression": ("DEFLATE",), "mail.tls.renegotiation": ("(v6)",)},
            smtp="depth",
            tls_server="ancient25",
            cert=CertSpec(key="rsa2048"),
        )
    )
    # nginx's mail module signing the TLS 1.2 key exchange with SHA-1 when asked (RFC 9155)
    out.append(
        pf(
            "mxsha1",
            "nginx mail module MX that signs the TLS 1.2 key exchange with ECDSA-SHA1 "
            "(SignatureAlgorithms with SHA-1 first, @SECLEVEL=0)",
            _e(mail__tls__kex_hash="fail", mail__tls__protocols="pass", mail__starttls="pass"),
            evidence={"mail.tls.kex_hash": ("sha1",)},
            smtp="starttls",
            web=Web(
                ciphers=GOOD_CIPHERS_EC + ":@SECLEVEL=0",
                sigalgs="ECDSA+SHA1:ECDSA+SHA256:ECDSA+SHA384",
            ),
        )
    )
    # the politeness test's MX (tests/lab/test_mail_politeness.py): nothing listens until
    # that test starts its scripted server; not in the inventory of the lab scan
    out.append(
        Scenario(
            name="pflimited",
            description="MX whose scripted server answers 421 after the second connection",
            zones=(Zone("pflimited.gov.vn", records=_mail_records("pflimited.gov.vn")),),
            hosts=(Host("mx1.pflimited.gov.vn", smtp="scripted"),),
        )
    )
    # TLSA behind a CNAME (RFC 7671 section 7, RFC 7672 section 2.2.3; last, so no earlier
    # address moves): _25._tcp.mx1 is an alias of a name in another zone holding the
    # matching records; usable when every step of the chain is DNSSEC-secure (a signed
    # target zone), not when one step is insecure (an unsigned target zone)
    for name, signing, expect, words in (
        ("danecname", "knot", "pass", ("cname -> mx1.danecname-tlsa.vn",)),
        ("danecnameins", "none", "fail", ("not dnssec-secure at every step",)),
    ):
        zone, target = f"{name}.gov.vn", f"{name}-tlsa.vn"
        out.append(
            Scenario(
                name=name,
                description=(
                    f"Postfix MX whose _25._tcp TLSA is a CNAME to a matching record in the "
                    f"{'signed' if signing == 'knot' else 'unsigned'} zone {target}"
                ),
                zones=(
                    Zone(
                        zone,
                        records=(
                            *_mail_records(zone),
                            f"_25._tcp.mx1 CNAME mx1.{target}.",
                        ),
                    ),
                    Zone(
                        target,
                        signing=signing,
                        ns=("a.dns.vn", "b.dns.vn"),
                        records=(
                            "mx1 TLSA " + dane(f"mx1.{zone}", "3 1 1"),
                            "mx1 TLSA " + dane(f"mx1.{zone}", "2 1 1"),
                        ),
                    ),
                ),
                hosts=(Host(f"mx1.{zone}", smtp="postfix"),),
                inventory_domains=(zone,),
                expected={
                    zone: _e(
                        mail__dane__exists=expect,
                        mail__dane__valid="pass" if expect == "pass" else "not_applicable",
                        mail__dane__rollover="pass" if expect == "pass" else "not_applicable",
                        mail__tls__protocols="pass",
                        dns__dnssec__mx="pass",
                    )
                },
                evidence={
                    zone: {
                        "mail.dane.exists": words,
                        # both families' addresses judged against the same chain's records
                        **({"mail.dane.valid": ("(v6)",)} if expect == "pass" else {}),
                    }
                },
            )
        )
    # The MX host name itself a CNAME (RFC 7672 section 2.2.3, RFC 7671 section 7): its
    # addresses come over a secure chain, so the TLSA base domain is the expanded name
    # first (danemxcname: the records there match, a non-matching one sits at the MX name),
    # then the MX name when the expanded name has none (danemxcnamefb: securely denied
    # there, the MX name's record matches)
    for name, at_target in (("danemxcname", True), ("danemxcnamefb", False)):
        zone, host = f"{name}.gov.vn", f"mail.{name}-host.vn"
        matching = "TLSA " + dane(host, "3 1 1")
        out.append(
            Scenario(
                name=name,
                description=(
                    f"MX mx1.{zone} is a CNAME of the Postfix host {host} (signed zones): "
                    + (
                        "matching TLSA at the expanded name, a non-matching one at the MX name"
                        if at_target
                        else "no TLSA at the expanded name, a matching one at the MX name"
                    )
                ),
                zones=(
                    Zone(
                        zone,
                        records=(
                            *_mail_records(zone),
                            f"mx1 CNAME {host}.",
                            "_25._tcp.mx1 "
                            + ("TLSA 3 1 1 " + "a1" * 32 if at_target else matching),
                        ),
                    ),
                    Zone(
                        f"{name}-host.vn",
                        ns=("a.dns.vn", "b.dns.vn"),
                        records=(f"_25._tcp.mail {matching}",) if at_target else (),
                    ),
                ),
                hosts=(Host(host, smtp="postfix"),),
                inventory_domains=(zone,),
                expected={
                    zone: _e(
                        mail__dane__exists="pass",
                        mail__dane__valid="pass",
                        mail__tls__protocols="pass",
                        dns__dnssec__mx="pass",
                    )
                },
                evidence={
                    zone: {
                        "mail.dane.exists": (
                            (f"tlsa base domain {host}",) if at_target else ("securely denied",)
                        ),
                        "mail.dane.valid": ("(v6)",),
                    }
                },
            )
        )
    return out


SCENARIOS: tuple[Scenario, ...] = build_scenarios()


def scenario(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(name)


def with_web(s: Scenario, host: str, **changes: Any) -> Scenario:
    """A copy of scenario `s` with host `host`'s Web settings changed (for diff tests)."""
    hosts = tuple(
        replace(h, web=replace(h.web, **changes)) if h.name == host else h for h in s.hosts
    )
    return replace(s, hosts=hosts)
