"""Inventory loader: who owns which zones (domains) and web hosts.

An inventory is one YAML file per programme (or a flat CSV import). It is the
first stage of the data flow (see docs/INVENTORY.md for the format reference):
everything later (plan, probes, scoring, waivers in reports) keys on the
A-label names produced here, so names are normalised once, in this module.

Errors carry the file, the 1-based line of the offending YAML node and a dotted
field path, because inventories are maintained by hand by agency IT staff and
"line 212: agencies[14].hosts[2]" is what lets them fix a typo quickly.
"""

from __future__ import annotations

import csv
import difflib
import fnmatch
import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import idna
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "LANGUAGES",
    "SUPPORTED_VERSIONS",
    "Agency",
    "Defaults",
    "HostEntry",
    "Inventory",
    "InventoryError",
    "UnknownAgencyError",
    "Waiver",
    "check_inventory",
    "load_inventory",
    "same_check",
    "to_ascii_name",
    "to_display_name",
    "validate_inventory",
]

SUPPORTED_VERSIONS = (1,)

# RFC 1035 §2.3.4 / RFC 5890 §2.3.2.1: a label is at most 63 octets and a name at most
# 255 octets on the wire, i.e. 253 characters in dotted text form without the root dot.
_MAX_LABEL = 63
_MAX_NAME = 253

# Languages of the agency's alert e-mails (``language:``), the default first.
LANGUAGES = ("vi", "en")
_AGENCY_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_CHECK_ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB_CHARS = frozenset("*?[]")

_TAG_STR = "tag:yaml.org,2002:str"
_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_TIMESTAMP = "tag:yaml.org,2002:timestamp"

_CSV_COLUMNS = ("agency_id", "agency_name", "kind", "name")


# --------------------------------------------------------------------------- errors


