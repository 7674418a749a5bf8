"""The demo province: agencies, zones and hosts with a handful of realistic deviations.

Pure data. The servers (``auditor.demo.servers``) serve it, the inventory written for the
scan lists it, and the integration test (tests/integration/test_demo.py) checks that each
deviation shows as the verdict written here. Names are under ``.test`` (RFC 6761: reserved,
never delegated on the internet), so nothing here can be mistaken for a real agency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# RFC 6761 section 6.2: ".test" is reserved for testing; the demo's DNS server answers for
# it only and refuses every other name, so the scan cannot leave the machine.
PROVINCE_ZONE = "vidu.test"
TLD = "test"
ONE_YEAR = 31536000  # HSTS max-age the checks want (http.hsts: OMB M-15-13, BOD 18-01)


@dataclass(frozen=True)
class DemoHost:
    """A web host of the demo and how it deviates (the default is a well-run portal)."""

    name: str
    title: str
    v6: bool = True  # publishes an AAAA record (::1)
    cert: str = "valid"  # valid | expired
    hsts: int | None = ONE_YEAR  # Strict-Transport-Security max-age, None: no header
    csp: bool = True
    security_txt: bool = True
    server: str = "nginx"  # the Server header (a version number is a disclosure)
    # Also accept the CBC suites NCSC-NL 2025-05 rates "phase-out" (tls.ciphers warns);
    # the others accept AEAD suites only.
    cbc_suites: bool = False


@dataclass(frozen=True)
class DemoZone:
    name: str
    signed: bool  # DNSSEC: signed, with a DS at the parent
    mx: str | None  # mail exchanger host name; None: a null MX (RFC 7505)
    spf: str
    dmarc: str


@dataclass(frozen=True)
class DemoWaiver:
    check: str
    host: str
    reason: str
    approved_by: str
    days: int  # expires this many days after the demo runs


@dataclass(frozen=True)
class DemoAgency:
    id: str
    name: str
    name_en: str
    zones: tuple[str, ...]
    hosts: tuple[str, ...]
    waivers: tuple[DemoWaiver, ...] = ()


@dataclass(frozen=True)
class Expectation:
    """A verdict the demo is built to show: (target kind, target, check) -> status, with
    what it demonstrates (shown by ``auditor demo`` and checked by its test)."""

    kind: str
    target: str
    check: str
    status: str
    what: str
    needs_v6: bool = False  # only when the machine has an IPv6 loopback (::1)


@dataclass(frozen=True)
class Scenario:
    zones: tuple[DemoZone, ...]
    hosts: tuple[DemoHost, ...]
    agencies: tuple[DemoAgency, ...]
    expectations: tuple[Expectation, ...] = field(default=())

    def host(self, name: str) -> DemoHost:
        return next(h for h in self.hosts if h.name == name)

    def zone_of(self, name: str) -> DemoZone:
        """The deepest demo zone holding ``name``."""
        best = None
        for z in self.zones:
            if (name == z.name or name.endswith("." + z.name)) and (
                best is None or len(z.name) > len(best.name)
            ):
                best = z
        if best is None:
            raise KeyError(name)
        return best


SCENARIO = Scenario(
    zones=(
        DemoZone(
            PROVINCE_ZONE,
            signed=True,
            mx=f"mail.{PROVINCE_ZONE}",
            spf="v=spf1 mx -all",
            dmarc=f"v=DMARC1; p=reject; rua=mailto:dmarc@{PROVINCE_ZONE}",
        ),
        DemoZone(
            f"sotttt.{PROVINCE_ZONE}",
            signed=False,  # deviation: no DNSSEC
            mx=f"mail.sotttt.{PROVINCE_ZONE}",
            spf="v=spf1 mx ~all",
            dmarc="v=DMARC1; p=none",  # deviation: monitoring only
        ),
        DemoZone(
            f"soyte.{PROVINCE_ZONE}",
            signed=True,
            mx=None,  # sends no mail: null MX, SPF -all, DMARC reject
            spf="v=spf1 -all",
            dmarc="v=DMARC1; p=reject",
        ),
    ),
    hosts=(
        DemoHost(f"www.{PROVINCE_ZONE}", "Cổng thông tin điện tử tỉnh Ví Dụ"),
        DemoHost(f"dichvucong.{PROVINCE_ZONE}", "Cổng dịch vụ công tỉnh Ví Dụ", csp=False),
        DemoHost(
            f"www.sotttt.{PROVINCE_ZONE}",
            "Sở Thông tin và Truyền thông",
            hsts=86400,  # deviation: one day instead of one year
            security_txt=False,  # deviation: no /.well-known/security.txt
            server="Apache/2.4.41 (Ubuntu)",  # deviation: version disclosed
            cbc_suites=True,  # deviation: phase-out CBC suites accepted
        ),
        DemoHost(f"www.soyte.{PROVINCE_ZONE}", "Sở Y tế", v6=False),  # deviation: no AAAA
        DemoHost(
            f"tiemchung.soyte.{PROVINCE_ZONE}",
            "Tiêm chủng – Sở Y tế",
            cert="expired",  # deviation: the certificate expired
        ),
    ),
    agencies=(
        DemoAgency(
            "ubnd-tinh",
            "UBND tỉnh Ví Dụ (demo)",
            "Vi Du Provincial People's Committee (demo)",
            (PROVINCE_ZONE,),
            (f"www.{PROVINCE_ZONE}", f"dichvucong.{PROVINCE_ZONE}"),
            waivers=(
                DemoWaiver(
                    "http.csp",
                    f"dichvucong.{PROVINCE_ZONE}",
                    "Content-Security-Policy being tested on staging (demo waiver)",
                    "Sở Thông tin và Truyền thông (demo)",
                    90,
                ),
            ),
        ),
        DemoAgency(
            "so-tttt",
            "Sở Thông tin và Truyền thông (demo)",
            "Department of Information and Communications (demo)",
            (f"sotttt.{PROVINCE_ZONE}",),
            (f"www.sotttt.{PROVINCE_ZONE}",),
        ),
        DemoAgency(
            "so-y-te",
            "Sở Y tế (demo)",
            "Department of Health (demo)",
            (f"soyte.{PROVINCE_ZONE}",),
            (f"www.soyte.{PROVINCE_ZONE}", f"tiemchung.soyte.{PROVINCE_ZONE}"),
        ),
    ),
    expectations=(
        Expectation(
            "host",
            f"www.{PROVINCE_ZONE}",
            "ipv6.web.https",
            "pass",
            "a portal that works well over IPv6",
            needs_v6=True,
        ),
        Expectation(
            "host",
            f"www.{PROVINCE_ZONE}",
            "ipv6.web.aaaa",
            "pass",
            "an AAAA record (::1, usable because --allow-net opened it)",
            needs_v6=True,
        ),
        Expectation("host", f"www.{PROVINCE_ZONE}", "http.hsts", "pass", "HSTS for one year"),
        Expectation("zone", PROVINCE_ZONE, "dns.dnssec", "pass", "a DNSSEC-signed zone"),
        Expectation(
            "host", f"www.soyte.{PROVINCE_ZONE}", "ipv6.web.aaaa", "fail", "a host without AAAA"
        ),
        Expectation(
            "host", f"www.sotttt.{PROVINCE_ZONE}", "http.hsts", "fail", "HSTS max-age too short"
        ),
        Expectation(
            "host",
            f"www.sotttt.{PROVINCE_ZONE}",
            "http.security_txt",
            "fail",
            "no security.txt",
        ),
        Expectation(
            "host",
            f"tiemchung.soyte.{PROVINCE_ZONE}",
            "tls.cert.expiry",
            "fail",
            "an expired certificate",
        ),
        Expectation(
            "zone", f"sotttt.{PROVINCE_ZONE}", "dns.dnssec", "fail", "a zone without DNSSEC"
        ),
        Expectation(
            "zone",
            f"sotttt.{PROVINCE_ZONE}",
            "mail.dmarc",
            "fail",
            "DMARC p=none (monitoring only)",
        ),
        Expectation(
            "host",
            f"www.sotttt.{PROVINCE_ZONE}",
            "tls.ciphers",
            "warn",
            "phase-out (CBC) cipher suites accepted",
        ),
        Expectation("host", f"www.{PROVINCE_ZONE}", "tls.ciphers", "pass", "AEAD suites only"),
        Expectation(
            "zone", PROVINCE_ZONE, "dns.ns.count", "warn", "both name servers in one network"
        ),
        Expectation(
            "host", f"dichvucong.{PROVINCE_ZONE}", "http.csp", "warn", "no CSP (waived until later)"
        ),
    ),
)
