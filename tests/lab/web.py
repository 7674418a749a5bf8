"""nginx configuration for the lab: one nginx instance, one server block per (host, address
family, port), web on 80/443 with SNI, SMTP (nginx mail module: 220 greeting, STARTTLS) on 25."""

from __future__ import annotations

import html
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .pki import Issued
from .scenarios import (
    GOOD_CIPHERS_EC,
    GOOD_CIPHERS_RSA,
    MAIL_SIGALGS,
    DeptPath,
    Host,
    Web,
    security_txt,
)

# security_txt="huge": far over the 100 KiB the auditor (and Internet.nl) reads
HUGE_SECTXT_MIB = 50

MODULES = (
    "/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so",
    "/usr/lib/nginx/modules/ngx_mail_module.so",
)


@dataclass(frozen=True)
class Placed:
    """A host with its lab addresses and certificate."""

    host: Host
    v4: str | None
    v6: str | None
    cert: Issued | None
    zone: str

    def web_for(self, family: str) -> Web:
        if family == "v6" and self.host.web6 is not None:
            return self.host.web6
        return self.host.web

    @property
    def serves_web(self) -> bool:
        h = self.host
        return h.smtp is None and not h.dns_only and h.cname is None

    def families(self) -> list[tuple[str, str]]:
        out = []
        if self.v4:
            out.append(("v4", self.v4))
        if self.v6:
            out.append(("v6", self.v6))
        return out