class InventoryError(Exception):
    """A problem in an inventory file, located by file, 1-based line and field path.

    ``line`` is 0 when the problem concerns the file as a whole (unreadable,
    unsupported suffix). ``field`` is a dotted path such as
    ``agencies[3].hosts[1]``, ``document`` for the top level, ``file`` for the
    file itself, or the column name for CSV files.
    """

    def __init__(self, file: str, line: int, field: str, message: str) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        super().__init__(f"{file}:{line}: {field}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.file, self.line, self.field, self.message))


class UnknownAgencyError(ValueError):
    """Raised by :meth:`Inventory.only` for agency ids that are not in the inventory."""

    def __init__(self, unknown: tuple[str, ...], message: str) -> None:
        self.unknown = unknown
        super().__init__(message)


class UnknownTagError(ValueError):
    """Raised by :meth:`Inventory.tagged` (and :func:`select_tagged`) when no agency carries
    any of the tags asked for: an empty selection is a typo far more often than a wish."""

    def __init__(self, tags: tuple[str, ...], message: str) -> None:
        self.tags = tags
        super().__init__(message)


def _tag_miss(tags: Sequence[str], known: Iterable[str], where: str) -> UnknownTagError:
    names = sorted(set(known))
    hints = []
    for tag in tags:
        close = difflib.get_close_matches(tag, names, n=3)
        hints.append(f"{tag!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    listed = ", ".join(names) if names else "none"
    return UnknownTagError(
        tuple(tags),
        f"no agency in {where} has the tag {' or '.join(hints)}; its tags: {listed}",
    )


def select_tagged(snapshot: Mapping[str, Any], tags: Sequence[str]) -> dict[str, Any]:
    """An inventory snapshot (``Inventory.to_dict()``, as stored with a scan) restricted to
    the agencies carrying any of ``tags`` (exact, case-sensitive labels: the inventory's own
    spelling). Kept agencies keep their ``parent``. Raises :class:`UnknownTagError` when
    none matches. Used by the reports (``auditor report --tag``), which read snapshots."""
    wanted = set(tags)
    agencies = [a for a in snapshot.get("agencies", []) or [] if isinstance(a, Mapping)]
    kept = [a for a in agencies if wanted & {str(t) for t in a.get("tags", []) or []}]
    if not kept:
        known = (str(t) for a in agencies for t in a.get("tags", []) or [])
        raise _tag_miss(tags, known, str(snapshot.get("path") or "the scan's inventory"))
    return {**snapshot, "agencies": kept}


# --------------------------------------------------------------------------- names


def _is_ip_literal(name: str) -> bool:
    candidate = name.strip("[]")
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def to_ascii_name(name: str) -> str:
    """Convert a DNS name to lower-case A-labels (IDNA 2008 with UTS #46 mapping).

    Accepts Unicode (``sở-nội-vụ.quảngninh.gov.vn``), upper case, a trailing dot and
    names already in punycode. Raises ValueError with a message meant for the person
    who edits the inventory.
    """
    if not isinstance(name, str):
        raise ValueError(f"expected a name, got {type(name).__name__}")
    if name == "":
        raise ValueError("empty name")
    if name != name.strip():
        raise ValueError(f"{name!r} has leading or trailing whitespace")
    if _URL_RE.match(name) or "/" in name:
        hint = name.split("://", 1)[-1].split("/", 1)[0].split("@")[-1]
        raise ValueError(
            f"{name!r} looks like a URL: write the host name, not a URL (e.g. {hint!r})"
        )
    if _is_ip_literal(name):
        raise ValueError(
            f"{name!r} is an IP address literal: the inventory lists host names, not addresses"
        )
    if ":" in name:
        raise ValueError(f"{name!r} contains ':': write the host name without a port")
    if any(ch.isspace() for ch in name):
        raise ValueError(f"{name!r} contains whitespace")
    if "_" in name:
        raise ValueError(
            f"{name!r} contains '_': underscores are not allowed in host names (RFC 952/1123)"
        )
    stripped = name[:-1] if name.endswith(".") else name
    labels = stripped.split(".")
    if any(label == "" for label in labels):
        raise ValueError(f"{name!r} has an empty label")
    if len(labels) < 2:
        raise ValueError(f"{name!r} is a single-label name: write the fully qualified name")
    try:
        ascii_name = idna.encode(stripped, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        detail = str(exc)
        # idna checks lengths itself; say it in the same words as the checks below.
        if "Label too long" in detail:
            detail = f"a label is longer than {_MAX_LABEL} octets"
        elif "Domain too long" in detail:
            detail = f"the name is longer than {_MAX_NAME} octets in A-label form"
        raise ValueError(f"{name!r} is not a valid IDNA 2008 name: {detail}") from None
    ascii_name = ascii_name.lower()
    for label in ascii_name.split("."):
        if len(label) > _MAX_LABEL:
            raise ValueError(f"{name!r} has a label longer than {_MAX_LABEL} octets")
    if len(ascii_name) > _MAX_NAME:
        raise ValueError(f"{name!r} is longer than {_MAX_NAME} octets in A-label form")
    if ascii_name.rsplit(".", 1)[-1].isdigit():
        # RFC 3696 §2: a top-level label is never all-numeric, so this is a typo'd address.
        raise ValueError(f"{name!r} has an all-numeric top-level label")
    return ascii_name


def to_display_name(ascii_name: str) -> str:
    """The Unicode form of an A-label name, for reports; the input if it cannot be decoded.
    A department path's target ("host/path") keeps its path as written."""
    if "/" in ascii_name:
        host, sep, rest = ascii_name.partition("/")
        return to_display_name(host) + sep + rest
    try:
        return idna.decode(ascii_name)
    except (idna.IDNAError, UnicodeError, ValueError):
        return ascii_name


def _glob_to_ascii(pattern: str) -> str:
    """Normalise a waiver host glob: labels without glob characters go through IDNA."""
    if pattern == "":
        raise ValueError("empty host pattern")
    if any(ch.isspace() for ch in pattern):
        raise ValueError(f"host pattern {pattern!r} contains whitespace")
    if _URL_RE.match(pattern) or "/" in pattern:
        raise ValueError(
            f"host pattern {pattern!r} looks like a URL: write the host name, not a URL"
        )
    stripped = pattern[:-1] if pattern.endswith(".") and pattern != "." else pattern
    out: list[str] = []
    for label in stripped.split("."):
        if label == "":
            raise ValueError(f"host pattern {pattern!r} has an empty label")
        if _GLOB_CHARS & set(label):
            if not label.isascii():
                raise ValueError(
                    f"host pattern {pattern!r}: a label that uses glob characters must be "
                    "ASCII; write its xn-- form"
                )
            out.append(label.lower())
            continue
        if label.isascii():
            if not re.fullmatch(r"[A-Za-z0-9-]+", label):
                raise ValueError(f"host pattern {pattern!r} has an invalid label {label!r}")
            out.append(label.lower())
            continue
        try:
            out.append(idna.encode(label, uts46=True).decode("ascii").lower())
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(f"host pattern {pattern!r}: invalid label {label!r}: {exc}") from None
    return ".".join(out)


# --------------------------------------------------------------------------- data model


def same_check(a: str, b: str) -> bool:
    """Do two check ids name the same check (one may be an old alias of the other)?"""
    if a == b:
        return True
    from auditor.registry import resolve_id

    return resolve_id(a) == resolve_id(b)


@dataclass(frozen=True)
class Waiver:
    """An accepted deviation: ``check`` on hosts matching ``hosts`` (fnmatch globs on A-labels)."""

    check: str
    hosts: tuple[str, ...]
    reason: str
    approved_by: str
    expires: date | None
    line: int

    def expired(self, today: date) -> bool:
        """True once the expiry date has passed (a waiver is valid through its expiry day)."""
        return self.expires is not None and self.expires < today

    def matches(self, check_id: str, host: str, today: date) -> bool:
        """Does this waiver cover ``check_id`` on ``host`` (A-label or Unicode) on ``today``?
        A renamed check's old id (an alias) and its current id are the same check."""
        if not same_check(check_id, self.check) or self.expired(today):
            return False
        name = host.strip().lower()
        if name.endswith("."):
            name = name[:-1]
        if not name.isascii():
            try:
                name = to_ascii_name(name)
            except ValueError:
                return False
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.hosts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "hosts": list(self.hosts),
            "reason": self.reason,
            "approved_by": self.approved_by,
            "expires": self.expires.isoformat() if self.expires else None,
            "line": self.line,
        }


@dataclass(frozen=True)
class HostEntry:
    """A web endpoint: probed once per scan however many agencies list it."""

    host: str  # A-label, lower case, no trailing dot
    display: str  # Unicode form for reports
    paths: tuple[str, ...] = ("/",)
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "display": self.display,
            "paths": list(self.paths),
            "line": self.line,
        }


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    name_en: str | None
    parent: str | None
    contact: str | None
    tags: tuple[str, ...]
    domains: tuple[str, ...]  # A-labels
    hosts: tuple[HostEntry, ...]
    waivers: tuple[Waiver, ...]
    line: int
    # The language of the agency's alert e-mails (auditor.alerts): vi (default) or en.
    language: str = "vi"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "name_en": self.name_en,
            "parent": self.parent,
            "contact": self.contact,
            "tags": list(self.tags),
            "domains": list(self.domains),
            "hosts": [h.to_dict() for h in self.hosts],
            "waivers": [w.to_dict() for w in self.waivers],
            "line": self.line,
            "language": self.language,
        }


