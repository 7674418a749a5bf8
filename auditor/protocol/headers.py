"""Pure parsers for security-relevant HTTP headers (security.txt: security_txt.py).

They follow the standards, not string matching: header field names and directive
names are case-insensitive, quoted-strings are unquoted, whitespace is optional
whitespace, and duplicates are handled the way the relevant standard (and
browsers) do:

- Strict-Transport-Security: RFC 6797 sec. 6.1 (grammar), 8.1 (only the *first* STS header
  field of a response is processed; a field with a repeated directive is invalid).
- Content-Security-Policy: W3C CSP Level 3 sec. 2.2 (serialized policy list: every
  header field, and every comma-separated policy in it, is enforced; in a policy, a
  repeated directive is ignored) and sec. 8 (nonces/hashes/'strict-dynamic').
- Referrer-Policy: W3C Referrer Policy sec. 8.1 (last *valid* token wins).
- X-Frame-Options: HTML Living Standard "check a navigation response's adherence to
  X-Frame-Options" (values split, lower-cased, de-duplicated; conflicting values block).
- X-Content-Type-Options: Fetch Living Standard "determine nosniff" (first value only).
- Set-Cookie: RFC 6265 sec. 5.2 / RFC 6265bis (attribute names case-insensitive, last
  attribute of a kind wins, unknown SameSite values mean "not set").

Inputs are remote, untrusted text: every function is total (never raises on input).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditor.protocol.names import norm_name

# RFC 9110 sec. 5.6.2: token = 1*tchar
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OWS = " \t"


def is_token(text: str) -> bool:
    return bool(text) and all(c in _TCHAR for c in text)


def split_quoted(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quoted-strings (RFC 9110 sec. 5.6.4), keeping quotes."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    escaped = False
    for ch in text:
        if quoted:
            buf.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
            buf.append(ch)
        elif ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def unquote(value: str) -> str | None:
    """The content of a quoted-string, or None when it is not a well-formed one."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return None
    out: list[str] = []
    i = 1
    while i < len(value) - 1:
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) - 1:
                return None  # the closing quote was escaped
            out.append(value[i + 1])
            i += 2
            continue
        if ch == '"':
            return None
        out.append(ch)
        i += 1
    return "".join(out)


def header_list_values(values: Iterable[str]) -> list[str]:
    """Fetch "get, decode, and split": all fields combined, split on commas outside quotes."""
    out: list[str] = []
    for value in values:
        for part in split_quoted(value, ","):
            out.append(part.strip(_OWS))
    return out


# ---------------------------------------------------------------------------
# Strict-Transport-Security (RFC 6797)


@dataclass(frozen=True)
class Hsts:
    """The STS policy a browser would record from one response."""

    valid: bool
    max_age: int | None = None
    include_subdomains: bool = False
    preload: bool = False
    error: str = ""  # why the field is invalid (browsers then ignore it)
    raw: str = ""  # the field that was processed
    fields: int = 1  # how many STS header fields the response carried


def parse_hsts(values: Sequence[str]) -> Hsts | None:
    """Parse the STS header fields of one response; None when there is none.

    RFC 6797 sec. 8.1: when a response carries more than one STS header field, the UA
    processes only the first one. Sec. 6.1: directive names are case-insensitive, values
    are token or quoted-string, every directive appears at most once, max-age is required
    and is delta-seconds (1*DIGIT); includeSubDomains is valueless.
    """
    if not values:
        return None
    raw = values[0]
    count = len(values)

    def bad(why: str) -> Hsts:
        return Hsts(False, error=why, raw=raw, fields=count)

    seen: dict[str, str | None] = {}
    for part in split_quoted(raw, ";"):
        directive = part.strip(_OWS)
        if not directive:
            continue  # RFC 6797 grammar: [ directive ] *( ";" [ directive ] )
        name, eq, value = directive.partition("=")
        name = name.strip(_OWS)
        if not is_token(name):
            return bad(f"malformed directive {directive[:60]!r}")
        key = name.lower()
        if key in seen:
            return bad(f"directive {name!r} appears more than once (RFC 6797 sec. 6.1 rule 2)")
        parsed: str | None = None
        if eq:
            value = value.strip(_OWS)
            if value.startswith('"'):
                parsed = unquote(value)
                if parsed is None:
                    return bad(f"malformed quoted value in {directive[:60]!r}")
            elif is_token(value):
                parsed = value
            else:
                return bad(f"malformed value in {directive[:60]!r}")
        seen[key] = parsed
    if "max-age" not in seen:
        return bad("no max-age directive (required, RFC 6797 sec. 6.1.1)")
    age = seen["max-age"]
    if age is None or not age.isascii() or not age.isdigit():
        return bad(f"max-age is not delta-seconds: {age!r}")
    if "includesubdomains" in seen and seen["includesubdomains"] is not None:
        return bad("includeSubDomains takes no value (RFC 6797 sec. 6.1.2)")
    return Hsts(
        True,
        max_age=int(age[:20]),  # 20 digits: far beyond any meaningful value, bounded work
        include_subdomains="includesubdomains" in seen,
        preload="preload" in seen,
        raw=raw,
        fields=count,
    )


