"""Handshake-depth TLS checks (issue 19), per address: key-exchange groups and hash,
cipher order, TLS compression, secure renegotiation, extended master secret, Heartbleed,
CCS injection, TLS_FALLBACK_SCSV, client renegotiation. Inputs are the depth fields of
:class:`auditor.obs.tls.TlsObservation` (auditor/probes/tls_depth.py); every function is
pure. An observation stored before the depth probes existed (``depth_probed`` False) is
not_tested here, never a fail.
"""

from __future__ import annotations

from typing import Any

from auditor.model import Category, Level, Scope, Verdict
from auditor.obs import HostObservations
from auditor.obs.tls import TLS12, TLS13, Depth, TlsObservation
from auditor.registry import CheckContext, check
from checks import tls_tables
from checks.tls import _REFS_NCSC, _TLS_NEEDS, _obs_for

_SCOPE = Scope.ADDRESS


def _depth(obs: HostObservations, ctx: CheckContext) -> TlsObservation | Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    if not t.accepted_versions():
        return Verdict.not_tested(
            f"no TLS version was accepted on {t.address}: nothing to probe in depth",
            address=t.address,
        )
    if not t.depth_probed:
        return Verdict.not_tested(
            f"the handshake-depth probes did not run on {t.address} (observation stored "
            "before they existed, or the probe stopped early)",
            address=t.address,
        )
    return t


def _only13(t: TlsObservation) -> bool:
    return set(t.accepted_versions()) <= {TLS13}


_NGINX_CIPHERS = (
    "`ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305; ssl_prefer_server_ciphers on;`"
)
_APACHE_CIPHERS = (
    "`SSLProtocol -all +TLSv1.2 +TLSv1.3`, `SSLCipherSuite` with the same ECDHE AEAD list, "
    "`SSLHonorCipherOrder on`"
)
_IIS_CIPHERS = (
    "IIS Crypto (Nartac) 'Best Practices' template, or Group Policy > SSL Cipher Suite Order "
    "with the ECDHE AES-GCM suites first; reboot"
)

# ---------------------------------------------------------------------------------------
# key exchange