def _q(s: str) -> str:
    """nginx single-quoted string."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _listen(family: str, addr: str, port: int, ssl: bool = False) -> str:
    a = f"[{addr}]" if family == "v6" else addr
    return f"    listen {a}:{port}{' ssl' if ssl else ''};"


def page(p: Placed, body: str) -> str:
    h = p.host
    refs = "".join(
        f'  <script src="https://{r}/app.js"></script>\n'
        f'  <img src="https://{r}/logo.png" alt="logo">\n'
        for r in h.page_refs
    )
    if body == "other":
        text = (
            "<p>Maintenance mode. This IPv6 front end runs an old copy of the portal; "
            "contact the IT department. Lorem ipsum dolor sit amet.</p>" * 3
        )
        title = "Maintenance"
    else:
        text = (
            "<p>Cổng thông tin điện tử. Welcome to the portal of the agency. "
            "Thủ tục hành chính, văn bản, tin tức.</p>\n" * 20
        )
        title = f"Portal {html.escape(h.name)}"
    return (
        f"<!doctype html>\n<html lang=vi><head><meta charset=utf-8><title>{title}</title>\n"
        f"{refs}</head><body>\n<h1>{title}</h1>\n{text}</body></html>\n"
    )


def write_docroot(root: Path, p: Placed, body: str, sectxt: str, mx_hosts: list[str]) -> Path:
    d = root / p.host.name / f"{body}-{sectxt}"
    (d / ".well-known").mkdir(parents=True, exist_ok=True)
    (d / "index.html").write_text(page(p, body))
    (d / "landing.html").write_text(page(p, body))
    (d / "app.js").write_text("console.log('lab');\n")
    (d / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    st = security_txt("valid" if sectxt == "huge" else sectxt)
    if st is not None:
        with (d / ".well-known" / "security.txt").open("w") as f:
            f.write(st)
            if sectxt == "huge":  # a valid file, then 50 MiB of comment lines
                line = "# " + "x" * 1021 + "\n"
                f.writelines(line for _ in range(HUGE_SECTXT_MIB * 1024))
    if p.host.name.startswith("mta-sts.") and body != "nopolicy":
        lines = [
            "version: STSv1",
            "mode: enforce",
            *(f"mx: {m}" for m in mx_hosts),
            "max_age: 86400",
        ]
        (d / ".well-known" / "mta-sts.txt").write_text("\r\n".join(lines) + "\r\n")
    return d


def dept_location(root: Path, p: Placed, d: DeptPath) -> list[str]:
    """One department page (a folder of its own) and its nginx location."""
    folder = root / p.host.name / "dept" / d.path.strip("/").replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    refs = (
        f'  <script src="http://{p.host.name}/app.js"></script>\n'
        f'  <img src="http://{p.host.name}/logo.png" alt="logo">\n'
        if d.insecure
        else ""
    )
    (folder / "index.html").write_text(
        f"<!doctype html>\n<html lang=vi><head><meta charset=utf-8><title>{d.path}</title>\n"
        f"{refs}</head><body>\n<h1>Trang đơn vị {html.escape(d.path)}</h1>\n"
        + "<p>Sở ban ngành: tin tức, thủ tục hành chính, văn bản.</p>\n" * 20
        + "</body></html>\n"
    )
    own = "add_header X-Dept lab always; " if d.own_headers else ""
    return [f"    location {d.path} {{ {own}alias {folder}/; index index.html; }}"]


def dhparam_file(d: Path, group: str) -> Path:
    """An RFC 7919 named DH group as the PEM file ssl_dhparam reads (no prime search: the
    group is fixed, openssl only writes it out)."""
    f = d / "dh" / f"{group}.pem"
    if not f.exists():
        f.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
             f"group:{group}", "-out", str(f)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    return f


def _headers(w: Web) -> list[str]:
    out = []
    if w.hsts:
        out.append(f"    add_header Strict-Transport-Security {_q(w.hsts)} always;")
    if w.csp:
        out.append(f"    add_header Content-Security-Policy {_q(w.csp)} always;")
    if w.xcto:
        out.append("    add_header X-Content-Type-Options nosniff always;")
    if w.xfo:
        out.append(f"    add_header X-Frame-Options {w.xfo} always;")
    if w.referrer:
        out.append(f"    add_header Referrer-Policy {w.referrer} always;")
    if w.cookie:
        out.append(f"    add_header Set-Cookie {_q(w.cookie)} always;")
    for h in w.extra_headers:
        out.append(f"    more_set_headers {_q(h)};")
    return out


def server_blocks(p: Placed, root: Path, mx_hosts: list[str]) -> list[str]:
    out: list[str] = []
    h = p.host
    # the certificate's names too: a CNAME'd name lands on its target's server and is
    # redirected to itself ($host), as a real shared front end does
    names = " ".join(dict.fromkeys((h.name, *h.cert.names)))
    for family, addr in p.families():
        w = p.web_for(family)
        if w.block:
            continue  # packets never reach nginx; keep the address unserved
        docroot = write_docroot(root, p, w.body, w.security_txt, mx_hosts)
        tokens = "on" if w.server_tokens else "off"
        if w.listen80:
            out.append("  server {")
            out.append(_listen(family, addr, 80))
            out += [f"    server_name {names};", f"    server_tokens {tokens};"]
            out += [f"    root {docroot};", "    index index.html;"]
            out += [f"    more_set_headers {_q(x)};" for x in w.extra_headers]
            if w.redirect == "none":
                out.append("    location / { try_files $uri $uri/ =404; }")
            elif w.redirect == "downgrade":
                out.append(
                    f"    location = /landing {{ default_type text/html; "
                    f"alias {docroot}/landing.html; }}"
                )
                out.append("    location / { return 301 https://$host$request_uri; }")
            else:
                out.append("    location / { return 301 https://$host$request_uri; }")
            out.append("  }")
        if h.tls_server:
            pass  # tests/lab/depth_server.py listens on 443 (Lab._start_daemons)
        elif w.listen443 and not w.tls443:
            out.append("  server {")
            out.append(_listen(family, addr, 443))
            out += [f"    server_name {names};", f"    root {docroot};", "    index index.html;"]
            out.append("  }")
        elif w.listen443 and p.cert is not None:
            key_kind = h.cert.key
            ciphers = w.ciphers or (GOOD_CIPHERS_EC if key_kind == "ec" else GOOD_CIPHERS_RSA)
            if key_kind == "rsa1024" and "@SECLEVEL" not in ciphers:
                ciphers += ":@SECLEVEL=0"
            out.append("  server {")
            out.append(_listen(family, addr, 443, ssl=True))
            out += [
                f"    server_name {names};",
                f"    server_tokens {tokens};",
                f"    ssl_certificate {p.cert.chain};",
                f"    ssl_certificate_key {p.cert.key};",
                f"    ssl_protocols {w.protocols};",
                f"    ssl_ciphers {_q(ciphers)};",
                f"    ssl_prefer_server_ciphers {'on' if w.prefer_server_ciphers else 'off'};",
                f"    root {docroot};",
                "    index index.html;",
            ]
            if w.sigalgs:
                out.append(f"    ssl_conf_command SignatureAlgorithms {w.sigalgs};")
            if w.ecdh_curve:
                out.append(f"    ssl_ecdh_curve {w.ecdh_curve};")
            if w.dhparam:
                out.append(f"    ssl_dhparam {dhparam_file(root.parent, w.dhparam)};")
            if w.early_data:  # tls.zero_rtt; "425": RFC 8470 sec. 5.2 for early requests
                out.append("    ssl_early_data on;")
                if w.early_data == "425":
                    out.append("    if ($ssl_early_data) { return 425; }")
            if p.cert.ocsp is not None:
                out += ["    ssl_stapling on;", f"    ssl_stapling_file {p.cert.ocsp};"]
            if w.gzip:  # text/html is always among gzip_types
                out += ["    gzip on;", "    gzip_min_length 20;"]
            out += _headers(w)
            for d in w.paths:
                out += dept_location(root, p, d)
            if w.status is not None:
                out.append(f"    location = / {{ return {w.status} 'lab status {w.status}\\n'; }}")
            elif w.redirect == "downgrade":
                out.append("    location = / { return 301 http://$host/landing; }")
            # RFC 9116 section 3: text/plain with charset=utf-8
            out.append(
                "    location /.well-known/ { default_type text/plain; charset utf-8; "
                "charset_types text/plain; }"
            )
            out.append("  }")
    return out


def smtp_blocks(p: Placed) -> list[str]:
    h = p.host
    out = ["  server {"]
    for family, addr in p.families():
        if family == "v6" and not h.smtp6:
            continue
        out.append(_listen(family, addr, 25))
    out += [f"    server_name {h.name};", "    protocol smtp;"]
    if h.smtp == "starttls" and p.cert is not None:
        good = GOOD_CIPHERS_EC if h.cert.key == "ec" else GOOD_CIPHERS_RSA
        out += [
            "    starttls on;",
            f"    ssl_certificate {p.cert.chain};",
            f"    ssl_certificate_key {p.cert.key};",
            "    ssl_protocols TLSv1.2 TLSv1.3;",
            # issue #20: good suites in the server's order, no SHA-1/SHA-224 signatures
            # (mail.tls.ciphers, mail.tls.cipher_order, mail.tls.kex_hash)
            # (the host's Web ciphers/sigalgs, when set, replace them: scenario mxsha1)
            f"    ssl_ciphers {h.web.ciphers or good};",
            "    ssl_prefer_server_ciphers on;",
            f"    ssl_conf_command SignatureAlgorithms {h.web.sigalgs or MAIL_SIGALGS};",
        ]
    else:
        out.append("    starttls off;")
    out.append("  }")
    return out


def nginx_conf(d: Path, placed: list[Placed], mx_of_zone: dict[str, list[str]]) -> str:
    tmp = d / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    www = d / "www"
    lines = [f"load_module {m};" for m in MODULES]
    lines += [
        "user root;",
        "worker_processes 2;",
        "daemon off;",
        f"pid {d}/nginx.pid;",
        f"error_log {d}/error.log info;",
        "worker_rlimit_nofile 8192;",
        "events { worker_connections 2048; }",
        "http {",
        "  include /etc/nginx/mime.types;",
        "  default_type application/octet-stream;",
        # which address/port/SNI a probe hit, and how long nginx took (debugging scans)
        "  log_format lab '$msec $remote_addr -> $server_addr:$server_port $ssl_server_name "
        '"$host" "$request" $status $body_bytes_sent $request_time $ssl_protocol '
        "$ssl_cipher';",
        f"  access_log {d}/access.log lab;",
        f"  client_body_temp_path {tmp}/body;",
        f"  proxy_temp_path {tmp}/proxy;",
        f"  fastcgi_temp_path {tmp}/fastcgi;",
        f"  uwsgi_temp_path {tmp}/uwsgi;",
        f"  scgi_temp_path {tmp}/scgi;",
        "  server_names_hash_bucket_size 128;",
        "  keepalive_timeout 5;",
    ]
    smtp: list[str] = []
    for p in placed:
        if p.host.smtp in ("starttls", "plain"):  # postfix/scripted: tests/lab/postfix.py
            smtp += smtp_blocks(p)
        elif p.serves_web:
            lines += server_blocks(p, www, mx_of_zone.get(p.zone, []))
    lines.append("}")
    if smtp:
        lines += [
            "mail {",
            "  auth_http 127.0.0.1:9/auth;",  # never reached: the auditor does not send mail
            "  smtp_auth none;",
            '  smtp_capabilities "SIZE 10485760" "8BITMIME" "PIPELINING";',
            *smtp,
            "}",
        ]
    return "\n".join(lines) + "\n"