# ---------------------------------------------------------------------------
# Content-Security-Policy (W3C CSP Level 3)

_ASCII_WS = re.compile(r"[\t\n\f\r ]+")
_DIRECTIVE_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_NONCE = re.compile(r"^'nonce-[A-Za-z0-9+/_-]+={0,2}'$", re.IGNORECASE)
_HASH = re.compile(r"^'(sha256|sha384|sha512)-[A-Za-z0-9+/_-]+={0,2}'$", re.IGNORECASE)
# Sources that allow any host: *, a bare http:/https: scheme, or a wildcard host.
_ANY_HOST = re.compile(r"^(\*|https?:|(https?://)?\*(:(\*|\d+))?/?)$", re.IGNORECASE)


@dataclass(frozen=True)
class CspPolicy:
    """One enforced policy: directive name (lower-case) -> source expressions."""

    directives: tuple[tuple[str, tuple[str, ...]], ...]
    duplicates: tuple[str, ...] = ()  # repeated directives (ignored, CSP3 sec. 2.2.2)
    raw: str = ""

    def get(self, name: str) -> tuple[str, ...] | None:
        for key, sources in self.directives:
            if key == name:
                return sources
        return None

    def has(self, name: str) -> bool:
        return self.get(name) is not None


def _parse_serialized_policy(serialized: str) -> CspPolicy | None:
    """CSP3 sec. 2.2.1 "parse a serialized CSP"."""
    directives: list[tuple[str, tuple[str, ...]]] = []
    names: set[str] = set()
    dups: list[str] = []
    for token in serialized.split(";"):
        token = token.strip(" \t\n\r\f")
        if not token:
            continue
        # CSP3: ASCII whitespace only (str.split() would also split on \x1c-\x1f)
        parts = [t for t in _ASCII_WS.split(token) if t]
        if not parts:
            continue
        name = parts[0].lower()
        if not _DIRECTIVE_NAME.match(name):
            continue
        if name in names:
            # CSP3 sec. 2.2.1 step 2.5: "If policy's directive set contains a directive
            # whose name is directive name, continue" - the first one wins and the policy
            # stays valid. (Internet.nl merges repeated directives instead: not what
            # browsers enforce.)
            dups.append(name)
            continue
        names.add(name)
        directives.append((name, tuple(parts[1:])))
    if not directives:
        return None
    return CspPolicy(tuple(directives), tuple(dups), serialized.strip())


# CSP3 sec. 3.3: a policy delivered by <meta http-equiv> cannot carry these.
META_IGNORED_DIRECTIVES = ("report-uri", "frame-ancestors", "sandbox")


def parse_csp_meta(contents: Sequence[str]) -> tuple[tuple[CspPolicy, ...], tuple[str, ...]]:
    """Policies of ``<meta http-equiv="Content-Security-Policy" content=...>`` elements.

    CSP3 sec. 3.3: each content is one serialized policy (commas are *not* policy
    separators here), enforced, with report-uri, frame-ancestors and sandbox removed.
    Returns (policies, the directives removed).
    """
    policies: list[CspPolicy] = []
    removed: list[str] = []
    for content in contents:
        policy = _parse_serialized_policy(content)
        if policy is None:
            continue
        kept = tuple(d for d in policy.directives if d[0] not in META_IGNORED_DIRECTIVES)
        removed += [d[0] for d in policy.directives if d[0] in META_IGNORED_DIRECTIVES]
        if kept:
            policies.append(CspPolicy(kept, policy.duplicates, policy.raw))
    return tuple(policies), tuple(dict.fromkeys(removed))