@dataclass(frozen=True)
class Defaults:
    """Inventory-wide defaults (the optional ``defaults:`` mapping)."""

    paths: tuple[str, ...] = ("/",)  # paths of a host given as a bare name
    ports: tuple[int, ...] = (80, 443)  # web ports the planner probes

    def to_dict(self) -> dict[str, Any]:
        return {"paths": list(self.paths), "ports": list(self.ports)}


@dataclass(frozen=True)
class Inventory:
    path: str
    version: int
    name: str
    as_of: date | None
    profile: str | None
    agencies: tuple[Agency, ...]
    defaults: Defaults = field(default_factory=Defaults)

    def __iter__(self) -> Iterator[Agency]:
        return iter(self.agencies)

    def __len__(self) -> int:
        return len(self.agencies)

    def agency(self, agency_id: str) -> Agency:
        """The agency with this id; KeyError if there is none."""
        for agency in self.agencies:
            if agency.id == agency_id:
                return agency
        raise KeyError(agency_id)

    def children(self, agency_id: str) -> tuple[Agency, ...]:
        """Direct children of an agency, in inventory order."""
        return tuple(a for a in self.agencies if a.parent == agency_id)

    def host_owners(self) -> dict[str, tuple[str, ...]]:
        """A-label host -> ids of the agencies listing it, in inventory order."""
        owners: dict[str, list[str]] = {}
        for agency in self.agencies:
            for entry in agency.hosts:
                ids = owners.setdefault(entry.host, [])
                if agency.id not in ids:
                    ids.append(agency.id)
        return {host: tuple(ids) for host, ids in owners.items()}

    def host_paths(self) -> dict[str, tuple[str, ...]]:
        """A-label host -> its department paths (every agency's ``paths`` but "/", which
        the host's own checks cover), in inventory order; hosts with none are left out."""
        paths: dict[str, list[str]] = {}
        for agency in self.agencies:
            for entry in agency.hosts:
                for path in entry.paths:
                    if path != "/" and path not in paths.setdefault(entry.host, []):
                        paths[entry.host].append(path)
        return {host: tuple(p) for host, p in paths.items() if p}

    def zone_owners(self) -> dict[str, tuple[str, ...]]:
        """A-label zone -> ids of the agencies listing it, in inventory order."""
        owners: dict[str, list[str]] = {}
        for agency in self.agencies:
            for zone in agency.domains:
                ids = owners.setdefault(zone, [])
                if agency.id not in ids:
                    ids.append(agency.id)
        return {zone: tuple(ids) for zone, ids in owners.items()}

    def only(self, agency_ids: Iterable[str]) -> Inventory:
        """The same inventory restricted to ``agency_ids`` (children are not implied).

        Kept agencies keep their ``parent`` even when the parent is filtered out.
        """
        wanted = list(dict.fromkeys(agency_ids))
        if not wanted:
            raise UnknownAgencyError((), "no agency id given to select")
        known = [a.id for a in self.agencies]
        unknown = tuple(i for i in wanted if i not in known)
        if unknown:
            parts = []
            for agency_id in unknown:
                close = difflib.get_close_matches(agency_id, known, n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                parts.append(f"{agency_id!r}{hint}")
            raise UnknownAgencyError(
                unknown, f"unknown agency id(s) in {self.path}: {'; '.join(parts)}"
            )
        keep = set(wanted)
        return Inventory(
            path=self.path,
            version=self.version,
            name=self.name,
            as_of=self.as_of,
            profile=self.profile,
            agencies=tuple(a for a in self.agencies if a.id in keep),
            defaults=self.defaults,
        )

    def tagged(self, tags: Sequence[str]) -> Inventory:
        """The same inventory restricted to the agencies carrying any of ``tags`` (``--tag``,
        repeatable: any of them). Raises :class:`UnknownTagError` when none matches."""
        wanted = set(tags)
        keep = [a.id for a in self.agencies if wanted & set(a.tags)]
        if not keep:
            raise _tag_miss(tags, (t for a in self.agencies for t in a.tags), self.path)
        return self.only(keep)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot, stored with each scan."""
        return {
            "path": self.path,
            "version": self.version,
            "name": self.name,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "profile": self.profile,
            "defaults": self.defaults.to_dict(),
            "agencies": [a.to_dict() for a in self.agencies],
        }


# --------------------------------------------------------------------------- YAML walking


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    assert isinstance(node, ScalarNode)
    tag = node.tag
    if tag == _TAG_NULL:
        return "null (an empty value)"
    if tag == _TAG_STR:
        return f"the string {node.value!r}"
    names = {
        _TAG_INT: "an integer",
        _TAG_BOOL: "a boolean",
        _TAG_FLOAT: "a number",
        _TAG_TIMESTAMP: "a date",
    }
    kind = names.get(tag, f"a value tagged {tag}")
    return f"{kind} ({node.value!r})"


_TOP_KEYS = ("version", "name", "as_of", "profile", "defaults", "agencies")
_DEFAULTS_KEYS = ("paths", "ports")
_AGENCY_KEYS = (
    "id",
    "name",
    "name_en",
    "parent",
    "contact",
    "language",
    "tags",
    "domains",
    "hosts",
    "waivers",
)
_HOST_KEYS = ("host", "paths")
_WAIVER_KEYS = ("check", "hosts", "reason", "approved_by", "expires")


@dataclass
class _Ctx:
    file: str
    errors: list[InventoryError] = field(default_factory=list)
    # Problems that do not stop a scan (an expired waiver, an old check id): printed by
    # ``auditor inventory validate``, exit 0.
    warnings: list[InventoryError] = field(default_factory=list)
    today: date = field(default_factory=date.today)

    def error(self, line: int, where: str, message: str) -> None:
        self.errors.append(InventoryError(self.file, line, where, message))

    def warn(self, node: Node, where: str, message: str) -> None:
        self.warnings.append(InventoryError(self.file, _line(node), where, message))

    def at(self, node: Node, where: str, message: str) -> None:
        self.error(_line(node), where, message)


def _mapping(
    ctx: _Ctx,
    node: Node,
    where: str,
    allowed: tuple[str, ...],
    required: tuple[str, ...],
    what: str,
) -> dict[str, tuple[ScalarNode, Node]] | None:
    """Check a mapping's shape; return its known keys -> (key node, value node)."""
    if not isinstance(node, MappingNode):
        ctx.at(node, where, f"expected {what} (a mapping), got {_describe(node)}")
        return None
    prefix = f"{where}." if where and where != "document" else ""
    seen: dict[str, int] = {}
    out: dict[str, tuple[ScalarNode, Node]] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            ctx.at(
                key_node, where, f"keys of {what} must be plain names, got {_describe(key_node)}"
            )
            continue
        key = str(key_node.value)
        # An empty key (`? ` or `"": x`) has no name of its own: point at the mapping.
        key_where = f"{prefix}{key}" if key else (where or "document")
        if key in seen:
            ctx.at(key_node, key_where, f"duplicate key {key!r} (first given on line {seen[key]})")
            continue
        seen[key] = _line(key_node)
        if key not in allowed:
            extra = " (YAML merge keys are not supported)" if key == "<<" else ""
            ctx.at(
                key_node,
                key_where,
                f"unknown key {key!r} in {what}{extra}; allowed keys: {', '.join(allowed)}",
            )
            continue
        out[key] = (key_node, value_node)
    for key in required:
        if key not in out and key not in seen:
            ctx.at(node, f"{prefix}{key}", f"missing required key {key!r} in {what}")
    return out


def _string(ctx: _Ctx, node: Node, where: str, *, optional: bool = False) -> str | None:
    if isinstance(node, ScalarNode):
        if node.tag == _TAG_NULL and optional:
            return None
        if node.tag == _TAG_STR:
            value = str(node.value)
            if value.strip() == "":
                ctx.at(node, where, "must not be empty")
                return None
            return value
        hint = "; quote it" if node.tag != _TAG_NULL else ""
        ctx.at(node, where, f"expected a string, got {_describe(node)}{hint}")
        return None
    ctx.at(node, where, f"expected a string, got {_describe(node)}")
    return None


def _sequence(ctx: _Ctx, node: Node, where: str, what: str) -> list[Node] | None:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, ScalarNode) and node.tag == _TAG_NULL:
        return []
    hint = f"; write [{node.value}]" if isinstance(node, ScalarNode) else ""
    ctx.at(node, where, f"expected a list of {what}, got {_describe(node)}{hint}")
    return None


