"""Postfix for the lab's STARTTLS scenarios (issue #20): ONE Postfix master, run in the
server namespace with its own config and queue directories (no system instance), one
smtpd service per listen address in master.cf, each with its own settings as `-o`
overrides (certificate, protocols, cipher list, server cipher order).

Debian's postfix is used as installed; the system instance is never started
(/usr/sbin/policy-rc.d). `master -d` stays in the foreground, so the lab records and stops
its PID like the other daemons'; its children (smtpd, anvil, tlsmgr, ...) die with it.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from .scenarios import GOOD_CIPHERS_EC, GOOD_CIPHERS_RSA, MAIL_SIGALGS, Mta
from .web import Placed

MASTER = "/usr/lib/postfix/sbin/master"
QUEUE_DIRS = (
    "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
    "private", "saved", "trace", "maildrop", "public",
)  # fmt: skip


# RFC 9155: no SHA-1 (nor SHA-224) signatures in TLS 1.2 handshakes
OPENSSL_CNF = (
    "openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n[ssl_sect]\n"
    "system_default = system_default_sect\n[system_default_sect]\n"
    f"SignatureAlgorithms = {MAIL_SIGALGS}\n"
)


def available() -> bool:
    return Path(MASTER).exists()


@dataclass(frozen=True)
class Listener:
    address: str  # literal
    mta: Mta
    chain_file: Path  # key + leaf + chain in one PEM (smtpd_tls_chain_files, one file)
    key_type: str  # ec | rsa...
    name: str  # the MX host name (the greeting's myhostname)


def _cipherlist(listener: Listener) -> str:
    m = listener.mta
    if m.ciphers:
        return m.ciphers
    return GOOD_CIPHERS_EC if listener.key_type == "ec" else GOOD_CIPHERS_RSA


def _service(listener: Listener) -> str:
    m = listener.mta
    addr = f"[{listener.address}]" if ":" in listener.address else listener.address
    opts = {
        "myhostname": listener.name,
        "smtpd_tls_chain_files": str(listener.chain_file),
        # Postfix 3.6+ range syntax (postconf(5) smtpd_tls_protocols)
        "smtpd_tls_protocols": m.protocols,
        "smtpd_tls_mandatory_protocols": m.protocols,
        "smtpd_tls_ciphers": "medium",
        "tls_medium_cipherlist": _cipherlist(listener),
        "tls_preempt_cipherlist": "yes" if m.prefer_server else "no",
    }
    if m.ssl_options:
        opts["tls_ssl_options"] = m.ssl_options
    return f"{addr}:25 inet n - n - - smtpd " + " ".join(f"-o {k}={v}" for k, v in opts.items())


def listeners(placed: list[Placed]) -> list[Listener]:
    out: list[Listener] = []
    for p in placed:
        h = p.host
        if h.smtp != "postfix" or p.cert is None:
            continue
        chain = p.cert.chain.parent / f"{h.name}-postfix.pem"
        chain.write_text(p.cert.key.read_text() + p.cert.chain.read_text())
        chain.chmod(0o600)
        for family, address in p.families():
            mta = h.mta6 if family == "v6" and h.mta6 is not None else h.mta
            if family == "v6" and not h.smtp6:
                continue
            out.append(Listener(address, mta, chain, h.cert.key, h.name))
    return out


def write_config(d: Path, placed: list[Placed]) -> list[Listener]:
    """The config and queue directories of the lab's Postfix; the listeners it serves."""
    if d.exists():
        shutil.rmtree(d)
    etc, queue, data = d / "etc", d / "spool", d / "data"
    for sub in (etc, queue, data):
        sub.mkdir(parents=True)
    uid, gid = pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postfix").gr_gid
    postdrop = grp.getgrnam("postdrop").gr_gid
    for name in QUEUE_DIRS:
        q = queue / name
        q.mkdir()
        os.chown(q, uid, postdrop if name in ("maildrop", "public") else gid)
        q.chmod({"maildrop": 0o730, "public": 0o710, "private": 0o700}.get(name, 0o700))
    (queue / "pid").mkdir()
    os.chown(data, uid, gid)
    found = listeners(placed)
    (etc / "main.cf").write_text(
        "\n".join(
            [
                "compatibility_level = 3.6",
                f"queue_directory = {queue}",
                f"data_directory = {data}",
                "mail_owner = postfix",
                "setgid_group = postdrop",
                "myhostname = mx.lab.invalid",
                "mydestination =",
                "local_recipient_maps =",
                "alias_maps =",
                "alias_database =",
                "inet_interfaces = all",
                "inet_protocols = all",
                # postlogd writes to master's stdout: the lab's master.out
                "maillog_file = /dev/stdout",
                # OpenSSL's default signature algorithms sign a TLS 1.2 key exchange with
                # SHA-1 when a client offers only that (tls.kex_hash); Postfix 3.7 has no
                # setting for them, so an OpenSSL config file gives its children the list
                f"import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C "
                f"POSTLOG_SERVICE POSTLOG_HOSTNAME OPENSSL_CONF={d / 'openssl.cnf'}",
                # no reverse lookups of the client (the lab's resolver is the client's)
                "smtpd_peername_lookup = no",
                "smtpd_tls_security_level = may",
                "smtpd_tls_session_cache_database =",
                # the auditor opens ~60 connections per address: no anvil limits
                "smtpd_client_connection_rate_limit = 0",
                "smtpd_client_connection_count_limit = 0",
                "",
            ]
        )
    )
    (d / "openssl.cnf").write_text(OPENSSL_CNF)
    services = [_service(x) for x in found]
    (etc / "master.cf").write_text(
        "\n".join(
            [
                *services,
                "anvil unix - - n - 1 anvil",
                "tlsmgr unix - - n 1000? 1 tlsmgr",
                "proxymap unix - - n - - proxymap",
                "rewrite unix - - n - - trivial-rewrite",
                "postlog unix-dgram n - n - 1 postlogd",
                "",
            ]
        )
    )
    return found


def master_cmd(d: Path) -> list[str]:
    return [MASTER, "-c", str(d / "etc"), "-d"]


__all__ = ["Listener", "available", "listeners", "master_cmd", "write_config"]