def parse_csp(values: Sequence[str]) -> tuple[CspPolicy, ...]:
    """Parse CSP header fields into the list of policies a browser enforces.

    CSP3 sec. 2.2.2 "parse a serialized CSP list": each comma-separated item is a policy;
    in a policy, directives are separated by ";", the name is lower-cased, a repeated
    directive is ignored (the first wins), empty policies are dropped.
    """
    policies: list[CspPolicy] = []
    for value in values:
        for serialized in value.split(","):
            policy = _parse_serialized_policy(serialized)
            if policy is not None:
                policies.append(policy)
    return tuple(policies)


@dataclass(frozen=True)
class CspSource:
    """One source expression (CSP3 sec. 2.3.1 grammar), classified."""

    text: str
    # keyword / nonce / hash / scheme / host / other (not valid CSP3 syntax: browsers ignore
    # it, it matches nothing; e.g. "*://x", "'nonce-a=b'", "[ipv6:address]")
    kind: str
    scheme: str = ""  # lower case; "" when absent (host-source without scheme-part)
    host: str = ""  # lower case host-part ("*", "*.example.vn", "example.vn", "[::1]")
    port: str = ""


# host-source = [ scheme-part "://" ] host-part [ ":" port-part ] [ path-part ]
_HOST_SOURCE = re.compile(
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?"
    r"(?P<host>\*|(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]+|\*))?(?P<path>/[^\s;,]*)?"
)
_SCHEME_SOURCE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
CSP_KEYWORDS = frozenset(
    {
        "'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'",
        "'strict-dynamic'", "'report-sample'", "'wasm-unsafe-eval'",
        "'inline-speculation-rules'", "'unsafe-allow-redirects'",
    }
)  # fmt: skip


def classify_source(text: str) -> CspSource:
    low = text.lower()
    if low in CSP_KEYWORDS:
        return CspSource(text, "keyword")
    if is_nonce(text):
        return CspSource(text, "nonce")
    if is_hash(text):
        return CspSource(text, "hash")
    if _SCHEME_SOURCE.fullmatch(text):
        return CspSource(text, "scheme", scheme=low[:-1])
    m = _HOST_SOURCE.fullmatch(text)
    if m:
        return CspSource(
            text,
            "host",
            scheme=(m.group("scheme") or "").lower(),
            host=norm_name(m.group("host")),
            port=m.group("port") or "",
        )
    return CspSource(text, "other")


# Directives whose value is a source list (CSP3 sec. 6.1-6.3, navigate-to of CSP3 drafts);
# sandbox, trusted-types, report-to... take other values.
SOURCE_LIST_DIRECTIVES = frozenset(
    {
        "default-src", "child-src", "connect-src", "font-src", "frame-src", "img-src",
        "manifest-src", "media-src", "object-src", "prefetch-src", "script-src",
        "script-src-elem", "script-src-attr", "style-src", "style-src-elem",
        "style-src-attr", "worker-src", "fenced-frame-src", "base-uri", "form-action",
        "frame-ancestors", "navigate-to",
    }
)  # fmt: skip

# CSP3 sec. 6.8.3 "get the effective directive": the fallback list of each fetch directive
CSP_FALLBACKS: dict[str, tuple[str, ...]] = {
    "script-src-elem": ("script-src-elem", "script-src", "default-src"),
    "script-src-attr": ("script-src-attr", "script-src", "default-src"),
    "style-src-elem": ("style-src-elem", "style-src", "default-src"),
    "style-src-attr": ("style-src-attr", "style-src", "default-src"),
    "worker-src": ("worker-src", "child-src", "script-src", "default-src"),
    "frame-src": ("frame-src", "child-src", "default-src"),
    "child-src": ("child-src", "default-src"),
    "object-src": ("object-src", "default-src"),
}


def effective_sources(
    policy: CspPolicy, directive: str
) -> tuple[str | None, tuple[str, ...] | None]:
    """(the directive that governs ``directive`` in ``policy``, its sources), following
    the CSP3 fallback list; (None, None) when nothing governs it."""
    for candidate in CSP_FALLBACKS.get(directive, (directive, "default-src")):
        sources = policy.get(candidate)
        if sources is not None:
            return candidate, sources
    return None, None


def is_nonce(source: str) -> bool:
    return bool(_NONCE.match(source))