def _date(ctx: _Ctx, node: Node, where: str) -> date | None:
    if isinstance(node, ScalarNode) and node.tag == _TAG_NULL:
        return None
    if isinstance(node, ScalarNode) and node.tag in (_TAG_STR, _TAG_TIMESTAMP):
        text = str(node.value).strip()
        if _DATE_RE.match(text):
            try:
                return date.fromisoformat(text)
            except ValueError as exc:
                ctx.at(node, where, f"invalid date {text!r}: {exc}")
                return None
    ctx.at(node, where, f"expected a date written YYYY-MM-DD, got {_describe(node)}")
    return None


def _name_text(ctx: _Ctx, node: Node, where: str, what: str) -> str | None:
    # Any plain scalar is taken as written: `1.5` or `yes` are not names either, and the
    # name rules then give the precise reason instead of a type complaint.
    if isinstance(node, ScalarNode) and node.tag != _TAG_NULL:
        if node.tag not in (_TAG_STR, _TAG_INT, _TAG_FLOAT, _TAG_BOOL, _TAG_TIMESTAMP):
            ctx.at(node, where, f"expected {what}, got {_describe(node)}")
            return None
        return str(node.value)
    ctx.at(node, where, f"expected {what}, got {_describe(node)}")
    return None


def _dns_name(ctx: _Ctx, node: Node, where: str, what: str) -> str | None:
    text = _name_text(ctx, node, where, what)
    if text is None:
        return None
    try:
        return to_ascii_name(text)
    except ValueError as exc:
        ctx.at(node, where, str(exc))
        return None


def _path(ctx: _Ctx, node: Node, where: str) -> str | None:
    value = _string(ctx, node, where)
    if value is None:
        return None
    if not value.startswith("/"):
        ctx.at(node, where, f"path {value!r} must start with '/'")
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        ctx.at(node, where, f"path {value!r} contains whitespace or control characters")
        return None
    if "#" in value:
        ctx.at(node, where, f"path {value!r} contains a fragment ('#'), which is never sent")
        return None
    return value


def _paths(ctx: _Ctx, node: Node, where: str) -> tuple[str, ...] | None:
    items = _sequence(ctx, node, where, "paths")
    if items is None:
        return None
    if not items:
        ctx.at(node, where, "must list at least one path (omit it for the default)")
        return None
    out: list[str] = []
    ok = True
    for index, item in enumerate(items):
        value = _path(ctx, item, f"{where}[{index}]")
        if value is None:
            ok = False
        elif value in out:
            ctx.at(item, f"{where}[{index}]", f"duplicate path {value!r}")
            ok = False
        else:
            out.append(value)
    return tuple(out) if ok else None


