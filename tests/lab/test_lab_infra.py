"""The lab itself answers as designed (independent of the auditor): DNS/DNSSEC through the
lab Unbound, nginx over v4 and v6, filtered addresses, SMTP, isolation, clean teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import require_lab
from .lab import REPO_ROOT, Lab, LabError, _alive
from .netns import netns_list
from .scenarios import RESOLVER_V4, SCENARIOS

pytestmark = pytest.mark.lab


def dig(lab: Lab, *args: str) -> str:
    r = lab.run_in_client(["dig", "+time=2", "+tries=1", *args], timeout=20)
    return r.stdout


def py_in_client(lab: Lab, code: str) -> str:
    r = lab.run_in_client([sys.executable, "-c", textwrap.dedent(code)], timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_started_fast(lab: Lab) -> None:
    assert lab.started_in is not None and lab.started_in < 30, lab.started_in


def test_client_resolver_is_lab_unbound(lab: Lab) -> None:
    r = lab.run_in_client(["cat", "/etc/resolv.conf"])
    assert f"nameserver {RESOLVER_V4}" in r.stdout


def test_client_routes_only_documentation_prefixes(lab: Lab) -> None:
    r4 = lab.run_in_client(["ip", "-4", "route"]).stdout
    r6 = lab.run_in_client(["ip", "-6", "route"]).stdout
    assert "default" not in r4 and "default" not in r6
    assert "192.0.2.0/24" in r4 and "198.51.100.0/24" in r4
    assert "2001:db8::/32" in r6
    # nothing outside the lab is reachable
    out = py_in_client(
        lab,
        """
        import socket
        s = socket.socket(); s.settimeout(1)
        try:
            s.connect(("10.255.255.53", 53)); print("connected")
        except OSError as e:
            print(type(e).__name__, e.errno)
        """,
    )
    assert "connected" not in out


def test_dnssec_secure_zone_has_ad(lab: Lab) -> None:
    out = dig(lab, "+dnssec", "www.good.gov.vn", "AAAA")
    assert "status: NOERROR" in out
    assert " ad;" in out or " ad " in out.split("flags:")[1].split(";")[0] + " "
    assert "2001:db8:80::" in out


@pytest.mark.parametrize("zone", ["bogusds.gov.vn", "expiredsig.gov.vn"])
def test_dnssec_bogus_is_servfail_but_data_with_cd(lab: Lab, zone: str) -> None:
    assert "status: SERVFAIL" in dig(lab, "+dnssec", zone, "SOA")
    cd = dig(lab, "+cd", "+dnssec", zone, "SOA")
    assert "status: NOERROR" in cd and "\tSOA\t" in cd


def test_unsigned_zone_is_insecure(lab: Lab) -> None:
    out = dig(lab, "+dnssec", "unsigned.gov.vn", "SOA")
    assert "status: NOERROR" in out
    flags = out.split("flags:")[1].split(";")[0]
    assert " ad" not in flags


def test_nxdomain_is_authenticated(lab: Lab) -> None:
    out = dig(lab, "+dnssec", "www.nxdomain.gov.vn", "A")
    assert "status: NXDOMAIN" in out
    assert " ad" in out.split("flags:")[1].split(";")[0]


def test_https_over_v4_and_v6(lab: Lab) -> None:
    for fam in ("-4", "-6"):
        r = lab.run_in_client(
            ["curl", fam, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
             str(lab.ca_file), "https://www.good.gov.vn/"],
        )  # fmt: skip
        assert r.stdout == "200", (fam, r.stderr)
    r = lab.run_in_client(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
         "http://www.good.gov.vn/"],
    )  # fmt: skip
    assert r.stdout == "301 https://www.good.gov.vn/"


def test_sni_selects_certificate(lab: Lab) -> None:
    # mta-sts.good.gov.vn shares www.good.gov.vn's addresses; SNI picks its certificate.
    r = lab.run_in_client(
        ["curl", "-sS", "--cacert", str(lab.ca_file),
         "https://mta-sts.good.gov.vn/.well-known/mta-sts.txt"],
    )  # fmt: skip
    assert "mode: enforce" in r.stdout, r.stderr


def _connect(lab: Lab, addr: str, port: int) -> str:
    return py_in_client(
        lab,
        f"""
        import socket, time
        s = socket.socket(socket.AF_INET6 if ":" in {addr!r} else socket.AF_INET)
        s.settimeout(1.5); t = time.monotonic()
        try:
            s.connect(({addr!r}, {port})); print("open")
        except TimeoutError:
            print("timeout")
        except ConnectionRefusedError:
            print("refused")
        """,
    )


def test_drop_times_out_and_reject_refuses(lab: Lab) -> None:
    assert _connect(lab, lab.addresses("www.v6drop.gov.vn")["v6"], 443) == "timeout"
    assert _connect(lab, lab.addresses("www.v6drop.gov.vn")["v4"], 443) == "open"
    assert _connect(lab, lab.addresses("www.v6refused.gov.vn")["v6"], 443) == "refused"
    assert _connect(lab, lab.addresses("www.v6no443.gov.vn")["v6"], 443) == "refused"
    assert _connect(lab, lab.addresses("www.v6no443.gov.vn")["v6"], 80) == "open"
    assert _connect(lab, lab.addresses("www.nolisten.gov.vn")["v4"], 443) == "refused"


def _s_client(lab: Lab, addr: str, host: str, *opts: str) -> str:
    target = f"[{addr}]:443" if ":" in addr else f"{addr}:443"
    r = lab.run_in_client(
        ["openssl", "s_client", "-connect", target, "-servername", host,
         "-CAfile", str(lab.ca_file), *opts],
        input="", timeout=20,
    )  # fmt: skip
    return r.stdout + r.stderr


def test_tls10_only_on_v6(lab: Lab) -> None:
    a = lab.addresses("www.tls10v6.gov.vn")
    legacy = ("-tls1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert "New, (NONE), Cipher is (NONE)" in _s_client(lab, a["v4"], "www.tls10v6.gov.vn", *legacy)
    assert "New, TLSv1.0, Cipher is ECDHE" in _s_client(lab, a["v6"], "www.tls10v6.gov.vn", *legacy)


def test_certificate_scenarios(lab: Lab) -> None:
    def verify(host: str, fam: str = "v4", *o: str) -> str:
        out = _s_client(lab, lab.addresses(host)[fam], host, "-cipher", "DEFAULT:@SECLEVEL=0", *o)
        return out.split("Verify return code: ")[-1].split("\n")[0]

    assert verify("www.good.gov.vn").startswith("0 ")
    assert verify("www.expired.gov.vn").startswith("10 ")  # certificate has expired
    assert verify("www.selfsigned.gov.vn").startswith("18 ")  # self-signed
    assert verify("www.nointer.gov.vn").startswith("21 ")  # unable to verify first cert
    staple = _s_client(lab, lab.addresses("www.good.gov.vn")["v6"], "www.good.gov.vn", "-status")
    assert "OCSP Response Status: successful" in staple
    rsa = _s_client(lab, lab.addresses("www.rsa1024.gov.vn")["v4"], "www.rsa1024.gov.vn",
                    "-cipher", "DEFAULT:@SECLEVEL=0")  # fmt: skip
    assert "Server public key is 1024 bit" in rsa
    nopfs = _s_client(lab, lab.addresses("www.nopfs.gov.vn")["v4"], "www.nopfs.gov.vn")
    assert "Cipher is AES128-GCM-SHA256" in nopfs


def test_smtp_starttls_and_plain(lab: Lab) -> None:
    out = py_in_client(
        lab,
        """
        import smtplib, socket
        for host, fam in [("mx1.good.gov.vn", socket.AF_INET6),
                          ("mx1.nostarttls.gov.vn", socket.AF_INET6),
                          ("mx1.mxdead6.gov.vn", socket.AF_INET6)]:
            addr = socket.getaddrinfo(host, 25, fam)[0][4][0]
            try:
                s = smtplib.SMTP(addr, 25, timeout=3)
                s.ehlo("auditor.lab")
                print(host, "220", s.has_extn("starttls"))
                s.quit()
            except OSError as e:
                print(host, type(e).__name__)
        """,
    )
    assert "mx1.good.gov.vn 220 True" in out
    assert "mx1.nostarttls.gov.vn 220 False" in out
    assert "mx1.mxdead6.gov.vn ConnectionRefusedError" in out


def test_reconfigure_web_between_scans(lab: Lab) -> None:
    host = "www.nohsts.gov.vn"

    def hsts() -> str:
        r = lab.run_in_client(
            ["curl", "-sS", "-I", "--cacert", str(lab.ca_file), f"https://{host}/"]
        )
        return (
            "strict-transport-security" if "strict-transport-security" in r.stdout.lower() else ""
        )

    assert hsts() == ""
    lab.reconfigure_web(host, hsts="max-age=31536000")
    try:
        assert hsts() == "strict-transport-security"
    finally:
        lab.reconfigure_web(host, hsts=None)
    assert hsts() == ""


def test_change_dns_between_scans(lab: Lab) -> None:
    def aaaa() -> str:
        return dig(lab, "+dnssec", "+short", "www.v4only.gov.vn", "AAAA").strip()

    assert aaaa() == ""
    lab.change_dns("v4only.gov.vn", add=["www.v4only.gov.vn. AAAA 2001:db8:80::99"])
    try:
        assert aaaa().startswith("2001:db8:80::99")  # with its new RRSIG
        assert " ad;" in dig(lab, "+dnssec", "www.v4only.gov.vn", "AAAA")
    finally:
        lab.change_dns("v4only.gov.vn", remove=[("www.v4only.gov.vn", "AAAA")])
    assert aaaa() == ""


def test_second_lab_comes_up_and_leaves_nothing() -> None:
    require_lab()
    other = Lab(f"u{os.getpid()}"[:11])
    try:
        other.up()
        pids = dict(other.pids)
        assert all(_alive(p) for p in pids.values())
        assert other.server_ns in netns_list() and other.client_ns in netns_list()
        r = other.run_in_client(["dig", "+short", "www.good.gov.vn", "AAAA"])
        assert r.stdout.strip().startswith("2001:db8:80::")
    finally:
        other.down()
    assert other.leftovers() == []
    assert not any(_alive(p) for p in pids.values())
    assert not other.dir.exists()


def test_cli_up_scan_down_leaves_nothing() -> None:
    """`python -m tests.lab up`, something by hand in the client namespace, `down`."""
    require_lab()
    tag = f"c{os.getpid()}"[:11]

    def cli(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tests.lab", *a], cwd=REPO_ROOT, capture_output=True,
            text=True, timeout=900, check=False,
        )  # fmt: skip

    r = cli("up", "--tag", tag)
    try:
        assert r.returncode == 0, r.stderr
        f = Path(f"/tmp/auditor-lab-{tag}")
        state = json.loads((f / "state.json").read_text())
        pids = [int(p) for p in state["pids"].values()]
        assert all(_alive(p) for p in pids)
        r = cli("shell", "--tag", tag, "--", "dig", "+short", "www.good.gov.vn", "A")
        assert r.stdout.strip().startswith("192.0.2."), r.stdout + r.stderr
        s = cli("status", "--tag", tag)
        assert "running" in s.stdout and "MISSING" not in s.stdout
        # a scan by hand, as the README shows it
        sc = cli("scan", "--tag", tag, "--", "--quiet")
        assert (f / "scan" / "scan.json").exists(), sc.stdout + sc.stderr[-3000:]
    finally:
        d = cli("down", "--tag", tag)
    assert d.returncode == 0, d.stdout + d.stderr
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)
    assert not [n for n in netns_list() if n.startswith(f"auditor-lab-{tag}-")]
    assert not f.exists()
    assert not Path(f"/etc/netns/auditor-lab-{tag}-cli").exists()


class _BrokenNginxLab(Lab):
    def _write_nginx_conf(self) -> None:
        self.nginx_conf.write_text("this is not an nginx configuration;\n")


def test_half_started_lab_is_torn_down() -> None:
    """nginx refuses its config after Knot and Unbound started: up() fails loudly and
    leaves nothing behind."""
    require_lab()
    broken = _BrokenNginxLab(f"h{os.getpid()}"[:11])
    with pytest.raises(LabError, match="nginx exited"):
        broken.up()
    scripted = {f"depth_server:{h.name}" for s in SCENARIOS for h in s.hosts if h.tls_server}
    assert scripted  # the scripted TLS servers are started (and stopped) with the daemons
    # (postfix: the STARTTLS scenarios' MX, tests/lab/postfix.py)
    assert set(broken.stopped_pids) == {"knotd", "unbound", "nginx", "postfix", *scripted}
    assert broken.leftovers() == []
    assert not broken.dir.exists()