def is_hash(source: str) -> bool:
    return bool(_HASH.match(source))


def allows_any_host(source: str) -> bool:
    return bool(_ANY_HOST.match(source))


def unsafe_script_source(source: str) -> bool:
    """A script/object source that lets an attacker supply code: any host, or data:
    (Mozilla Observatory and Google's CSP Evaluator flag data: in script-src)."""
    return allows_any_host(source) or source.lower() == "data:"


@dataclass(frozen=True)
class ScriptPolicy:
    """How one policy governs scripts (the effective directive, CSP3 sec. 6.8.1)."""

    directive: str | None  # "script-src" / "default-src" / None (scripts unrestricted)
    unsafe_inline: bool = False  # 'unsafe-inline' present *and* in effect
    inline_neutralised_by: str = ""  # "nonce" / "hash" / "strict-dynamic" when ignored
    unsafe_eval: bool = False
    strict_dynamic: bool = False
    any_host: tuple[str, ...] = ()  # *, https:, http: ... in effect (not neutralised)
    nonces: int = 0
    hashes: int = 0


def script_policy(policy: CspPolicy) -> ScriptPolicy:
    """CSP3 semantics for scripts.

    - sec. 6.6.3.3: a nonce or hash source makes 'unsafe-inline' ignored (CSP2+), and so
      does 'strict-dynamic' for scripts.
    - sec. 8.2 'strict-dynamic': host sources, scheme sources, 'self' and 'unsafe-inline'
      are ignored for scripts; trust flows from nonced/hashed scripts only.
    """
    name: str | None = None
    sources: tuple[str, ...] | None = None
    for candidate in ("script-src", "default-src"):
        sources = policy.get(candidate)
        if sources is not None:
            name = candidate
            break
    if sources is None or name is None:
        return ScriptPolicy(None)
    low = [s.lower() for s in sources]
    nonces = sum(1 for s in sources if is_nonce(s))
    hashes = sum(1 for s in sources if is_hash(s))
    strict = "'strict-dynamic'" in low
    inline = "'unsafe-inline'" in low
    by = ""
    if inline:
        if strict:
            by = "strict-dynamic"
        elif nonces:
            by = "nonce"
        elif hashes:
            by = "hash"
    any_host = () if strict else tuple(s for s in sources if unsafe_script_source(s))
    return ScriptPolicy(
        directive=name,
        unsafe_inline=inline and not by,
        inline_neutralised_by=by,
        unsafe_eval="'unsafe-eval'" in low,
        strict_dynamic=strict,
        any_host=any_host,
        nonces=nonces,
        hashes=hashes,
    )


def object_sources(policy: CspPolicy) -> tuple[str | None, tuple[str, ...] | None]:
    for candidate in ("object-src", "default-src"):
        sources = policy.get(candidate)
        if sources is not None:
            return candidate, sources
    return None, None


def frame_ancestors_restrictive(sources: Sequence[str]) -> bool:
    """frame-ancestors that does not let any site frame the page."""
    return not any(allows_any_host(s) for s in sources)


# ---------------------------------------------------------------------------
# Referrer-Policy (W3C Referrer Policy sec. 8.1)

REFERRER_POLICIES = (
    "no-referrer",
    "no-referrer-when-downgrade",
    "same-origin",
    "origin",
    "strict-origin",
    "origin-when-cross-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
)


def parse_referrer_policy(values: Sequence[str]) -> str:
    """The policy a browser applies: the last *valid* token of all fields ("" if none).

    Unknown tokens are skipped (sites list a fallback first, then a newer policy).
    Browsers match the tokens ASCII case-insensitively.
    """
    policy = ""
    for token in header_list_values(values):
        low = token.lower()
        if low in REFERRER_POLICIES:
            policy = low
    return policy


# ---------------------------------------------------------------------------
# X-Frame-Options (HTML Living Standard) and X-Content-Type-Options (Fetch)


