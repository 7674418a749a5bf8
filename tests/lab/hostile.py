"""The robustness lab: hostile servers on top of a small lab, and the robustness table.

A `HostileLab` is a `Lab` (own tag, so the main lab and its scenario table stay as they are)
with only the "good" scenario (the readiness probes need it) plus a zone `hostile.vn`
(unsigned, served by Knot) whose names point at hostile servers
(tests/lab/hostile_server.py) running in the lab's server namespace on addresses of
2001:db8:bad::/48, and whose sub-zones `timeout|trunc|malformed|loop|big.hostile.vn` are
delegated to a hostile DNS server (so the lab's Unbound meets it; the auditor also queries it
directly with --resolver).

CASES is the table of docs/ROBUSTNESS.md: every load, fault, bad input and interruption
tried, with the outcome the tests assert. The lab tests (tests/lab/test_hostile.py) assert
each lab row; the unit tests named in the other rows assert theirs; a unit test checks that
the committed doc is what `python -m tests.lab.hostile --write-doc` writes from this table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .scenarios import SCENARIOS, Scenario, Zone

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "ROBUSTNESS.md"

ZONE = "hostile.vn"
DNS_V6 = "2001:db8:bad:53::1"
DNS_V4 = "198.51.100.250"
SMTP_V6 = "2001:db8:bad:25::1"
STALL_HOSTS = 20

# Scan settings of the lab tests (asserted promises are relative to them).
TIMEOUT = 2.0  # --timeout: seconds per network step
DEADLINE = 30.0  # --deadline: seconds per target (the drip server needs every step to time out)
CONCURRENCY = 8
# Slack of the bound = one deadline minus start-up: a 6 s deadline keeps it ~5 s on a busy CI.
STALL_TIMEOUT, STALL_DEADLINE, STALL_CONCURRENCY = 1.0, 6.0, 10
MAX_RSS_MB = 256  # peak RSS bound of one auditor process in these scans (measured: ~110 MB)


@dataclass(frozen=True)
class Case:
    section: str
    name: str
    tried: str
    outcome: str  # what the tests assert
    test: str  # the test that asserts it
    kind: str = ""  # hostile_server kind (lab cases)
    host: str = ""  # the inventory target (lab cases)
    domain: bool = False  # the target is an inventory domain (a zone), not a host


def _web(n: int, kind: str, tried: str, outcome: str, section: str) -> Case:
    return Case(
        section,
        kind,
        tried,
        outcome,
        "tests/lab/test_hostile.py::test_case",
        kind,
        f"{kind}.{ZONE}",
    )


def _dns(label: str, tried: str, outcome: str) -> Case:
    return Case(
        "fault: DNS",
        f"dns-{label}",
        tried,
        outcome,
        "tests/lab/test_hostile.py::test_case",
        "dns",
        f"www.{label}.{ZONE}",
    )


LAB_CASES: tuple[Case, ...] = (
    _web(
        1,
        "silent",
        "TCP server that accepts on 80 and 443 and never answers",
        "http and tls outcome `timeout`; the target ends within the deadline; "
        "`tls.protocols.*` and `tls.ciphers` not_tested (no hello answered), never fail",
        "fault: TCP",
    ),
    _web(
        2,
        "drip",
        "TCP server that drips one byte per second (80 and 443)",
        "http and tls outcome `timeout` (the whole request is bounded, not each read); "
        "no protocol verdict",
        "fault: TCP",
    ),
    _web(
        3,
        "reset",
        "half an HTTP response then a TCP RST; RST after the ClientHello",
        "http outcome `reset`; tls outcome `reset`; `tls.available` fail, no version passes",
        "fault: TCP",
    ),
    _web(
        4,
        "headers-endless",
        "status line, then header lines forever",
        "http outcome `too_large` (header cap) or `protocol_error`",
        "fault: HTTP",
    ),
    _web(
        5,
        "header-huge",
        "one 8 MiB header line",
        "http outcome `too_large` or `protocol_error`",
        "fault: HTTP",
    ),
    _web(
        6,
        "body-1g",
        "Content-Length 1 GiB, streamed",
        "http outcome `ok`, body sketch `truncated` at max_body (512 KiB); RSS bounded",
        "fault: HTTP",
    ),
    _web(
        7,
        "gzip-bomb",
        "gzip body (1 MiB) that inflates to 1 GiB",
        "http outcome `ok`, body `truncated` at max_body after decompression; RSS bounded",
        "fault: HTTP",
    ),
    _web(8, "redirect-loop", "/ -> /a -> / ...", "http chain stopped: `loop`", "fault: HTTP"),
    _web(
        9,
        "redirect-50",
        "a chain of 50 same-host redirects",
        "http chain stopped: `max-redirects` after max_redirects (10) hops",
        "fault: HTTP",
    ),
    _web(
        10,
        "bad-status",
        "an invalid status line with NUL and HTML",
        "http outcome `protocol_error`",
        "fault: HTTP",
    ),
    _web(
        11,
        "million-links",
        "an HTML page with 1 000 000 links to distinct hosts",
        "body capped at 512 KiB and the list marked `cut`; 50 hosts probed, the rest "
        "counted in `skipped_hosts`; `ipv6.web.only` not pass",
        "fault: HTTP",
    ),
    _web(
        12,
        "tls-garbage",
        "random bytes in a handshake record instead of a ServerHello",
        "tls outcome `tls_error`/`protocol_error` naming the failure; `tls.available` fail; "
        "no `tls.protocols.legacy` pass",
        "fault: TLS",
    ),
    _web(
        13,
        "tls-alert",
        "a handshake_failure alert on every ClientHello",
        "tls outcome `tls_alert`; every version `rejected`",
        "fault: TLS",
    ),
    _web(
        14,
        "tls-stall",
        "reads the ClientHello, never answers",
        "tls outcome `timeout`; `tls.protocols.modern`/`legacy` not_tested, never "
        '"accepts neither TLS 1.2 nor TLS 1.3"',
        "fault: TLS",
    ),
    _web(
        15,
        "tls-chain50",
        "real TLS with a chain of 50 certificates (untrusted root)",
        "handshake `ok`; the first 16 certificates kept (leaf judged), `chain_truncated`; "
        "`tls.cert.trusted` and `tls.cert.signature` not pass (chain too long, not read whole)",
        "fault: TLS",
    ),
    _web(
        16,
        "tls-absurd",
        "certificate names with HTML and control characters",
        "handshake `ok`; names stored as data; `tls.cert.hostname`/`trusted` fail; "
        "reports escape them",
        "fault: TLS",
    ),
    _dns(
        "timeout",
        "delegated zone whose name server never answers",
        "`dns.resolve` not pass; via Unbound `timeout`/`servfail`; direct `timeout`",
    ),
    _dns(
        "trunc",
        "UDP answers truncated (TC), TCP fallback broken (RST mid-length)",
        'via Unbound `servfail`; direct `error` "truncated UDP answer; the TCP retry failed"',
    ),
    _dns(
        "malformed",
        "answers whose counts lie and whose records are noise",
        "via Unbound `servfail`/`timeout`; direct: dropped like a spoofed packet, `timeout`",
    ),
    _dns(
        "loop",
        "a CNAME loop (www -> a -> b -> a) in one answer",
        'no addresses; via Unbound `servfail`; direct `error` "CNAME loop"',
    ),
    _dns(
        "big",
        "500 A records (TC over UDP, full answer over TCP)",
        "100 of 500 records kept (max_dns_records), the answer marked `truncated`, the "
        "detail says 500; their addresses (127/8) refused by the guard, no traffic",
    ),
    Case(
        "fault: DNS",
        "cname-loop-resolver",
        "CNAME loop inside a zone served by Knot",
        "the resolver's answer has no addresses: `dns.resolve` fail/not_tested",
        "tests/lab/test_hostile.py::test_case",
        "",
        f"cloop1.{ZONE}",
    ),
    Case(
        "fault: DNS",
        "ns-timeout",
        "a zone whose only name server never answers",
        "NS and SOA lookups `timeout`; zone checks `not_tested` naming the timeout",
        "tests/lab/test_hostile.py::test_case",
        "dns",
        f"timeout.{ZONE}",
        domain=True,
    ),
    Case(
        "fault: DNS",
        "ns-trunc",
        "a zone whose name server truncates every UDP answer and resets TCP",
        "NS-reach: udp `answered` (TC, needs TCP), tcp `reset`; `ipv6.ns.reach` fail",
        "tests/lab/test_hostile.py::test_case",
        "dns",
        f"trunc.{ZONE}",
        domain=True,
    ),
    Case(
        "fault: DNS",
        "ns-malformed",
        "a zone whose name server answers SOA queries with malformed messages",
        "NS-reach: udp and tcp `protocol_error`; `ipv6.ns.reach` fail",
        "tests/lab/test_hostile.py::test_case",
        "dns",
        f"malformed.{ZONE}",
        domain=True,
    ),
    Case(
        "fault: SMTP",
        "smtp-tarpit",
        "MX whose 220 greeting comes one byte per second",
        'smtp outcome `timeout` ("no greeting before the timeout"); `ipv6.mx.reach` fail',
        "tests/lab/test_hostile.py::test_case",
        "smtp-tarpit",
        ZONE,
        domain=True,
    ),
)

OTHER_CASES: tuple[Case, ...] = (
    Case(
        "load / deadlines",
        "hostile-scan",
        f"the whole hostile inventory at once "
        f"(--timeout {TIMEOUT:g}, --deadline {DEADLINE:g}, --concurrency {CONCURRENCY})",
        "exit 0, no traceback, wall time <= (targets / concurrency + 1) x deadline, "
        f"peak RSS < {MAX_RSS_MB} MB",
        "tests/lab/test_hostile.py::test_scan_ends_in_time",
    ),
    Case(
        "load / deadlines",
        "all-stall",
        f"{STALL_HOSTS} hosts that all accept and never answer "
        f"(--timeout {STALL_TIMEOUT:g}, --deadline {STALL_DEADLINE:g}, "
        f"--concurrency {STALL_CONCURRENCY})",
        f"ends within ({STALL_HOSTS}/{STALL_CONCURRENCY} + 1) x {STALL_DEADLINE:g} s; every "
        "target stored; findings not_tested/fail naming the timeout",
        "tests/lab/test_hostile.py::test_whole_scan_stalls",
    ),
    Case(
        "load / deadlines",
        "direct-resolver",
        "the DNS faults with the hostile server as the auditor's own --resolver",
        "each DNS fault a distinct outcome (see fault: DNS)",
        "tests/lab/test_hostile.py::test_direct_resolver",
    ),
    Case(
        "the scanner's own footing",
        "no-ipv6-client",
        "a client namespace with no IPv6 address but link-local and no IPv6 route at all "
        "(tests/lab/netns.py v4_client_create)",
        "every IPv6 reachability verdict and every check of an IPv6 address `not_tested` with "
        '"the scanner has no IPv6 connectivity"; IPv6 addresses not probed; nothing fails; '
        "`auditor evaluate` gives the same verdicts",
        "tests/lab/test_footing.py::test_client_without_ipv6_gets_not_tested_never_fail",
    ),
    Case(
        "the scanner's own footing",
        "no-ipv6-gate",
        "`auditor gate` of a good site from the client without IPv6",
        'exit 2 (incomplete); the first line says "the scanner has no IPv6 connectivity"',
        "tests/lab/test_footing.py::test_gate_without_ipv6_exits_2_and_says_why_first",
    ),
    Case(
        "the scanner's own footing",
        "dead-resolver",
        "--resolver answering NXDOMAIN for everything (the root included), SERVFAIL for "
        "everything, never answering, or a closed port",
        "diagnosed on stderr within 5 s (closed port: `refused`, not a timeout); exit 2; every "
        'finding `not_tested` "the scanner\'s resolver ..."',
        "tests/lab/test_footing.py::test_dead_resolver_is_diagnosed_at_once_and_takes_the_blame",
    ),
    Case(
        "the scanner's own footing",
        "suffix-resolver",
        "--resolver answering the root but NXDOMAIN for the public suffixes gov.vn and vn",
        "footing `degraded` naming them; names under them `not_tested`, attributed to the "
        "resolver; exit 2 (no inventory name could be resolved)",
        "tests/lab/test_footing.py::test_resolver_failing_the_public_suffixes_takes_the_blame",
    ),
    Case(
        "the scanner's own footing",
        "reference-silent",
        "--reference to a host whose IPv6 address is a black hole",
        "IPv6 footing `down` (no reference answered); IPv6 verdicts `not_tested`, none fails",
        "tests/lab/test_footing.py::test_silent_reference_makes_the_family_down",
    ),
    Case(
        "the scanner's own footing",
        "overload",
        "a target probed while the event loop was saturated (LoopMonitor episode), its IPv6 "
        "connects timed out",
        'the verdicts its timeouts decided `not_tested` "the scanner was overloaded ..."; the '
        "others unchanged",
        "tests/unit/test_selfcheck.py::test_overload_turns_the_verdicts_timeouts_decided_into_"
        "not_tested",
    ),
    Case(
        "interruption",
        "sigint",
        "SIGINT half-way through a scan",
        "exit 130; finished targets in the store (status interrupted); `--resume` probes only "
        "the rest",
        "tests/integration/test_resume.py::test_interrupted_scan_keeps_finished_targets_"
        "and_resumes[SIGINT]",
    ),
    Case(
        "interruption",
        "sigkill",
        "SIGKILL half-way through a scan",
        "finished targets in the store (status running); integrity ok; `--resume` probes only "
        "the rest",
        "tests/integration/test_resume.py::test_interrupted_scan_keeps_finished_targets_"
        "and_resumes[SIGKILL]",
    ),
    Case(
        "interruption",
        "sigkill-lab",
        "SIGKILL an `auditor scan` of hostile hosts while stalling targets hang",
        "finished targets in the store, integrity ok; `--resume` completes the scan and "
        "connects only to the unfinished targets (the hostile servers' connection log)",
        "tests/lab/test_hostile.py::test_sigkill_then_resume",
    ),
    Case(
        "concurrency",
        "two-connections",
        "two writers (connections) on one store in one process",
        "no corruption",
        "tests/integration/test_store.py::test_two_writers_do_not_corrupt",
    ),
    Case(
        "concurrency",
        "two-processes",
        "two `auditor scan` processes on one new --db at "
        "once (schema creation race, interleaved commits)",
        "both complete; each target once with all its findings; integrity ok; evaluate reads both",
        "tests/integration/test_store_concurrency.py::test_two_scan_processes_share_one_store",
    ),
    Case(
        "concurrency",
        "two-resumes",
        "two `--resume` of one unfinished scan at once",
        "one scan, complete; each target once; no duplicate findings",
        "tests/integration/test_store_concurrency.py::test_two_resumes_of_one_scan_at_once",
    ),
)


def bad_input_cases() -> tuple[Case, ...]:
    """Rows for the named bad inputs of tests/unit/test_fuzz_cli.py, plus its fuzzers."""
    from tests.unit import test_fuzz_cli as f

    ok = "exit 2, `file:line: field: message`, no traceback, nothing probed"
    rows = (
        [
            Case(
                "bad input",
                f"inventory: {name}",
                "inventory (`inventory validate`, `scan`)",
                ok,
                "tests/unit/test_fuzz_cli.py::test_bad_inventory_validate_and_scan",
            )
            for name in sorted(f.BAD_INVENTORIES)
        ]
        + [
            Case(
                "bad input",
                f"profile: {name}",
                "profile (`scan --profile FILE`)",
                ok,
                "tests/unit/test_fuzz_cli.py::test_bad_profile_scan",
            )
            for name in sorted(f.BAD_PROFILES)
        ]
        + [
            Case(
                "bad input",
                "missing file / a directory",
                "inventory and profile paths",
                ok,
                "tests/unit/test_fuzz_cli.py::test_missing_files",
            ),
            Case(
                "bad input",
                "fuzz: mutated YAML inventories (hypothesis)",
                "a valid inventory "
                "with one host, domain, id, key, line or path replaced by drawn text; duplicated "
                "lines; raw text",
                "exit 0 or 2; on 2 as above",
                "tests/unit/test_fuzz_cli.py::test_fuzz_inventory_cli",
            ),
            Case(
                "bad input",
                "fuzz: CSV inventories (hypothesis)",
                "random rows",
                "exit 0 or 2; on 2 as above",
                "tests/unit/test_fuzz_cli.py::test_fuzz_csv_inventory_cli",
            ),
            Case(
                "bad input",
                "fuzz: mutated profiles (hypothesis)",
                "the vn-gov profile with a "
                "line replaced, dropped, duplicated or a value replaced; raw text",
                "valid, or exit 2 as above",
                "tests/unit/test_fuzz_cli.py::test_fuzz_profile_cli",
            ),
        ]
    )
    return tuple(rows)


def all_cases() -> tuple[Case, ...]:
    return LAB_CASES + OTHER_CASES + bad_input_cases()


# -- the doc ------------------------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_doc() -> str:
    out = [
        "# Robustness: load, faults, bad input, interruption",
        "",
        "What the auditor was put through and what it must do. Every row is asserted by the",
        "test named in it; this file is generated from the table in `tests/lab/hostile.py`",
        "(`python -m tests.lab.hostile --write-doc`) and a unit test fails when it is stale.",
        "Hostile servers are real sockets in the lab (`tests/lab/hostile_server.py`, run in",
        "the lab's server namespace); lab rows run with `python -m pytest -m lab "
        "tests/lab/test_hostile.py`.",
        "",
        f"Lab scans: `--timeout {TIMEOUT:g} --deadline {DEADLINE:g} --concurrency "
        f"{CONCURRENCY}`; caps: max_body 512 KiB, max_header_bytes 64 KiB, max_redirects 10, "
        "max_dns_records 100.",
        "",
    ]
    section = None
    for c in all_cases():
        if c.section != section:
            section = c.section
            out += [
                "",
                f"## {section}",
                "",
                "| case | tried | outcome (asserted) | test |",
                "|---|---|---|---|",
            ]
        out.append(f"| {_md(c.name)} | {_md(c.tried)} | {_md(c.outcome)} | `{_md(c.test)}` |")
    return "\n".join(out) + "\n"


def write_doc(path: Path = DOC) -> None:
    path.write_text(render_doc(), encoding="utf-8")


# -- the lab ------------------------------------------------------------------------------------


def web_address(i: int) -> str:
    return f"2001:db8:bad::{i + 1:x}"


def stall_address(i: int) -> str:
    return f"2001:db8:bad:1::{i + 1:x}"


def web_kinds() -> list[str]:
    return [c.kind for c in LAB_CASES if c.kind and c.kind not in ("dns", "smtp-tarpit")]


def zone_records() -> tuple[str, ...]:
    recs = [f"@ MX 10 tarpit.{ZONE}.", f"tarpit AAAA {SMTP_V6}", '@ TXT "v=spf1 -all"']
    for i, kind in enumerate(web_kinds()):
        recs.append(f"{kind} AAAA {web_address(i)}")
    for i in range(STALL_HOSTS):
        recs.append(f"stall{i} AAAA {stall_address(i)}")
    recs += [f"ns.dnsh AAAA {DNS_V6}", f"ns.dnsh A {DNS_V4}"]
    recs += [f"cloop1 CNAME cloop2.{ZONE}.", f"cloop2 CNAME cloop1.{ZONE}."]
    return tuple(recs)


DNS_LABELS = ("timeout", "trunc", "malformed", "loop", "big")


def hostile_scenario() -> Scenario:
    children = tuple(
        Zone(f"{lbl}.{ZONE}", signing="none", ns=(f"ns.dnsh.{ZONE}",), served=False)
        for lbl in DNS_LABELS
    )
    zones = (Zone(ZONE, signing="none", records=zone_records()), *children)
    return Scenario(name="hostile-servers", description="hostile servers", zones=zones)


def lab_scenarios() -> tuple[Scenario, ...]:
    good = tuple(s for s in SCENARIOS if s.name == "good")
    return (*good, hostile_scenario())


def server_specs() -> list[str]:
    specs = [f"{k}@{web_address(i)}" for i, k in enumerate(web_kinds())]
    specs += [f"silent@{stall_address(i)}" for i in range(STALL_HOSTS)]
    specs += [f"dns@{DNS_V6}", f"dns@{DNS_V4}", f"smtp-tarpit@{SMTP_V6}"]
    return specs


def hostile_addresses() -> list[str]:
    return [s.split("@", 1)[1] for s in server_specs()]


def make_certs(out: Path) -> None:
    """tls-chain50 (leaf + 49 intermediates under a root that is not sent) and tls-absurd."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(cn: str, org: str = "Hostile lab") -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            ]
        )

    def cert(
        subject: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        issuer: x509.Name,
        issuer_key: ec.EllipticCurvePrivateKey,
        ca: bool,
        sans: list[str] | None = None,
    ) -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            b = b.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
            )
        return b.sign(issuer_key, hashes.SHA256())

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def write(stem: str, certs: list[x509.Certificate], k: ec.EllipticCurvePrivateKey) -> None:
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
        (out / f"{stem}.pem").write_bytes(pem)
        (out / f"{stem}.key").write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    root_key = key()
    root_name = name("Hostile root (not sent)")
    issuer_name, issuer_key = root_name, root_key
    chain: list[x509.Certificate] = []
    for i in range(49):
        k = key()
        n = name(f"Hostile intermediate {49 - i}")
        chain.append(cert(n, k, issuer_name, issuer_key, ca=True))
        issuer_name, issuer_key = n, k
    leaf_key = key()
    host = f"tls-chain50.{ZONE}"
    leaf = cert(name(host), leaf_key, issuer_name, issuer_key, ca=False, sans=[host])
    write("tls-chain50", [leaf, *reversed(chain)], leaf_key)

    k = key()
    absurd = name('<script>alert("cn")</script>\x07\x1b[31m\u202eevil', '<b>Bộ</b>\x00"&<i>')
    sans = ["<img src=x onerror=alert(1)>.hostile.vn", "a\x01b.hostile.vn", "*.*.hostile.vn"]
    write("tls-absurd", [cert(absurd, k, absurd, k, ca=False, sans=sans)], k)