def _ports(ctx: _Ctx, node: Node, where: str) -> tuple[int, ...] | None:
    items = _sequence(ctx, node, where, "ports")
    if items is None:
        return None
    if not items:
        ctx.at(node, where, "must list at least one port")
        return None
    out: list[int] = []
    for index, item in enumerate(items):
        item_where = f"{where}[{index}]"
        if not (isinstance(item, ScalarNode) and item.tag == _TAG_INT):
            ctx.at(item, item_where, f"expected a port number, got {_describe(item)}")
            return None
        try:
            port = int(str(item.value).replace("_", ""), 10)
        except ValueError:
            ctx.at(item, item_where, f"expected a decimal port number, got {item.value!r}")
            return None
        if not 1 <= port <= 65535:
            ctx.at(item, item_where, f"port {port} is outside 1-65535")
            return None
        if port in out:
            ctx.at(item, item_where, f"duplicate port {port}")
            return None
        out.append(port)
    return tuple(out)


def _defaults(ctx: _Ctx, node: Node) -> Defaults:
    if isinstance(node, ScalarNode) and node.tag == _TAG_NULL:
        return Defaults()
    entries = _mapping(ctx, node, "defaults", _DEFAULTS_KEYS, (), "defaults")
    if entries is None:
        return Defaults()
    result = Defaults()
    if "paths" in entries:
        paths = _paths(ctx, entries["paths"][1], "defaults.paths")
        if paths is not None:
            result = Defaults(paths=paths, ports=result.ports)
    if "ports" in entries:
        ports = _ports(ctx, entries["ports"][1], "defaults.ports")
        if ports is not None:
            result = Defaults(paths=result.paths, ports=ports)
    return result


def _host_entry(ctx: _Ctx, node: Node, where: str, defaults: Defaults) -> HostEntry | None:
    if isinstance(node, MappingNode):
        entries = _mapping(ctx, node, where, _HOST_KEYS, ("host",), "a host entry")
        if entries is None or "host" not in entries:
            return None
        host = _dns_name(ctx, entries["host"][1], f"{where}.host", "a host name")
        paths: tuple[str, ...] | None = defaults.paths
        if "paths" in entries:
            paths = _paths(ctx, entries["paths"][1], f"{where}.paths")
        if host is None or paths is None:
            return None
        return HostEntry(host=host, display=to_display_name(host), paths=paths, line=_line(node))
    host = _dns_name(ctx, node, where, "a host name or a {host: ..., paths: [...]} mapping")
    if host is None:
        return None
    return HostEntry(
        host=host, display=to_display_name(host), paths=defaults.paths, line=_line(node)
    )


@dataclass
class _WaiverDraft:
    """A parsed waiver with the nodes its semantic checks point at (file:line)."""

    waiver: Waiver
    where: str
    check_node: Node
    host_nodes: list[Node]
    expires_node: Node | None


def _waiver(ctx: _Ctx, node: Node, where: str) -> _WaiverDraft | None:
    entries = _mapping(
        ctx, node, where, _WAIVER_KEYS, ("check", "hosts", "reason", "approved_by"), "a waiver"
    )
    if entries is None:
        return None
    ok = True
    check: str | None = None
    if "check" in entries:
        check_node = entries["check"][1]
        check = _string(ctx, check_node, f"{where}.check")
        if check is not None and not _CHECK_ID_RE.match(check):
            ctx.at(
                check_node,
                f"{where}.check",
                f"invalid check id {check!r}: expected dotted lower-case ids such as "
                "'tls.protocols.legacy'",
            )
            check = None
    ok = ok and check is not None
    hosts: list[str] = []
    host_nodes: list[Node] | None = None
    if "hosts" in entries:
        host_nodes = _sequence(ctx, entries["hosts"][1], f"{where}.hosts", "host globs")
        if host_nodes is None:
            ok = False
        elif not host_nodes:
            ctx.at(entries["hosts"][1], f"{where}.hosts", "must list at least one host glob")
            ok = False
        for index, item in enumerate(host_nodes or []):
            item_where = f"{where}.hosts[{index}]"
            text = _name_text(ctx, item, item_where, "a host glob")
            if text is None:
                ok = False
                continue
            try:
                hosts.append(_glob_to_ascii(text))
            except ValueError as exc:
                ctx.at(item, item_where, str(exc))
                ok = False
    reason = _string(ctx, entries["reason"][1], f"{where}.reason") if "reason" in entries else None
    approved = (
        _string(ctx, entries["approved_by"][1], f"{where}.approved_by")
        if "approved_by" in entries
        else None
    )
    expires = None
    if "expires" in entries:
        expires_node = entries["expires"][1]
        expires = _date(ctx, expires_node, f"{where}.expires")
        if expires is None and not (
            isinstance(expires_node, ScalarNode) and expires_node.tag == _TAG_NULL
        ):
            ok = False
    if not ok or check is None or reason is None or approved is None:
        return None
    waiver = Waiver(
        check=check,
        hosts=tuple(hosts),
        reason=reason,
        approved_by=approved,
        expires=expires,
        line=_line(node),
    )
    return _WaiverDraft(
        waiver,
        where,
        entries["check"][1],
        list(host_nodes or []),
        entries["expires"][1] if "expires" in entries else None,
    )


@dataclass
class _AgencyDraft:
    agency: Agency
    id_node: Node | None
    parent_node: Node | None
    waivers: list[_WaiverDraft] = field(default_factory=list)


