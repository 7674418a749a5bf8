"""security.txt (RFC 9116): a pure parser.

RFC 9116 sec. 2-4 (field grammar, URI values, RFC 3339 Expires, Canonical) and RFC 4880
sec. 6-7 (OpenPGP cleartext signature structure). Inputs are remote, untrusted text: the
parser is total (never raises on input).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime

#
# Hand-written rather than ``sectxt`` (DigitalTrustCenter, the parser Internet.nl uses):
# its Parser is pure, but importing the package creates a requests.Session at module
# level, it installs pytest and requests-mock as runtime dependencies and PGPy-dtc (a
# fork of an unmaintained OpenPGP library) for a structure check, and it is marked alpha;
# its checks of the bytes it is given are small and are all here (with its test cases
# among ours, tests/unit/test_security_txt.py), plus the parts of RFC 4880 sec. 7 it
# leaves to PGPy (armor checksum, packet types).

_PGP_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----"
_PGP_SIG = "-----BEGIN PGP SIGNATURE-----"
_PGP_END = "-----END PGP SIGNATURE-----"
# RFC 9116 sec. 4: field-name = 1*ftext (RFC 5322: printable US-ASCII but ":"), fs = ":",
# then SP; a comment starts with "#"; eol = *WSP [CR] LF
_FTEXT = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_ARMOR_HEADER = re.compile(r"[\x21-\x39\x3b-\x7e]+: .*")  # RFC 4880 sec. 6.2 "Key: Value"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")  # RFC 3986 sec. 3: scheme ":" hier-part
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# RFC 5646 sec. 2.1, by syntax: a 2-3 letter primary language (ISO 639; 4 letters are
# reserved and 5-8 letter subtags are registered, none exist), or x-/i- tags
_LANG_TAG = re.compile(
    r"(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*"
    r"(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?|[xX](?:-[A-Za-z0-9]{1,8})+|[iI]-[A-Za-z]{2,8})"
)
URI_FIELDS = ("acknowledgments", "canonical", "contact", "encryption", "hiring", "policy", "csaf")
MAX_ISSUES = 30


@dataclass(frozen=True)
class SecurityTxt:
    fields: tuple[tuple[str, str], ...] = ()  # (lower-case name, value) in order
    contacts: tuple[str, ...] = ()
    expires: datetime | None = None  # timezone-aware
    expires_raw: tuple[str, ...] = ()
    canonical: tuple[str, ...] = ()
    signed: bool = False  # an OpenPGP cleartext signed message with a sound structure
    # "line N: what" against RFC 9116 sec. 2-4 and RFC 4880 sec. 7: the file is invalid
    errors: tuple[str, ...] = field(default_factory=tuple)
    # SHOULDs of RFC 9116 that the file does not follow
    recommendations: tuple[str, ...] = field(default_factory=tuple)
    unknown_fields: tuple[str, ...] = ()  # extension fields (allowed; reported)

    def values(self, name: str) -> tuple[str, ...]:
        low = name.lower()
        return tuple(v for n, v in self.fields if n == low)


def parse_rfc3339(text: str) -> datetime | None:
    """RFC 3339 sec. 5.6 date-time (required by RFC 9116 sec. 2.5.5); None if invalid."""
    m = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", text
    )
    if not m:
        return None
    frac = (m.group(3) or "")[:7]
    offset = m.group(4)
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        value = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{frac}{offset}")
    except ValueError:
        return None
    return value


def _crc24(data: bytes) -> int:
    """RFC 4880 sec. 6.1 (the armor checksum)."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _signature_packets(data: bytes) -> str:
    """Why ``data`` is not a sequence of OpenPGP Signature packets (RFC 4880 sec. 4.2,
    5.2), or "" when it is."""
    i = count = 0
    while i < len(data):
        head = data[i]
        i += 1
        if not head & 0x80:
            return "not an OpenPGP packet"
        if head & 0x40:  # new format
            tag = head & 0x3F
            if i >= len(data):
                return "truncated packet header"
            first = data[i]
            i += 1
            if first < 192:
                length = first
            elif first < 224:
                if i >= len(data):
                    return "truncated packet header"
                length = ((first - 192) << 8) + data[i] + 192
                i += 1
            elif first == 255:
                if i + 4 > len(data):
                    return "truncated packet header"
                length = int.from_bytes(data[i : i + 4], "big")
                i += 4
            else:
                return "partial body length (not allowed for a signature packet)"
        else:  # old format
            tag = (head >> 2) & 0x0F
            size = {0: 1, 1: 2, 2: 4}.get(head & 3)
            if size is None or i + size > len(data):
                return "indeterminate or truncated packet length"
            length = int.from_bytes(data[i : i + size], "big")
            i += size
        if tag != 2:
            return f"packet type {tag}, not a signature (type 2)"
        if i + length > len(data) or length == 0:
            return "truncated signature packet"
        if data[i] not in (3, 4, 5, 6):
            return f"unknown signature version {data[i]}"
        i += length
        count += 1
    return "" if count else "no signature packet"