@check(
    "tls.kex_params",
    title="Key-exchange groups (ECDHE curves, DH groups) are NCSC-NL good or sufficient",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=(_REFS_NCSC + ", key-exchange table", "RFC 7919", "RFC 8422", "Internet.nl fs_params"),
    description="""
Forward secrecy is only as strong as the group of the key exchange. NCSC-NL 2025-05 accepts
the curves P-256, P-384, P-521, X25519, X448 and brainpool; P-224 and the RFC 7919
finite-field groups of 3072 bits and more are phase out; ffdhe2048, self-made or short DH
groups (Logjam) and other curves are insufficient. The auditor reads the group of every
handshake it makes and offers the weak curves alone to see whether the server settles.
""",
    remediation={
        "nginx": "`ssl_ecdh_curve X25519:prime256v1:secp384r1;` and drop DHE suites (or "
        "`ssl_dhparam` with an RFC 7919 ffdhe3072+ file from Mozilla).",
        "apache": "`SSLOpenSSLConfCmd Curves X25519:prime256v1:secp384r1`; remove DHE suites "
        "or set `SSLOpenSSLConfCmd DHParameters` to an RFC 7919 ffdhe3072+ file.",
        "iis": "Group Policy > SSL Configuration Settings > ECC Curve Order: curve25519, "
        "NistP256, NistP384; remove TLS_DHE_* from the suite order.",
    },
)
def kex_params(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    if not t.kex:
        return Verdict.not_tested(
            f"no key-exchange group was seen on {t.address} ({t.kex_detail or 'no (EC)DHE'})",
            address=t.address,
        )
    rows = []
    worst = tls_tables.GOOD
    for k in t.kex:
        cls, row = tls_tables.kex_group_class(k.group)
        rows.append(
            {"version": k.version, "cipher": k.cipher, "kind": k.kind, "group": k.group,
             "bits": k.bits, "offered": k.offered, "class": cls, "row": row}
        )  # fmt: skip
        if tls_tables.CLASS_RANK[cls] > tls_tables.CLASS_RANK[worst]:
            worst = cls
    ev: dict[str, Any] = {"address": t.address, "groups": rows}
    if t.kex_weak_refused is not None:
        ev["weak_curves_refused"] = t.kex_weak_refused

    def names(classes: tuple[str, ...]) -> str:
        seen = sorted({f"{r['group']} ({r['bits']} bits)" for r in rows if r["class"] in classes})
        return ", ".join(seen)

    if worst in (tls_tables.INSUFFICIENT, tls_tables.UNKNOWN):
        return Verdict.failed(
            f"{t.address} uses insufficient key-exchange group(s): "
            f"{names((tls_tables.INSUFFICIENT, tls_tables.UNKNOWN))}",
            **ev,
        )
    if worst == tls_tables.PHASE_OUT:
        return Verdict.warn(
            f"{t.address} uses phase-out key-exchange group(s): {names((tls_tables.PHASE_OUT,))}",
            score=0.5,
            **ev,
        )
    return Verdict.passed(
        f"{t.address} uses only good key-exchange groups: "
        f"{names((tls_tables.GOOD, tls_tables.SUFFICIENT))}",
        **ev,
    )


@check(
    "tls.kex_hash",
    title="A TLS 1.2 handshake offering only SHA-1 signatures is refused (SHA-224 = warn)",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    # sha224: "warn" (NCSC-NL 2025-05 puts SHA-224 in phase out) or "pass" (a profile whose
    # own rules do not ask it: the vn-gov profile, as for RSA-2048 in tls.cert.key)
    params={"sha224": "warn"},
    refs=(
        _REFS_NCSC + ", hash functions for key exchange",
        "RFC 9155",
        "Internet.nl kex_hash_func",
    ),
    description="""
In TLS 1.2 the server signs its key-exchange parameters with a hash the client offers. A
server still willing to sign with SHA-1 (collisions are practical: SHAttered, SLOTH) lets
an attacker who can steer the hello weaken that signature; RFC 9155 deprecates SHA-1 and
NCSC-NL puts SHA-224 in phase out. The auditor offers only SHA-1 and SHA-224 schemes and
reads the scheme the server signs with.
""",
    remediation={
        "nginx": "nginx has no own setting: with OpenSSL >= 3 the default security level 1 "
        "refuses SHA-1; set `ssl_conf_command SignatureAlgorithms "
        "ECDSA+SHA256:ECDSA+SHA384:RSA-PSS+SHA256:RSA+SHA256:RSA+SHA384;` (nginx >= 1.19.4), "
        "and remove `@SECLEVEL=0` from `ssl_ciphers`.",
        "apache": "`SSLOpenSSLConfCmd SignatureAlgorithms "
        "ECDSA+SHA256:ECDSA+SHA384:RSA-PSS+SHA256:RSA+SHA256:RSA+SHA384`",
        "iis": "Registry `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Cryptography\\Configuration"
        "\\Local\\SSL\\00010003` Functions: remove RSA/SHA1 and ECDSA/SHA1 (or IIS Crypto: "
        "uncheck SHA-1 under Hashes); reboot.",
    },
)
def kex_hash(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address}
    if t.kex_hash == Depth.NOT_APPLICABLE or TLS12 not in t.accepted_versions():
        return Verdict.not_applicable(
            f"{t.address}: no TLS 1.2 (EC)DHE handshake to sign "
            f"({t.kex_hash_detail or 'TLS 1.2 not accepted'})",
            **ev,
        )
    if t.kex_hash == Depth.REFUSED:
        return Verdict.passed(
            f"{t.address} refuses to sign with SHA-1 or SHA-224 ({t.kex_hash_detail})", **ev
        )
    if t.kex_hash == Depth.ACCEPTED:
        ev["scheme"] = t.kex_hash_scheme
        if "sha224" in t.kex_hash_scheme:
            if str(ctx.params.get("sha224", "warn")) == "pass":
                return Verdict.passed(
                    f"{t.address} refuses SHA-1 for the TLS 1.2 key exchange; it signs with "
                    f"{t.kex_hash_scheme} when offered nothing better (NCSC-NL phase out, "
                    "accepted by this profile)",
                    **ev,
                )
            return Verdict.warn(
                f"{t.address} signs the TLS 1.2 key exchange with {t.kex_hash_scheme} when "
                "offered only SHA-1/SHA-224 (phase out); it refuses SHA-1",
                score=0.5,
                **ev,
            )
        return Verdict.failed(
            f"{t.address} signs the TLS 1.2 key exchange with {t.kex_hash_scheme} when "
            "offered only SHA-1",
            **ev,
        )
    return Verdict.not_tested(
        f"could not tell which hash {t.address} signs with: {t.kex_hash_detail}", **ev
    )


@check(
    "tls.cipher_order",
    title="The server prefers good/sufficient suites over phase-out ones",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=(_REFS_NCSC + ", cipher order", "Internet.nl tls_cipher_order"),
    description="""
When a server accepts weaker suites for old clients, it must pick the strong ones whenever
the client also offers them: otherwise a client that lists a phase-out suite first (or an
attacker rewriting the list) gets the weak one. The auditor offers the accepted suites in
reverse of the order the server chose them and sees whether the server keeps its own order,
and whether that order puts good/sufficient suites before phase-out ones.
""",
    remediation={
        "nginx": _NGINX_CIPHERS,
        "apache": _APACHE_CIPHERS,
        "iis": _IIS_CIPHERS + " (Windows always applies the server's order).",
    },
)
def cipher_order(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address}
    if _only13(t):
        return Verdict.not_applicable(f"{t.address} speaks TLS 1.3 only", **ev)
    enforced = dict(t.cipher_order)
    strong = (tls_tables.GOOD, tls_tables.SUFFICIENT)
    problems: list[str] = []
    judged: list[str] = []
    untested: list[str] = []
    for version in t.accepted_versions():
        if version == TLS13:
            continue
        order = [c for c in t.ciphers if c.version == version]  # as the server chose them
        classes = [tls_tables.classify(c.code, version) for c in order]
        weak = [i for i, k in enumerate(classes) if k not in strong]
        good = [i for i, k in enumerate(classes) if k in strong]
        if not weak or not good:
            continue  # nothing to prefer: all strong, or nothing strong (tls.ciphers fails)
        if version not in enforced:
            untested.append(version)
            continue
        judged.append(version)
        if not enforced[version]:
            problems.append(f"{version}: the client's order decides")
        elif min(weak) < max(good):
            first = order[min(weak)].name
            problems.append(f"{version}: {first} is preferred over a good/sufficient suite")
    ev["server_order"] = {v: e for v, e in t.cipher_order}
    if problems:
        return Verdict.failed(f"{t.address}: " + "; ".join(problems), **ev)
    if untested:
        return Verdict.not_tested(
            f"the cipher order of {', '.join(untested)} on {t.address} could not be tested "
            f"({t.kex_detail or 'no answer'})",
            **ev,
        )
    if not judged:
        return Verdict.not_applicable(
            f"{t.address} accepts no phase-out suite next to good/sufficient ones", **ev
        )
    return Verdict.passed(
        f"{t.address} keeps its own order, good/sufficient suites first ({', '.join(judged)})",
        **ev,
    )


# ---------------------------------------------------------------------------------------
# protocol options


@check(
    "tls.compression",
    title="TLS compression is refused (CRIME)",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=(_REFS_NCSC + ", compression", "RFC 7457 sec. 2.6 (CRIME)", "RFC 8446 (no compression)"),
    description="""
TLS-level compression lets an attacker who can make the browser send requests learn
secrets such as session cookies byte by byte from the size of the encrypted records
(CRIME). NCSC-NL rates it insufficient; TLS 1.3 removed it. The auditor offers DEFLATE and
sees whether the server takes it.
""",
    remediation={
        "nginx": "nginx disables TLS compression since 1.3.2/1.2.2; upgrade nginx and OpenSSL "
        "(OpenSSL >= 1.1.0 is built without zlib compression by default).",
        "apache": "`SSLCompression off` (default since 2.4.3).",
        "iis": "Windows (SChannel) never supported TLS compression: look for a TLS "
        "terminator in front of IIS.",
    },
)
def compression(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address}
    if _only13(t):
        return Verdict.passed(f"{t.address} speaks TLS 1.3 only, which has no compression", **ev)
    if t.compression is None:
        return Verdict.not_tested(
            f"could not test compression on {t.address}: {t.compression_detail}", **ev
        )
    ev["method"] = t.compression
    if t.compression != 0:
        return Verdict.failed(
            f"{t.address} chose compression method {t.compression} ({t.compression_detail})",
            **ev,
        )
    return Verdict.passed(f"{t.address} refused DEFLATE ({t.compression_detail})", **ev)


@check(
    "tls.renegotiation.secure",
    title="Secure renegotiation (RFC 5746) is supported",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=("RFC 5746 sec. 3.6", _REFS_NCSC + ", renegotiation", "Internet.nl renegotiation"),
    description="""
Without the RFC 5746 renegotiation_info extension an attacker can splice their own request
in front of a visitor's authenticated session (CVE-2009-3555). Every TLS library since
2010 supports it; a server without it runs very old software. TLS 1.3 has no
renegotiation.
""",
    remediation={
        "nginx": "Upgrade OpenSSL (>= 0.9.8m supports RFC 5746) and nginx.",
        "apache": "Upgrade OpenSSL and mod_ssl; `SSLInsecureRenegotiation off` (the default).",
        "iis": "Install the MS10-049 update (any supported Windows has it).",
    },
)
def renegotiation_secure(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address, "versions": dict(t.secure_renegotiation)}
    if _only13(t):
        return Verdict.not_applicable(f"{t.address} speaks TLS 1.3 only", **ev)
    if not t.secure_renegotiation:
        return Verdict.not_tested(
            f"no TLS <= 1.2 ServerHello of {t.address} was read (renegotiation unknown)", **ev
        )
    without = [v for v, ok in t.secure_renegotiation if not ok]
    if without:
        return Verdict.failed(
            f"{t.address} answers without renegotiation_info in {', '.join(without)}", **ev
        )
    return Verdict.passed(f"{t.address} supports secure renegotiation", **ev)


@check(
    "tls.ems",
    title="TLS 1.2 uses the extended master secret (RFC 7627)",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=("RFC 7627 sec. 5.1", "RFC 9325 sec. 3.5"),
    description="""
The extended master secret binds the TLS 1.2 session keys to the whole handshake, which
closes the triple-handshake attack on resumption and renegotiation. RFC 9325 asks every TLS
1.2 server to support it; TLS 1.3 has it built in.
""",
    remediation={
        "nginx": "Use OpenSSL >= 1.1.0 (EMS is on by default).",
        "apache": "Use OpenSSL >= 1.1.0 (EMS is on by default).",
        "iis": "Windows Server 2016 and later support EMS; on 2012 R2 install KB3081320.",
    },
)
def ems(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address}
    if TLS12 not in t.accepted_versions():
        return Verdict.not_applicable(f"{t.address} does not speak TLS 1.2", **ev)
    if t.ems is None:
        return Verdict.not_tested(f"the TLS 1.2 ServerHello of {t.address} was not read", **ev)
    if t.ems:
        return Verdict.passed(f"{t.address} negotiates the extended master secret", **ev)
    return Verdict.failed(f"{t.address} does not negotiate the extended master secret", **ev)


@check(
    "tls.fallback_scsv",
    title="TLS_FALLBACK_SCSV is honoured (RFC 7507)",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=("RFC 7507 sec. 3", "testssl.sh fallback", "sslyze fallback"),
    description="""
A server that accepts several TLS versions must refuse a client's retry at a lower version
when the client marks it as a fallback (TLS_FALLBACK_SCSV): otherwise an attacker who breaks
the first connection pushes the visitor down to the oldest version the server still
accepts.
""",
    remediation={
        "nginx": "Any OpenSSL >= 1.0.1j honours the SCSV; upgrade OpenSSL, and better still "
        "accept TLS 1.2 and 1.3 only (`ssl_protocols TLSv1.2 TLSv1.3;`).",
        "apache": "Upgrade OpenSSL (>= 1.0.1j); `SSLProtocol -all +TLSv1.2 +TLSv1.3`.",
        "iis": "SChannel ignores the SCSV: disable TLS 1.0/1.1 so no fallback is possible "
        "(IIS Crypto 'Best Practices').",
    },
)
def fallback_scsv(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address, "detail": t.fallback_scsv_detail}
    if t.fallback_scsv == Depth.NOT_APPLICABLE:
        return Verdict.not_applicable(
            f"{t.address} accepts one version only: no fallback ({t.fallback_scsv_detail})",
            **ev,
        )
    if t.fallback_scsv == Depth.HONOURED:
        how = (
            "by closing the connection, without the alert"
            if "without the inappropriate_fallback alert" in t.fallback_scsv_detail
            else "(inappropriate_fallback)"
        )
        return Verdict.passed(f"{t.address} refuses a marked fallback {how}", **ev)
    if t.fallback_scsv == Depth.IGNORED:
        return Verdict.failed(f"{t.address} accepts a fallback marked with TLS_FALLBACK_SCSV", **ev)
    return Verdict.not_tested(
        f"could not test TLS_FALLBACK_SCSV on {t.address}: {t.fallback_scsv_detail}", **ev
    )


# ---------------------------------------------------------------------------------------
# vulnerabilities


@check(
    "tls.vuln.heartbleed",
    title="Not vulnerable to Heartbleed (CVE-2014-0160)",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=("CVE-2014-0160", "RFC 6520 sec. 4", "testssl.sh heartbleed", "sslyze heartbleed"),
    description="""
Heartbleed lets anyone read up to 64 KiB of the server's memory per request: private keys,
passwords, session cookies of citizens. The auditor sends one heartbeat request that claims
more data than it carries, only when the server negotiated heartbeats; a patched server
discards it. Only the header of an answer is read, never the leaked memory.
""",
    remediation={
        "nginx": "Upgrade OpenSSL to a supported release (>= 1.0.1g; today 3.x), restart "
        "nginx, then replace the certificate key and revoke the old certificate.",
        "apache": "Upgrade OpenSSL, restart Apache, rekey and revoke the old certificate.",
        "iis": "SChannel was never affected: look for an OpenSSL-based device in front "
        "(load balancer, WAF, VPN) and update its firmware.",
    },
)
def heartbleed(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address, "detail": t.heartbleed_detail}
    if _only13(t):
        return Verdict.passed(f"{t.address} speaks TLS 1.3 only (no heartbeat)", **ev)
    if t.heartbleed == Depth.NO_HEARTBEAT:
        return Verdict.passed(f"{t.address} does not negotiate the heartbeat extension", **ev)
    if t.heartbleed == Depth.NOT_VULNERABLE:
        return Verdict.passed(f"{t.address}: {t.heartbleed_detail}", **ev)
    if t.heartbleed == Depth.VULNERABLE:
        return Verdict.failed(
            f"{t.address} is vulnerable to Heartbleed: {t.heartbleed_detail}", **ev
        )
    return Verdict.not_tested(
        f"could not test Heartbleed on {t.address}: {t.heartbleed_detail or t.compression_detail}",
        **ev,
    )


@check(
    "tls.vuln.ccs_injection",
    title="Not vulnerable to CCS injection (CVE-2014-0224)",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=("CVE-2014-0224", "RFC 5246 sec. 7.1", "testssl.sh ccs"),
    description="""
Old OpenSSL versions accept a ChangeCipherSpec message before the key exchange, so a
man-in-the-middle can force both sides onto keys it knows and read or change the traffic.
The auditor sends that premature message and expects the server to abort the handshake.
""",
    remediation={
        "nginx": "Upgrade OpenSSL (>= 1.0.1h; today 3.x) and restart nginx.",
        "apache": "Upgrade OpenSSL and restart Apache.",
        "iis": "SChannel was not affected: check an OpenSSL-based device in front of IIS.",
    },
)
def ccs_injection(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address, "detail": t.ccs_injection_detail}
    if _only13(t):
        return Verdict.passed(f"{t.address} speaks TLS 1.3 only", **ev)
    if t.ccs_injection == Depth.NOT_VULNERABLE:
        return Verdict.passed(f"{t.address}: {t.ccs_injection_detail}", **ev)
    if t.ccs_injection == Depth.VULNERABLE:
        return Verdict.failed(
            f"{t.address} accepts an early ChangeCipherSpec: {t.ccs_injection_detail}", **ev
        )
    return Verdict.not_tested(
        f"could not test CCS injection on {t.address}: {t.ccs_injection_detail}", **ev
    )


@check(
    "tls.vuln.robot",
    title="No Bleichenbacher oracle in RSA key exchange (ROBOT)",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=(
        "ROBOT (Böck, Somorovsky, Young 2018), CVE-2017-13099",
        "RFC 5246 sec. 7.4.7.1",
        "RFC 8017 sec. 7.2",
        "testssl.sh robot",
        "sslyze robot",
    ),
    description="""
With RSA key exchange (the TLS_RSA_* suites) the browser encrypts the session secret with
the server's RSA key. If the server reacts differently to a badly padded secret than to a
good one, that difference is an oracle (Bleichenbacher 1998, ROBOT 2017): with enough
connections an attacker decrypts recorded sessions or signs with the server's key. The
auditor sends five crafted secrets, as sslyze and testssl.sh do, and compares the
server's reactions; it runs only when the server accepts a TLS_RSA_* suite.
""",
    remediation={
        "nginx": "Remove RSA key exchange: `ssl_ciphers` with ECDHE suites only (no `AES128-SHA`"
        ", `AES256-GCM-SHA384`, `kRSA`), and upgrade OpenSSL; a load balancer in front "
        "(F5, Citrix, Cisco ACE) needs its vendor's ROBOT fix.",
        "apache": "`SSLCipherSuite` with ECDHE suites only (`!kRSA`), upgrade OpenSSL; check "
        "any TLS terminator in front.",
        "iis": "IIS Crypto (Nartac): uncheck the TLS_RSA_* suites (key exchange PKCS), or "
        "Group Policy > SSL Cipher Suite Order without TLS_RSA_*; reboot.",
    },
)
def robot(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address, "detail": t.robot_detail}
    if _only13(t) or t.robot == Depth.NOT_APPLICABLE:
        return Verdict.not_applicable(f"{t.address} accepts no RSA key exchange", **ev)
    if t.robot == Depth.NOT_VULNERABLE:
        return Verdict.passed(f"{t.address} shows no padding oracle: {t.robot_detail}", **ev)
    if t.robot == Depth.VULNERABLE:
        ev["oracle"] = t.robot_oracle
        return Verdict.failed(
            f"{t.address} has a {t.robot_oracle or ''} Bleichenbacher oracle (ROBOT): "
            f"{t.robot_detail}",
            **ev,
        )
    return Verdict.not_tested(
        f"could not test ROBOT on {t.address}: "
        f"{t.robot_detail or 'not probed (older observation)'}",
        **ev,
    )


@check(
    "tls.renegotiation.client",
    title="Client-initiated renegotiation is refused",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.INFORMATIONAL,
    scored=False,
    refs=(
        "RFC 5746 sec. 4.4",
        "CVE-2011-1473",
        _REFS_NCSC + ", renegotiation",
        "Internet.nl client_reneg",
    ),
    description="""
In TLS 1.2 and older a client may ask for a new handshake inside an open connection. Each
one costs the server far more work than the client (a private-key operation), so a few
machines renegotiating in a loop can exhaust a server (CVE-2011-1473); no browser needs it.
The auditor completes one TLS 1.2 handshake and asks for at most two renegotiations on the
same connection. Internet.nl reports this for information; TLS 1.3 has no renegotiation.
""",
    remediation={
        "nginx": "nginx refuses client renegotiation since 1.15.6 (with OpenSSL >= 1.1.0h); "
        "upgrade nginx and OpenSSL.",
        "apache": "Use OpenSSL >= 3.0 (client renegotiation off by default) with "
        "`SSLInsecureRenegotiation off`, and avoid per-directory `SSLVerifyClient` or "
        "`SSLCipherSuite` settings, which make mod_ssl renegotiate.",
        "iis": "Registry `HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL`"
        " DWORD `DisableRenegoOnServer` = 1 (KB977377); reboot.",
    },
)
def renegotiation_client(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address, "detail": t.client_renegotiation_detail}
    if _only13(t) or t.client_renegotiation == Depth.NOT_APPLICABLE:
        return Verdict.not_applicable(f"{t.address} speaks TLS 1.3 only (no renegotiation)", **ev)
    if t.client_renegotiation == Depth.REFUSED:
        return Verdict.passed(f"{t.address} refuses client-initiated renegotiation", **ev)
    if t.client_renegotiation == Depth.ACCEPTED:
        ev["accepted"] = t.client_renegotiations
        # informational (Internet.nl: info), so the bad case is info, as tls.ocsp_stapling
        return Verdict.info(
            f"{t.address} accepted {t.client_renegotiations} client-initiated "
            "renegotiation(s) (CVE-2011-1473: a cheap way to load the server)",
            **ev,
        )
    return Verdict.not_tested(
        f"could not test client renegotiation on {t.address}: "
        f"{t.client_renegotiation_detail or 'not probed (older observation)'}",
        **ev,
    )


@check(
    "tls.zero_rtt",
    title="TLS 1.3 early data (0-RTT) is not accepted, or answered 425 Too Early",
    category=Category.TLS,
    scope=_SCOPE,
    needs=_TLS_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=(
        "RFC 8446 sec. 8 (0-RTT replay)",
        "RFC 8470 sec. 5.2 (425 Too Early)",
        _REFS_NCSC + ", 0-RTT",
        "Internet.nl zero_rtt",
    ),
    description="""
TLS 1.3 lets a returning visitor send a request in the very first flight (0-RTT, early
data). That flight has no protection against replay: an attacker who records it can send
it again, and the server acts twice. NCSC-NL asks servers not to accept early data, or to
answer requests in it with 425 Too Early (RFC 8470) so the client repeats them after the
handshake. The auditor completes a TLS 1.3 handshake, takes the session ticket, and, when
the ticket allows early data, resumes with a GET of the landing page sent as early data.
""",
    remediation={
        "nginx": "`ssl_early_data off;` (the default); where it must stay on, add "
        "`if ($ssl_early_data) { return 425; }` to the server block, or pass "
        "`proxy_set_header Early-Data $ssl_early_data;` to a backend that answers 425.",
        "apache": "mod_ssl does not accept TLS 1.3 early data; check the TLS terminator "
        "(load balancer, CDN) in front of Apache and turn 0-RTT off there.",
        "iis": "Windows Server 2022 accepts no 0-RTT data in IIS by default; on a front end "
        "(Azure Front Door, a CDN) turn 0-RTT off or have it answer 425.",
    },
)
def zero_rtt(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _depth(obs, ctx)
    if isinstance(t, Verdict):
        return t
    ev: dict[str, Any] = {"address": t.address, "detail": t.zero_rtt_detail}
    if TLS13 not in t.accepted_versions() or t.zero_rtt == Depth.NOT_APPLICABLE:
        return Verdict.not_applicable(f"{t.address} does not speak TLS 1.3 (no 0-RTT)", **ev)
    if t.zero_rtt == Depth.NO_EARLY_DATA:
        return Verdict.passed(f"{t.address} issues no session ticket allowing early data", **ev)
    if t.zero_rtt == Depth.REFUSED:
        return Verdict.passed(f"{t.address} refuses TLS 1.3 early data", **ev)
    if t.zero_rtt == Depth.TOO_EARLY:
        ev["status"] = t.zero_rtt_status
        return Verdict.passed(
            f"{t.address} accepts early data but answers it 425 Too Early (RFC 8470)", **ev
        )
    if t.zero_rtt == Depth.ACCEPTED:
        ev["status"] = t.zero_rtt_status
        return Verdict.failed(
            f"{t.address} accepts TLS 1.3 early data and answered the early GET with "
            f"{t.zero_rtt_status} (replayable; 425 Too Early expected)",
            **ev,
        )
    return Verdict.not_tested(
        f"could not test 0-RTT on {t.address}: "
        f"{t.zero_rtt_detail or 'not probed (older observation)'}",
        **ev,
    )