def _agency(ctx: _Ctx, node: Node, where: str, defaults: Defaults) -> _AgencyDraft | None:
    entries = _mapping(ctx, node, where, _AGENCY_KEYS, ("id", "name"), "an agency")
    if entries is None:
        return None
    agency_id: str | None = None
    id_node: Node | None = None
    if "id" in entries:
        id_node = entries["id"][1]
        agency_id = _string(ctx, id_node, f"{where}.id")
        if agency_id is not None and not _AGENCY_ID_RE.match(agency_id):
            ctx.at(
                id_node,
                f"{where}.id",
                f"invalid agency id {agency_id!r}: use lower-case letters, digits and '-', "
                "starting with a letter or digit (e.g. 'so-noi-vu')",
            )
            agency_id = None
    name = _string(ctx, entries["name"][1], f"{where}.name") if "name" in entries else None
    name_en = contact = parent = None
    if "name_en" in entries:
        name_en = _string(ctx, entries["name_en"][1], f"{where}.name_en", optional=True)
    if "contact" in entries:
        contact = _string(ctx, entries["contact"][1], f"{where}.contact", optional=True)
    language = "vi"
    if "language" in entries:
        lang_node = entries["language"][1]
        lang = _string(ctx, lang_node, f"{where}.language", optional=True)
        if lang is not None and lang not in LANGUAGES:
            ctx.at(
                lang_node,
                f"{where}.language",
                f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}",
            )
        elif lang is not None:
            language = lang
    parent_node: Node | None = None
    if "parent" in entries:
        parent_node = entries["parent"][1]
        parent = _string(ctx, parent_node, f"{where}.parent", optional=True)
        if parent is None:
            parent_node = None
    tags: list[str] = []
    if "tags" in entries:
        for index, item in enumerate(
            _sequence(ctx, entries["tags"][1], f"{where}.tags", "tags") or []
        ):
            tag = _string(ctx, item, f"{where}.tags[{index}]")
            if tag is not None and tag not in tags:
                tags.append(tag)

    domains: list[str] = []
    domains_given = False
    if "domains" in entries:
        domain_nodes = _sequence(ctx, entries["domains"][1], f"{where}.domains", "domain names")
        # A list of the wrong type is already an error: do not also say "no domains".
        domains_given = domain_nodes is None or bool(domain_nodes)
        for index, item in enumerate(domain_nodes or []):
            item_where = f"{where}.domains[{index}]"
            zone = _dns_name(ctx, item, item_where, "a domain name")
            if zone is None:
                continue
            if zone in domains:
                ctx.at(item, item_where, f"duplicate domain {zone!r} in this agency")
                continue
            domains.append(zone)

    hosts: list[HostEntry] = []
    hosts_given = False
    if "hosts" in entries:
        host_nodes = _sequence(ctx, entries["hosts"][1], f"{where}.hosts", "hosts")
        seen_hosts: dict[str, int] = {}
        hosts_given = host_nodes is None or bool(host_nodes)
        for index, item in enumerate(host_nodes or []):
            item_where = f"{where}.hosts[{index}]"
            entry = _host_entry(ctx, item, item_where, defaults)
            if entry is None:
                continue
            if entry.host in seen_hosts:
                ctx.at(
                    item,
                    item_where,
                    f"duplicate host {entry.host!r} in this agency (first on line "
                    f"{seen_hosts[entry.host]}); list all its paths in one entry",
                )
                continue
            seen_hosts[entry.host] = entry.line
            hosts.append(entry)

    if not domains_given and not hosts_given:
        ctx.at(node, where, "agency has neither domains nor hosts: list at least one of them")

    waivers: list[_WaiverDraft] = []
    if "waivers" in entries:
        for index, item in enumerate(
            _sequence(ctx, entries["waivers"][1], f"{where}.waivers", "waivers") or []
        ):
            waiver = _waiver(ctx, item, f"{where}.waivers[{index}]")
            if waiver is not None:
                waivers.append(waiver)

    agency = Agency(
        id=agency_id or "",
        name=name or "",
        name_en=name_en,
        parent=parent,
        contact=contact,
        tags=tuple(tags),
        domains=tuple(domains),
        hosts=tuple(hosts),
        waivers=tuple(w.waiver for w in waivers),
        line=_line(node),
        language=language,
    )
    return _AgencyDraft(
        agency=agency,
        id_node=id_node if agency_id else None,
        parent_node=parent_node,
        waivers=waivers,
    )