def parse_xfo(values: Sequence[str]) -> str:
    """What X-Frame-Options does in a browser: "deny", "sameorigin" or "" (no protection).

    HTML ("check a navigation response's adherence to X-Frame-Options", steps 4-8):
    values split on commas, lower-cased, de-duplicated, so "SAMEORIGIN, SAMEORIGIN" (a
    header set twice, by the application and the proxy) is SAMEORIGIN; more than one
    distinct value including deny/sameorigin/allowall blocks framing entirely ("deny");
    ALLOW-FROM and unknown values give no protection ("invalid": browsers ignore the
    header). Mozilla Observatory's x_frame_options test rejects the repeated value and
    accepts ALLOW-FROM; the spec's (and browsers') answer is kept here.
    """
    options = {v.lower() for v in header_list_values(values) if v}
    if not options:
        return ""
    if len(options) > 1:
        if options & {"deny", "allowall", "sameorigin"}:
            return "deny"
        return ""
    only = next(iter(options))
    return only if only in ("deny", "sameorigin") else ""


def parse_nosniff(values: Sequence[str]) -> bool:
    """Fetch "determine nosniff": the first value is ``nosniff`` (case-insensitive), so
    "nosniff, nosniff" (a header set twice) is nosniff. Mozilla Observatory's
    x_content_type_options test compares the whole combined value with "nosniff" and
    rejects it; the Fetch standard's answer is kept here."""
    items = header_list_values(values)
    return bool(items) and items[0].lower() == "nosniff"


# ---------------------------------------------------------------------------
# Set-Cookie (RFC 6265 / RFC 6265bis)


@dataclass(frozen=True)
class Cookie:
    name: str
    secure: bool = False
    http_only: bool = False
    same_site: str = ""  # "strict" / "lax" / "none" / "" (absent or unknown value)
    same_site_raw: str = ""
    max_age: int | None = None
    expires: str = ""
    domain: str = ""
    path: str = ""

    @property
    def deletes(self) -> bool:
        """A cookie sent only to delete itself (Max-Age <= 0, RFC 6265 sec. 5.2.2)."""
        return self.max_age is not None and self.max_age <= 0


def parse_set_cookie(value: str) -> Cookie | None:
    """One Set-Cookie field; None when the browser ignores it (RFC 6265 sec. 5.2)."""
    pair, _, attrs = value.partition(";")
    if "=" not in pair:
        # RFC 6265 ignores it; RFC 6265bis makes it a nameless cookie with that value.
        name = ""
        if not pair.strip(_OWS):
            return None
    else:
        name = pair.split("=", 1)[0].strip(_OWS)
    secure = http_only = False
    same_site = same_site_raw = expires = domain = path = ""
    max_age: int | None = None
    for attr in attrs.split(";") if attrs else []:
        key, _, val = attr.partition("=")
        key = key.strip(_OWS).lower()
        val = val.strip(_OWS)
        if key == "secure":
            secure = True
        elif key == "httponly":
            http_only = True
        elif key == "samesite":
            same_site_raw = val
            low = val.lower()
            same_site = low if low in ("strict", "lax", "none") else ""
        elif key == "max-age":
            if re.fullmatch(r"-?[0-9]{1,18}", val):
                max_age = int(val)
        elif key == "expires":
            expires = val
        elif key == "domain":
            domain = val
        elif key == "path":
            path = val
    return Cookie(
        name=name[:100],
        secure=secure,
        http_only=http_only,
        same_site=same_site,
        same_site_raw=same_site_raw[:40],
        max_age=max_age,
        expires=expires[:60],
        domain=domain[:255],
        path=path[:255],
    )


# ---------------------------------------------------------------------------
# Version disclosure (Server, X-Powered-By, X-AspNet-Version, X-AspNetMvc-Version)

DISCLOSURE_HEADERS = ("server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version")
# Bounded repetitions: header values are remote text (no quadratic backtracking).
_VERSION = re.compile(r"\d{1,12}(?:\.\d{1,12})+|/[ \t]{0,4}v?\d")


def has_version(value: str) -> bool:
    """A product version number such as nginx/1.18.0, PHP/7.4.3, 4.0.30319, IIS/10.0."""
    return bool(_VERSION.search(value))


def media_type(content_type: str) -> tuple[str, dict[str, str]]:
    """(type/subtype lower-case, parameters) of a Content-Type value (RFC 9110 sec. 8.3)."""
    parts = split_quoted(content_type, ";")
    mtype = parts[0].strip(_OWS).lower()
    params: dict[str, str] = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        k = k.strip(_OWS).lower()
        v = v.strip(_OWS)
        if v.startswith('"'):
            v = unquote(v) or ""
        if k and k not in params:
            params[k] = v
    return mtype, params