@dataclass
class _Issues:
    errors: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)

    def error(self, line: int | None, what: str) -> None:
        if len(self.errors) < MAX_ISSUES:
            self.errors.append(f"line {line}: {what}" if line else what)


def _signature_block(lines: list[str], start: int, issues: _Issues) -> int:
    """Check the armored signature that starts at ``lines[start]`` (RFC 4880 sec. 6.2):
    armor headers, a blank line, base64, an optional "=" CRC-24 checksum, the tail line.
    Returns the index after the tail line (len(lines) when there is none)."""
    i = start + 1
    while i < len(lines) and lines[i].strip(" \t") and _ARMOR_HEADER.fullmatch(lines[i]):
        i += 1
    if i < len(lines) and lines[i].strip(" \t") in (_PGP_SIG, _PGP_SIGNED):
        issues.error(i + 1, "a second OpenPGP block inside the signature (RFC 4880 sec. 7)")
        return len(lines)
    if i >= len(lines) or lines[i].strip(" \t"):
        issues.error(i + 1, "signature block: no blank line after the armor headers")
    else:
        i += 1
    body: list[str] = []
    checksum: str | None = None
    while i < len(lines) and lines[i].strip(" \t") != _PGP_END:
        line = lines[i].strip(" \t")
        if line in (_PGP_SIG, _PGP_SIGNED):
            issues.error(i + 1, "a second OpenPGP block inside the signature (RFC 4880 sec. 7)")
            return len(lines)
        if line.startswith("=") and len(line) == 5:
            checksum = line[1:]
        elif checksum is not None or not _B64.fullmatch(line):
            issues.error(i + 1, "signature block: not base64 (corrupt signature)")
            return len(lines)
        else:
            body.append(line)
        i += 1
    if i >= len(lines):
        issues.error(start + 1, f"signature block without '{_PGP_END}'")
        return len(lines)
    try:
        data = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        issues.error(start + 1, "signature block: base64 does not decode (corrupt signature)")
        return i + 1
    if checksum is not None:
        try:
            want = int.from_bytes(base64.b64decode(checksum, validate=True), "big")
        except (binascii.Error, ValueError):
            want = -1
        if want != _crc24(data):
            issues.error(start + 1, "signature block: armor checksum mismatch (corrupt)")
            return i + 1
    why = _signature_packets(data)
    if why:
        issues.error(start + 1, f"signature block: {why} (corrupt signature)")
    return i + 1


def _cleartext(lines: list[str], issues: _Issues) -> tuple[list[tuple[int, str]], bool]:
    """The lines to read as fields, with their line numbers, and whether the file is a
    structurally sound OpenPGP cleartext signed message (RFC 4880 sec. 7)."""
    stripped = [ln.strip(" \t") for ln in lines]
    if _PGP_SIGNED not in stripped:
        for n, ln in enumerate(stripped, 1):
            if ln in (_PGP_SIG, _PGP_END):
                issues.error(n, f"'{ln}' without '{_PGP_SIGNED}' (RFC 4880 sec. 7)")
        return [(n, ln) for n, ln in enumerate(lines, 1) if ln.strip(" \t") not in (
            _PGP_SIG, _PGP_END)], False  # fmt: skip
    before = len(issues.errors)
    head = stripped.index(_PGP_SIGNED)
    if head != 0:
        # RFC 9116 sec. 4: body = signed / unsigned, signed = sign-header ...: nothing
        # (not even a blank line) comes before the header
        issues.error(head + 1, f"'{_PGP_SIGNED}' is not on the first line")
    i = head + 1
    while i < len(lines) and stripped[i]:
        if not _ARMOR_HEADER.fullmatch(lines[i]):
            issues.error(i + 1, f'not an armor header ("Hash: ..."): {lines[i][:60]!r}')
        i += 1
    if i >= len(lines):
        issues.error(head + 1, "signed message without the blank line and the text")
        return [], False
    i += 1  # the one empty line of RFC 4880 sec. 7
    out: list[tuple[int, str]] = []
    sig = None
    while i < len(lines):
        line = lines[i]
        if stripped[i] == _PGP_SIG:
            sig = i
            break
        if stripped[i] == _PGP_END:
            issues.error(i + 1, f"'{_PGP_END}' without '{_PGP_SIG}'")
            break
        if stripped[i] == _PGP_SIGNED:
            issues.error(i + 1, "a second signed message (RFC 4880 sec. 7)")
        elif line.startswith("- "):
            line = line[2:]  # dash-escaped text (RFC 4880 sec. 7.1)
        elif line.startswith("-"):
            issues.error(i + 1, "a line starting with '-' is not dash-escaped (RFC 4880 7.1)")
        out.append((i + 1, line))
        i += 1
    if sig is None:
        what = f"line {head + 1}: signed message without a signature block (RFC 4880 sec. 7)"
        issues.errors.insert(before, what)
        return out, False
    end = _signature_block(lines, sig, issues)
    for n in range(end, len(lines)):
        if stripped[n] in (_PGP_SIG, _PGP_SIGNED):
            issues.error(n + 1, "a second OpenPGP signature or message after the first")
            break
        if stripped[n]:
            issues.error(n + 1, "data after the signature")
            break
        issues.error(n + 1, "blank line after the signature")
        break
    return out, len(issues.errors) == before