class HostileLab:
    """A Lab with the hostile zone, plus the hostile servers running in its server ns."""

    def __init__(self, tag: str) -> None:
        from .lab import Lab

        self.lab = Lab(tag, scenarios=lab_scenarios())
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def dir(self) -> Path:
        return self.lab.dir

    @property
    def connection_log(self) -> Path:
        """Every TCP connection the hostile servers accepted: "ADDRESS PORT" lines."""
        return self.dir / "connections.log"

    def connections(self) -> list[tuple[str, int]]:
        if not self.connection_log.exists():
            return []
        lines = self.connection_log.read_text(encoding="ascii").splitlines()
        return [(a, int(p)) for a, p in (ln.split() for ln in lines if ln.strip())]

    def up(self) -> HostileLab:
        from .lab import LabError

        self.lab.up()
        try:
            batch = []
            for a in hostile_addresses():
                plen = 128 if ipaddress.ip_address(a).version == 6 else 32
                batch.append(f"addr add {a}/{plen} dev lo" + (" nodad" if plen == 128 else ""))
            r = subprocess.run(
                ["ip", "-n", self.lab.server_ns, "-batch", "-"],
                input="\n".join(batch) + "\n",
                capture_output=True,
                text=True,
                check=False,
            )
            if r.returncode != 0:
                raise LabError(f"adding hostile addresses: {r.stderr}")
            certs = self.dir / "hostile-certs"
            make_certs(certs)
            log = open(self.dir / "hostile_server.log", "wb")  # noqa: SIM115 (held by the child)
            env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
            self.proc = subprocess.Popen(
                self.lab.netns.exec_srv(
                    [
                        sys.executable,
                        "-m",
                        "tests.lab.hostile_server",
                        "--certs",
                        str(certs),
                        "--connections",
                        str(self.connection_log),
                        *server_specs(),
                    ]
                ),
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
                env=env,
                start_new_session=True,
            )
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()  # "ready" (after binding every socket)
            if line.strip() != b"ready":
                self.proc.wait(timeout=5)
                raise LabError(
                    "hostile server did not start: "
                    + (self.dir / "hostile_server.log").read_text(errors="replace")[-3000:]
                )
        except BaseException:
            self.down()
            raise
        return self

    def down(self, keep_dir: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        self.lab.down(keep_dir=keep_dir)

    # -- inventories and scans ------------------------------------------------------------------
    def inventory(self, name: str, hosts: list[str], domains: list[str] = ()) -> Path:  # type: ignore[assignment]
        import yaml

        inv = {
            "version": 1,
            "name": f"Hostile lab: {name}",
            "agencies": [
                {
                    "id": f"hostile-{name}",
                    "name": f"Hostile {name}",
                    "hosts": hosts,
                    **({"domains": list(domains)} if domains else {}),
                }
            ],
        }
        path = self.dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(inv, sort_keys=False))
        return path

    def run_scan(
        self, name: str, inventory: Path, *extra: str, timeout: float = 600, reports: bool = True
    ) -> ScanRun:
        """`auditor scan` in the client namespace; `reports=False`: no --json/--out (only the
        store), when the test measures the scan itself."""
        out = self.dir / f"out-{name}"
        out.mkdir(parents=True, exist_ok=True)
        outputs = ["--json", str(out / "scan.json"), "--out", str(out / "html")]
        args = [
            "scan",
            str(inventory),
            "--db",
            str(out / "scan.db"),
            *(outputs if reports else []),
            "--ca-file",
            str(self.lab.ca_file),
            "--quiet",
            *extra,
        ]
        for net in self.lab.allow_nets:
            args += ["--allow-net", net]
        wrapper = [sys.executable, "-c", _RUSAGE, sys.executable, "-m", "auditor", *args]
        t0 = time.monotonic()
        r = self.lab.run_in_client(
            wrapper, timeout=timeout, cwd=REPO_ROOT, env=self.lab.auditor_env()
        )
        wall = time.monotonic() - t0
        rss_kb = 0
        for line in r.stderr.splitlines():
            if line.startswith("MAXRSS_KB "):
                rss_kb = int(line.split()[1])
        return ScanRun(
            r.returncode, r.stdout, r.stderr, wall, rss_kb, out / "scan.db", out / "scan.json"
        )