def _check_relations(ctx: _Ctx, drafts: list[tuple[str, _AgencyDraft]]) -> None:
    """Duplicate ids, unknown parents and parent cycles, across the whole file."""
    first: dict[str, int] = {}
    for where, draft in drafts:
        agency = draft.agency
        if not agency.id or draft.id_node is None:
            continue
        if agency.id in first:
            ctx.at(
                draft.id_node,
                f"{where}.id",
                f"duplicate agency id {agency.id!r} (first used on line {first[agency.id]})",
            )
        else:
            first[agency.id] = _line(draft.id_node)
    parents: dict[str, str] = {}
    for where, draft in drafts:
        agency = draft.agency
        if agency.parent is None or draft.parent_node is None:
            continue
        if agency.parent not in first:
            close = difflib.get_close_matches(agency.parent, list(first), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            ctx.at(draft.parent_node, f"{where}.parent", f"unknown parent {agency.parent!r}{hint}")
            continue
        if agency.id and agency.id not in parents:
            parents[agency.id] = agency.parent
    reported: set[str] = set()
    for where, draft in drafts:
        start = draft.agency.id
        if not start or start in reported or start not in parents or draft.parent_node is None:
            continue
        chain = [start]
        current = parents[start]
        while current in parents and current not in chain:
            chain.append(current)
            current = parents[current]
        if current == start:
            reported.update(chain)
            cycle = " -> ".join([*chain, start])
            ctx.at(draft.parent_node, f"{where}.parent", f"parent cycle: {cycle}")


def _check_waivers(ctx: _Ctx, drafts: list[tuple[str, _AgencyDraft]]) -> None:
    """Waivers are validated like everything else: a waiver that names no known check or
    whose host glob matches none of its agency's targets does nothing, silently (errors);
    one that has expired no longer counts (a warning, the scan still runs)."""
    from auditor.model import Scope
    from auditor.registry import all_checks, get_check, is_known, resolve_id

    known = [c.id for c in all_checks()]
    everyone: list[tuple[str, str]] = []  # (target name, agency id), for the hint
    for _where, draft in drafts:
        a = draft.agency
        everyone += [(h.host, a.id) for h in a.hosts] + [(z, a.id) for z in a.domains]
    for _where, draft in drafts:
        agency = draft.agency
        for wd in draft.waivers:
            w, where = wd.waiver, wd.where
            if not is_known(w.check):
                close = difflib.get_close_matches(w.check, known, n=2, cutoff=0.6)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                ctx.at(
                    wd.check_node,
                    f"{where}.check",
                    f"unknown check id {w.check!r}{hint}; `auditor checks` lists them",
                )
                continue
            current = resolve_id(w.check)
            if current != w.check:
                ctx.warn(
                    wd.check_node,
                    f"{where}.check",
                    f"{w.check!r} is the old id of {current!r}: the waiver applies to it; "
                    "write the current id",
                )
            zone_check = get_check(current).scope == Scope.ZONE
            # Scoring applies a zone check's waiver to the agency's domains, any other
            # check's to its hosts (auditor.scoring.check_result).
            targets = list(agency.domains) if zone_check else [h.host for h in agency.hosts]
            what = "domains" if zone_check else "hosts"
            for pattern, hnode, index in zip(
                w.hosts, wd.host_nodes, range(len(w.hosts)), strict=False
            ):
                if any(fnmatch.fnmatchcase(t, pattern) for t in targets):
                    continue
                others = sorted(
                    {
                        f"{name} ({owner})"
                        for name, owner in everyone
                        if owner != agency.id and fnmatch.fnmatchcase(name, pattern)
                    }
                )
                if others:
                    why = (
                        f"; it matches {', '.join(others[:3])} of other agencies, but a "
                        "waiver covers only its own agency's targets"
                    )
                elif zone_check and any(fnmatch.fnmatchcase(h.host, pattern) for h in agency.hosts):
                    why = (
                        f"; {current} is judged per domain: list the domain "
                        f"({', '.join(agency.domains) or 'the agency has none'})"
                    )
                else:
                    listed = ", ".join(targets[:5]) + (", ..." if len(targets) > 5 else "")
                    why = f" (its {what}: {listed or 'none'})"
                ctx.at(
                    hnode,
                    f"{where}.hosts[{index}]",
                    f"host glob {pattern!r} matches none of this agency's {what}{why}",
                )
            if w.expires is not None and w.expired(ctx.today) and wd.expires_node is not None:
                days = (ctx.today - w.expires).days
                ctx.warn(
                    wd.expires_node,
                    f"{where}.expires",
                    f"waiver of {w.check} expired on {w.expires.isoformat()} ({days} day(s) "
                    "ago): it no longer counts; renew it or remove it",
                )


_EMPTY_INVENTORY = "empty inventory: expected a mapping with 'version' and 'agencies'"


def _compose(ctx: _Ctx, text: str, empty: str = _EMPTY_INVENTORY) -> Node | None:
    """The YAML document's node tree (lines kept), or None with the error said in ``ctx``;
    ``empty`` is what an empty document is told (the schedule file reads its own too)."""
    loader: yaml.SafeLoader | None = None
    try:
        # The reader checks every character up front, so construction can fail too.
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        ctx.error(line, "document", f"YAML syntax error: {problem}{context}")
        return None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        char = exc.character
        code = ord(char) if isinstance(char, str) and len(char) == 1 else char
        shown = f" #x{code:04x}" if isinstance(code, int) else ""
        ctx.error(line, "document", f"invalid character{shown} in YAML: {exc.reason}")
        return None
    except yaml.YAMLError as exc:
        ctx.error(1, "document", f"YAML error: {exc}")
        return None
    except RecursionError:
        ctx.error(1, "document", "YAML nesting is too deep")
        return None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        ctx.error(1, "document", empty)
    return node


def _parse_yaml(ctx: _Ctx, text: str, stem: str) -> Inventory | None:
    root = _compose(ctx, text)
    if root is None:
        return None
    entries = _mapping(ctx, root, "document", _TOP_KEYS, ("version", "agencies"), "the inventory")
    if entries is None:
        return None
    version = 0
    if "version" in entries:
        version_node = entries["version"][1]
        if isinstance(version_node, ScalarNode) and version_node.tag == _TAG_INT:
            try:
                version = int(str(version_node.value), 10)
            except ValueError:
                version = -1
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        if version not in SUPPORTED_VERSIONS:
            ctx.at(
                version_node,
                "version",
                f"unsupported version {_describe(version_node)}; this loader reads version "
                f"{supported}",
            )
    name = stem
    if "name" in entries:
        name = _string(ctx, entries["name"][1], "name") or stem
    as_of = _date(ctx, entries["as_of"][1], "as_of") if "as_of" in entries else None
    profile = (
        _string(ctx, entries["profile"][1], "profile", optional=True)
        if "profile" in entries
        else None
    )
    defaults = _defaults(ctx, entries["defaults"][1]) if "defaults" in entries else Defaults()
    drafts: list[tuple[str, _AgencyDraft]] = []
    if "agencies" in entries:
        agencies_node = entries["agencies"][1]
        items = _sequence(ctx, agencies_node, "agencies", "agencies")
        if items is not None and not items:
            ctx.at(agencies_node, "agencies", "the inventory lists no agencies")
        for index, item in enumerate(items or []):
            where = f"agencies[{index}]"
            draft = _agency(ctx, item, where, defaults)
            if draft is not None:
                drafts.append((where, draft))
    _check_relations(ctx, drafts)
    _check_waivers(ctx, drafts)
    return Inventory(
        path=ctx.file,
        version=version,
        name=name,
        as_of=as_of,
        profile=profile,
        agencies=tuple(d.agency for _, d in drafts),
        defaults=defaults,
    )


# --------------------------------------------------------------------------- CSV


@dataclass
class _CsvAgency:
    name: str
    line: int
    domains: list[str] = field(default_factory=list)
    hosts: list[HostEntry] = field(default_factory=list)


def _parse_csv(ctx: _Ctx, text: str, stem: str) -> Inventory | None:
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        ctx.error(1, "header", f"CSV syntax error: {exc}")
        return None
    expected = ",".join(_CSV_COLUMNS)
    if header is None:
        ctx.error(1, "header", f"empty CSV file: expected the header {expected}")
        return None
    columns = [c.strip() for c in header]
    if columns != list(_CSV_COLUMNS):
        unknown = [c for c in columns if c not in _CSV_COLUMNS]
        detail = f" (unknown column(s): {', '.join(unknown)})" if unknown else ""
        ctx.error(1, "header", f"expected the header {expected}, got {','.join(columns)}{detail}")
        return None
    agencies: dict[str, _CsvAgency] = {}
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            ctx.error(reader.line_num, "row", f"CSV syntax error: {exc}")
            return None
        if not row or all(cell.strip() == "" for cell in row):
            continue
        if row[0].lstrip().startswith("#"):
            continue
        if len(row) != len(_CSV_COLUMNS):
            missing = _CSV_COLUMNS[len(row)] if len(row) < len(_CSV_COLUMNS) else "row"
            ctx.error(line, missing, f"expected {len(_CSV_COLUMNS)} columns, got {len(row)}")
            continue
        agency_id, agency_name, kind, name = (cell.strip() for cell in row)
        if not _AGENCY_ID_RE.match(agency_id):
            ctx.error(
                line,
                "agency_id",
                f"invalid agency id {agency_id!r}: use lower-case letters, digits and '-'",
            )
            continue
        if agency_name == "":
            ctx.error(line, "agency_name", "must not be empty")
            continue
        agency = agencies.get(agency_id)
        if agency is None:
            agency = agencies[agency_id] = _CsvAgency(name=agency_name, line=line)
        elif agency.name != agency_name:
            ctx.error(
                line,
                "agency_name",
                f"agency {agency_id!r} is named {agency.name!r} on line {agency.line}, "
                f"not {agency_name!r}",
            )
            continue
        if kind not in ("domain", "host"):
            ctx.error(line, "kind", f"expected 'domain' or 'host', got {kind!r}")
            continue
        try:
            ascii_name = to_ascii_name(name)
        except ValueError as exc:
            ctx.error(line, "name", str(exc))
            continue
        if kind == "domain":
            if ascii_name in agency.domains:
                ctx.error(line, "name", f"duplicate domain {ascii_name!r} for {agency_id!r}")
                continue
            agency.domains.append(ascii_name)
        else:
            if any(h.host == ascii_name for h in agency.hosts):
                ctx.error(line, "name", f"duplicate host {ascii_name!r} for {agency_id!r}")
                continue
            agency.hosts.append(
                HostEntry(host=ascii_name, display=to_display_name(ascii_name), line=line)
            )
    if not agencies and not ctx.errors:
        ctx.error(1, "header", "the CSV file lists no agencies")
    return Inventory(
        path=ctx.file,
        version=1,
        name=stem,
        as_of=None,
        profile=None,
        agencies=tuple(
            Agency(
                id=agency_id,
                name=a.name,
                name_en=None,
                parent=None,
                contact=None,
                tags=(),
                domains=tuple(a.domains),
                hosts=tuple(a.hosts),
                waivers=(),
                line=a.line,
            )
            for agency_id, a in agencies.items()
        ),
    )


# --------------------------------------------------------------------------- entry points


def _decode(ctx: _Ctx, data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        ctx.error(line, "file", f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8")
        return None


def _load(
    path: str | Path, today: date | None = None
) -> tuple[Inventory | None, list[InventoryError], list[InventoryError]]:
    file = str(path)
    ctx = _Ctx(file=file, today=today or date.today())
    suffix = Path(file).suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        ctx.error(
            0,
            "file",
            f"unsupported inventory format {suffix or '(no suffix)'!r}: use .yaml, .yml or .csv",
        )
        return None, ctx.errors, []
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        ctx.error(0, "file", f"cannot read the inventory: {exc.strerror or exc}")
        return None, ctx.errors, []
    text = _decode(ctx, data)
    if text is None:
        return None, ctx.errors, []
    stem = Path(file).stem
    parse = _parse_csv if suffix == ".csv" else _parse_yaml
    inventory = parse(ctx, text, stem)
    # Stable sort: semantic checks (ids, parents) run last but belong in file order.
    by_line = lambda e: e.line  # noqa: E731
    return inventory, sorted(ctx.errors, key=by_line), sorted(ctx.warnings, key=by_line)


def validate_inventory(path: str | Path) -> list[InventoryError]:
    """Every problem found in the file (empty when it loads), in file order where possible."""
    return _load(path)[1]


def check_inventory(
    path: str | Path, today: date | None = None
) -> tuple[list[InventoryError], list[InventoryError]]:
    """(errors, warnings) of the file, each in file order. Warnings (an expired waiver, a
    check's old id) do not stop a scan; ``today`` decides what has expired."""
    _inventory, errors, warnings = _load(path, today)
    return errors, warnings


def load_inventory(path: str | Path) -> Inventory:
    """Load and validate an inventory; raise the first InventoryError found."""
    inventory, errors, _warnings = _load(path)
    if errors:
        raise errors[0]
    assert inventory is not None
    return inventory