def _check_value(name: str, value: str, n: int, issues: _Issues) -> None:
    if name in URI_FIELDS:
        if not _URI.fullmatch(value):
            issues.error(
                n,
                f"{name.capitalize()} is not a URI: {value[:60]!r} (RFC 9116 sec. 2.5: e.g. "
                "mailto:, https:, tel:)",
            )
        elif value.lower().startswith("http:"):
            issues.error(n, f"{name.capitalize()} is a web URI without https:// ({value[:60]!r})")
        elif name == "csaf" and not (
            value.lower().startswith("https:") and value.endswith("provider-metadata.json")
        ):
            # CSAF 2.0 sec. 7.1.8 (registered by OASIS for RFC 9116): the provider metadata
            issues.error(n, f"CSAF does not name an https provider-metadata.json: {value[:60]!r}")
    elif name == "preferred-languages":
        tags = [t.strip(" \t") for t in value.split(",")]
        bad = [t for t in tags if not _LANG_TAG.fullmatch(t)]
        if bad:
            issues.error(n, f"Preferred-Languages: {bad[0][:30]!r} is not an RFC 5646 language tag")


def parse_security_txt(text: str, *, complete: bool = True) -> SecurityTxt:
    """Parse a security.txt body against RFC 9116 sec. 2-4 (and RFC 4880 sec. 7 when it is
    signed); every deviation is collected, named with its line, never raised.

    ``complete=False``: the body was cut by a size cap, so its end is not judged.
    """
    issues = _Issues()
    if text.startswith("\ufeff"):
        # the first field-name would start with U+FEFF, which is no ftext (sec. 4 ABNF)
        issues.error(1, "starts with a byte-order mark (not allowed: plain UTF-8 text)")
        text = text[1:]
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()  # the final line ending
    elif text and complete:
        issues.error(len(raw), "the last line has no line ending (RFC 9116 sec. 4: eol)")
    # eol = *WSP [CR] LF: a CR belongs to the line ending only right before LF
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in raw]
    body, signed = _cleartext(lines, issues)
    fields: list[tuple[str, str]] = []
    unknown: list[str] = []
    known = (*URI_FIELDS, "expires", "preferred-languages")
    for n, line in body:
        if not line.strip(" \t"):
            continue
        if line.startswith("#"):
            continue
        if _CONTROL.search(line):
            issues.error(n, "control character in the line")
            continue
        if line[0] in " \t":
            issues.error(n, f"leading whitespace: {line.strip()[:60]!r}")
            continue
        name, sep, rest = line.partition(":")
        if not sep:
            issues.error(n, f"not a field: {line.strip()[:80]!r}")
            continue
        if not name.strip(" \t"):
            issues.error(n, "a field without a name")
            continue
        if not _FTEXT.fullmatch(name):
            issues.error(n, f"whitespace or invalid character in the field name {name[:40]!r}")
            continue
        low = name.lower()
        value = rest.strip(" \t")
        if rest and rest[0] != " ":
            issues.error(n, f"no space after '{name}:' (RFC 9116 sec. 4: ':' then SP)")
        if not value:
            issues.error(n, f"{name}: empty value")
            continue
        if low not in known and low not in unknown:
            unknown.append(low)
        _check_value(low, value, n, issues)
        fields.append((low, value))
    contacts = tuple(v for k, v in fields if k == "contact")
    expires_raw = tuple(v for k, v in fields if k == "expires")
    canonical = tuple(v for k, v in fields if k == "canonical")
    expires: datetime | None = None
    if len(expires_raw) > 1:
        issues.error(None, "Expires appears more than once (RFC 9116 sec. 2.5.5: MUST NOT)")
    if expires_raw:
        expires = parse_rfc3339(expires_raw[0])
        if expires is None:
            issues.error(None, f"Expires is not an RFC 3339 date-time: {expires_raw[0][:60]!r}")
    if len([1 for k, _ in fields if k == "preferred-languages"]) > 1:
        issues.error(None, "Preferred-Languages appears more than once (RFC 9116 sec. 2.5.8)")
    if signed and not canonical:
        issues.recommendations.append(
            "a signed file should have a Canonical field (RFC 9116 sec. 2.3)"
        )
    return SecurityTxt(
        fields=tuple(fields),
        contacts=contacts,
        expires=expires,
        expires_raw=expires_raw,
        canonical=canonical,
        signed=signed,
        errors=tuple(issues.errors),
        recommendations=tuple(issues.recommendations),
        unknown_fields=tuple(unknown[:20]),
    )