# Runs the auditor as a child and reports its peak RSS (ru_maxrss of the waited child, KiB).
_RUSAGE = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[1:])\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


@dataclass
class ScanRun:
    returncode: int
    stdout: str
    stderr: str
    wall: float
    max_rss_kb: int
    db: Path
    json: Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab.hostile")
    p.add_argument("--write-doc", action="store_true", help=f"write {DOC.relative_to(REPO_ROOT)}")
    p.add_argument("--check-doc", action="store_true", help="exit 1 when the doc is stale")
    p.add_argument("--up", metavar="TAG", help="bring a hostile lab up (by hand)")
    p.add_argument("--down", metavar="TAG", help="tear a hostile lab down")
    args = p.parse_args(argv)
    if args.write_doc:
        write_doc()
        print(f"wrote {DOC}")
    stale = not DOC.exists() or DOC.read_text(encoding="utf-8") != render_doc()
    if args.check_doc and stale:
        print(f"{DOC} is stale: run python -m tests.lab.hostile --write-doc", file=sys.stderr)
        return 1
    if args.up:
        import atexit

        h = HostileLab(args.up).up()
        h.proc = None  # leave it running; `--down TAG` (or `python -m tests.lab down`) stops it
        h.lab._atexit = False
        atexit.unregister(h.lab._atexit_down)
        print(f"hostile lab {args.up} up: {h.dir}; servers: {' '.join(server_specs())}")
    if args.down:
        from .lab import Lab

        Lab.down_from_state(Path(f"/tmp/auditor-lab-{args.down}"), args.down)
    return 0


if __name__ == "__main__":
    sys.exit(main())
