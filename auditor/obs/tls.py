"""TLS observations (owned by the TLS family; extend only with defaulted fields).

One :class:`TlsObservation` per (address, port, SNI): what the server accepted when
offered each protocol version with a hand-built ClientHello, which cipher suites it
chose, whether a full handshake with a (deliberately permissive) OpenSSL client
completes, the certificate chain it served and how that chain was judged against the
trust store. Stored observations are re-evaluated later (``auditor evaluate``), so
every field added here must have a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class VersionOutcome:
    ACCEPTED = "accepted"  # the server answered with a ServerHello for exactly this version
    REJECTED = "rejected"  # alert, another version, or the connection was closed
    ERROR = "error"  # undecided: timeout, reset before any answer, connect failed


# Protocol version labels, oldest first (also the order of TlsObservation.versions).
SSL2, SSL3, TLS10, TLS11, TLS12, TLS13 = (
    "SSLv2",
    "SSLv3",
    "TLSv1.0",
    "TLSv1.1",
    "TLSv1.2",
    "TLSv1.3",
)
ALL_VERSIONS = (SSL2, SSL3, TLS10, TLS11, TLS12, TLS13)
LEGACY_VERSIONS = (SSL2, SSL3, TLS10, TLS11)
MODERN_VERSIONS = (TLS12, TLS13)


class Trust:
    """How the served chain was judged (TlsObservation.trust)."""

    TRUSTED = "trusted"  # a path leads to an anchor of the store (system + --ca-file)
    MISSING_INTERMEDIATE = "missing_intermediate"  # leaf's issuer neither served nor a root
    UNTRUSTED_ROOT = "untrusted_root"  # the path ends in a self-signed CA not in the store
    SELF_SIGNED = "self_signed"  # the leaf is its own issuer and not in the store
    BAD_SIGNATURE = "bad_signature"  # an issuer by name was found but its signature fails
    NO_CHAIN = "no_chain"  # no certificate was observed
    ERROR = "error"


class ChainPolicy:
    """How the RFC 5280 validation of the served chain ended (chain_policy_kind)."""

    OK = "ok"  # a path to the store validates, EKU and name constraints included
    EKU = "eku"  # extendedKeyUsage forbids TLS server authentication
    NAME_CONSTRAINTS = "name_constraints"  # a CA's name constraints exclude the leaf's names
    DEPTH = "depth"  # the path is longer than the validator allows
    ALGORITHM = "algorithm"  # a weak signature or key stopped it (judged per certificate)
    PATH = "path"  # no path to the store (tls.cert.trusted judges that)
    OTHER = "other"  # another RFC 5280 / CA/B profile rule


class HandshakeBy:
    """Whose full handshake TlsObservation.handshake_* describe (handshake_by)."""

    TLS = "tls"  # the TLS probe's own
    # the HTTP probe's first completed handshake to the same address, port and SNI, with
    # the same client settings (auditor.probes.session.AddressSession): taken instead
    # of a second one
    HTTP = "http"
    NONE = ""  # none was attempted (blocked, skipped), or stored before this was recorded


@dataclass(frozen=True)
class VersionResult:
    version: str  # SSLv2 ... TLSv1.3
    outcome: str  # VersionOutcome
    detail: str = ""  # e.g. "alert handshake_failure", "server answered TLSv1.2"
    cipher: str = ""  # the suite the server chose in this probe (IANA name)


@dataclass(frozen=True)
class CipherResult:
    """One suite the server accepted for one protocol version."""

    version: str
    code: int  # IANA code (SSLv2: 3-byte code)
    name: str  # IANA name (or the hex code when unknown)


@dataclass(frozen=True)
class CertInfo:
    """One certificate of the served chain, as parsed by the cryptography package."""

    subject: str  # RFC 4514 string (remote text: escape when rendering)
    issuer: str
    serial: str  # hex
    not_before: datetime | None = None  # UTC
    not_after: datetime | None = None  # UTC
    san: tuple[str, ...] = ()  # dNSName entries as served
    san_ips: tuple[str, ...] = ()  # iPAddress entries
    cn: tuple[str, ...] = ()  # subject commonName values
    key_type: str = ""  # RSA / EC / Ed25519 / Ed448 / DSA / other
    key_bits: int = 0
    curve: str = ""  # EC curve name
    sig_hash: str = ""  # md5 / sha1 / sha256 / ... ; "" for Ed25519/Ed448 (no separate hash)
    sig_algorithm: str = ""  # dotted OID name, e.g. sha256WithRSAEncryption
    is_ca: bool = False
    self_signed: bool = False  # subject == issuer and the signature verifies with its own key
    sha256: str = ""  # fingerprint of the DER
    parse_error: str = ""
    # --- issue #19, certificate depth (tls.cert.chain, tls.ocsp_stapling, tls.cert.sct) ---
    # extendedKeyUsage purposes (names such as serverAuth, or dotted OIDs); has_eku tells
    # "no EKU extension" (any purpose, RFC 5280 sec. 4.2.1.12) from an empty one
    eku: tuple[str, ...] = ()
    has_eku: bool = False
    ocsp_urls: tuple[str, ...] = ()  # authorityInfoAccess id-ad-ocsp URIs (RFC 5280 4.2.2.1)
    must_staple: bool = False  # TLS feature extension with status_request (RFC 7633)
    # log IDs (base64) of the embedded precertificate SCTs (RFC 6962 sec. 3.3)
    sct_logs: tuple[str, ...] = ()


class Depth:
    """Outcomes of the handshake-depth probes (auditor/probes/tls_depth.py); "" = not tested."""

    # tls.vuln.heartbleed / tls.vuln.ccs_injection
    NOT_VULNERABLE = "not_vulnerable"
    VULNERABLE = "vulnerable"
    NO_HEARTBEAT = "no_heartbeat"  # the server did not negotiate the heartbeat extension
    # tls.fallback_scsv
    HONOURED = "honoured"  # inappropriate_fallback (RFC 7507 sec. 3)
    IGNORED = "ignored"  # the downgraded hello with the SCSV was accepted
    # tls.kex_hash
    REFUSED = "refused"
    ACCEPTED = "accepted"
    NOT_APPLICABLE = "not_applicable"  # nothing to decide (see the detail)
    # tls.zero_rtt (also REFUSED: early data refused; ACCEPTED: early request answered)
    NO_EARLY_DATA = "no_early_data"  # no ticket advertising max_early_data_size
    TOO_EARLY = "too_early"  # early data accepted, the request answered 425 (RFC 8470)


@dataclass(frozen=True)
class KexParams:
    """The key-exchange group of one handshake the probe saw (tls.kex_params)."""

    version: str
    cipher: str  # IANA name of the suite the server chose
    kind: str  # ECDHE / DHE / TLS13 (the key_share group)
    group: str  # secp256r1, x25519, ffdhe3072, "custom" (unnamed DH prime), or a hex code
    bits: int  # curve size or DH prime size
    offered: str = ""  # what was offered: "usual" (the normal hello) or "weak" (weak groups only)


@dataclass(frozen=True)
class TlsObservation:
    """Everything learnt about TLS on one (address, port) for one SNI."""

    address: str
    port: int
    outcome: str  # auditor.obs.core.Outcome of the full handshake (OK when it completed)
    detail: str = ""
    sni: str = ""
    # Hand-built ClientHello per protocol version, oldest first.
    versions: tuple[VersionResult, ...] = ()
    # Accepted suites per accepted version (offer, remove the chosen one, repeat).
    ciphers: tuple[CipherResult, ...] = ()
    ciphers_complete: bool = True  # False when the enumeration was cut short (error/cap)
    ciphers_detail: str = ""
    # The full handshake with OpenSSL at @SECLEVEL=0 (weak servers are observed, not hidden).
    handshake_version: str = ""
    handshake_cipher: str = ""
    # Whose full handshake outcome, detail and handshake_* describe (HandshakeBy).
    handshake_by: str = HandshakeBy.NONE
    # Served certificate chain, leaf first, from the hand-built handshake (chain_source).
    chain: tuple[CertInfo, ...] = ()
    chain_source: str = ""  # protocol version of the handshake the chain was read from
    # The server sent more certificates than the probe keeps (MAX_CHAIN): ``chain`` is the
    # first part only, and no check may judge it as the whole chain.
    chain_truncated: bool = False
    trust: str = ""  # Trust.*; "" = not judged
    trust_detail: str = ""
    trust_path: tuple[str, ...] = ()  # subjects from the leaf to the anchor
    trust_anchor: str = ""  # subject of the store certificate the path ends at
    # OCSP stapling: None = could not tell (no status_request answer observed at all).
    ocsp_stapled: bool | None = None
    ocsp_detail: str = ""
    # Stapled response: good / revoked / unknown (certificate status), or the OCSP response
    # status when not successful (e.g. try_later), or "unparsed".
    ocsp_status: str = ""
    # --- handshake depth (auditor/probes/tls_depth.py; issue 19). All defaulted: a stored
    # observation from before has depth_probed False and the depth checks say not_tested.
    depth_probed: bool = False
    depth_connections: int = 0  # connections the depth probes opened (politeness)
    kex: tuple[KexParams, ...] = ()
    kex_detail: str = ""
    # the hello offering only the curves outside the good set was refused (True), accepted
    # (False, the curve is in ``kex``), or not sent / undecided (None)
    kex_weak_refused: bool | None = None
    kex_hash: str = ""  # Depth.REFUSED / ACCEPTED / NOT_APPLICABLE / ""
    kex_hash_scheme: str = ""  # the scheme the server signed with when it accepted
    kex_hash_detail: str = ""
    # per TLS <= 1.2 version with two or more accepted suites: does the server keep its own
    # order (the order of ``ciphers``) when offered the suites in reverse
    cipher_order: tuple[tuple[str, bool], ...] = ()
    compression: int | None = None  # compression method chosen when DEFLATE was offered
    compression_detail: str = ""
    # per accepted TLS <= 1.2 version: did its ServerHello carry renegotiation_info
    secure_renegotiation: tuple[tuple[str, bool], ...] = ()
    ems: bool | None = None  # TLS 1.2 ServerHello carried extended_master_secret
    heartbleed: str = ""
    heartbleed_detail: str = ""
    ccs_injection: str = ""
    ccs_injection_detail: str = ""
    fallback_scsv: str = ""  # Depth.HONOURED / IGNORED / NOT_APPLICABLE / ""
    fallback_scsv_detail: str = ""
    # client-initiated renegotiation (pyOpenSSL, auditor/probes/tls_reneg.py): Depth.REFUSED
    # / ACCEPTED / NOT_APPLICABLE (TLS 1.3 only) / "" (not tested, older observations too)
    client_renegotiation: str = ""
    client_renegotiations: int = 0  # how many were accepted (at most MAX_RENEGOTIATIONS)
    client_renegotiation_detail: str = ""
    # TLS 1.3 early data (pyOpenSSL, auditor/probes/tls_early.py): Depth.NO_EARLY_DATA /
    # REFUSED / TOO_EARLY / ACCEPTED / NOT_APPLICABLE (no TLS 1.3) / "" (not tested, older
    # observations too); zero_rtt_status = HTTP status answered to the early GET (0 = none)
    zero_rtt: str = ""
    zero_rtt_status: int = 0
    zero_rtt_detail: str = ""
    # ROBOT (auditor/probes/tls_robot.py): Depth.NOT_VULNERABLE / VULNERABLE /
    # NOT_APPLICABLE (no TLS_RSA_* suite) / "" (not tested or inconsistent, older
    # observations too); robot_oracle "strong" / "weak" when vulnerable
    robot: str = ""
    robot_oracle: str = ""
    robot_detail: str = ""
    # --- issue #19, certificate depth (auditor/probes/tls_chain.py, auditor/probes/ocsp.py);
    # every field defaulted: older stored scans read as "not checked" ---
    # RFC 5280 path validation by the cryptography package (EKU serverAuth, name
    # constraints, depth): chain_checked False = not run (or an older observation);
    # chain_policy "ok" or the validator's reason; chain_policy_kind classifies it
    # (ChainPolicy.*).
    chain_checked: bool = False
    chain_policy: str = ""
    chain_policy_kind: str = ""
    # The stapled OCSP response verified against the leaf and its issuer (RFC 6960):
    # ocsp_checked False = not verified; ocsp_problem "" = signature and match verified.
    # The validity window is judged by the check against its own clock.
    ocsp_checked: bool = False
    ocsp_problem: str = ""
    ocsp_signer: str = ""  # "issuer" or "delegated responder <subject>"
    ocsp_this_update: datetime | None = None
    ocsp_next_update: datetime | None = None
    # Certificate Transparency: the hellos asked for SCTs (signed_certificate_timestamp,
    # RFC 6962 sec. 3.3.1); the log IDs (base64) received in the TLS extension and in the
    # stapled OCSP response. Embedded ones are in CertInfo.sct_logs.
    sct_checked: bool = False
    sct_tls: tuple[str, ...] = ()
    sct_ocsp: tuple[str, ...] = ()

    def version(self, label: str) -> VersionResult | None:
        for v in self.versions:
            if v.version == label:
                return v
        return None

    def accepted_versions(self) -> tuple[str, ...]:
        return tuple(v.version for v in self.versions if v.outcome == VersionOutcome.ACCEPTED)
