"""Compliance profiles: which checks an agency is held to, how much each weighs, how graded.

A profile is a YAML file (``checks/profiles/<name>.yaml``, or any path a user passes). It
lists *requirements*: an id, a title, a level (mandatory / recommended / informational), a
weight, the check ids that make it up and optional threshold overrides; plus the grade bands
and the agency KPI. Checks cite standards; profiles pick among them.

Loading validates everything and reports every problem with the file, the 1-based line of the
offending YAML node and a dotted field path (the same style as the inventory loader), e.g.
``vn-gov.yaml:42: requirements[3].checks[1]: unknown check id 'tls.cert.trust'``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from auditor.model import Level
from auditor.registry import get_check, is_known, resolve_id

__all__ = [
    "DEFAULT_ALERT_CERT_DAYS",
    "DEFAULT_MIN_COVERAGE",
    "DEFAULT_PROFILE",
    "PROFILE_DIR",
    "GradeBand",
    "Kpi",
    "Profile",
    "ProfileError",
    "Requirement",
    "VantageRule",
    "list_profiles",
    "load_profile",
    "profile_path",
]

DEFAULT_PROFILE = "vn-gov"
DEFAULT_MIN_COVERAGE = 50.0
# Regression alerts (auditor.alerts): a certificate with fewer days left than this is an
# alert. 21 days: three weekly scans to act, and still inside the 30 days at which
# tls.cert.expiry warns (CA/B Forum BR 6.3.2 lifetimes are short; renew at 2/3 of them).
DEFAULT_ALERT_CERT_DAYS = 21
PROFILE_DIR = Path(__file__).resolve().parent.parent / "checks" / "profiles"

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TAG_STR = "tag:yaml.org,2002:str"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_NULL = "tag:yaml.org,2002:null"


class ProfileError(ValueError):
    """One or more problems in a profile file; ``problems`` holds (line, field, message)."""

    def __init__(self, file: str, problems: list[tuple[int, str, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}:{line}: {where}: {msg}" for line, where, msg in problems]
        super().__init__("\n".join(lines))


class VantageRule(StrEnum):
    """How the verdicts of several vantage points (networks the scanner stood in, issue
    #16) combine into one. A scan from one vantage (``local``) is judged as it always was:
    the rule only matters when there are several."""

    # Every vantage that could decide must agree it works: the worst decided verdict.
    EVERY = "every"
    # One vantage that decided it works is enough: the best decided verdict.
    ANY = "any"


_KPI_RULE_TEXT = {
    VantageRule.EVERY: "a host counts when it works over IPv6 from every vantage that could test",
    VantageRule.ANY: "from at least one vantage",
}
_CHECK_RULE_TEXT = {
    VantageRule.EVERY: "the worst verdict of the vantages that could test",
    VantageRule.ANY: "the best verdict of the vantages that could test",
}


@dataclass(frozen=True)
class Requirement:
    """One line of a compliance profile: checks that must pass together."""

    id: str
    title: str
    level: Level
    weight: float
    checks: tuple[str, ...]
    title_vi: str | None = None
    description: str = ""

    @property
    def scored(self) -> bool:
        """Informational requirements are shown, never scored."""
        return self.level != Level.INFORMATIONAL and self.weight > 0


@dataclass(frozen=True)
class GradeBand:
    grade: str
    min_score: float  # inclusive lower bound on the 0-100 score


@dataclass(frozen=True)
class Kpi:
    """A yes/no agency indicator: every host passes every one of these checks."""

    id: str
    title: str
    checks: tuple[str, ...]
    title_vi: str | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    requirements: tuple[Requirement, ...]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    grades: tuple[GradeBand, ...] = (
        GradeBand("A", 90.0),
        GradeBand("B", 75.0),
        GradeBand("C", 60.0),
        GradeBand("D", 40.0),
        GradeBand("E", 0.0),
    )
    kpi: Kpi | None = None
    # Worst grade an agency can get while a mandatory requirement fails (None: no cap).
    mandatory_fail_cap: str | None = None
    # Credit of a "warn" without a partial score of its own.
    warn_credit: float = 0.5
    # Least coverage (0-100: share of the scored weight actually tested) for a grade; under
    # it an agency shows "insufficient data". 50: when half of what the profile asks could
    # not be tested, the grade would say more about the scanner's view than the agency.
    min_coverage: float = DEFAULT_MIN_COVERAGE
    # How vantages combine (profile key ``vantages``). KPI "works well over IPv6": by
    # default a host counts only when it works over IPv6 from every vantage (QD 38: a
    # portal must work for every citizen, whatever their network). Other checks: by default
    # the worst verdict across vantages, for the same reason: an agency's site must work
    # from every network its citizens use, and a broken transit at one ISP is the agency's
    # to get fixed (with its upstream). Either way a vantage that could not test (not_tested,
    # error: the scanner's own limit there) never lowers what the others decided.
    vantage_kpi: VantageRule = VantageRule.EVERY
    vantage_checks: VantageRule = VantageRule.EVERY
    title_vi: str | None = None
    description: str = ""
    sources: tuple[str, ...] = ()
    path: str = ""
    # ``alerts.certificate_expiry_days``: days left under which a certificate is an alert.
    alert_cert_days: int = DEFAULT_ALERT_CERT_DAYS

    def check_ids(self) -> tuple[str, ...]:
        ids = [c for r in self.requirements for c in r.checks]
        if self.kpi is not None:
            ids.extend(self.kpi.checks)
        return tuple(dict.fromkeys(ids))

    def requirement(self, req_id: str) -> Requirement:
        for r in self.requirements:
            if r.id == req_id:
                return r
        raise KeyError(req_id)

    def grade_for(self, score: float) -> str:
        """The grade band holding ``score`` (bands are sorted best first)."""
        for band in self.grades:
            if score >= band.min_score:
                return band.grade
        return self.grades[-1].grade

    def grade_rank(self, grade: str) -> int:
        """0 for the best grade, larger for worse ones."""
        for i, band in enumerate(self.grades):
            if band.grade == grade:
                return i
        return len(self.grades)

    def vantage_rule_text(self) -> str:
        """The combine rules in words (for ``auditor profiles`` and the reports)."""
        return (
            f"KPI: {self.vantage_kpi.value} ({_KPI_RULE_TEXT[self.vantage_kpi]}); "
            f"checks: {self.vantage_checks.value} ({_CHECK_RULE_TEXT[self.vantage_checks]})"
        )


# --------------------------------------------------------------------------- lookup


def list_profiles() -> list[str]:
    """Names of the bundled profiles (``checks/profiles/*.yaml``), default first."""
    names = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
    if DEFAULT_PROFILE in names:
        names.remove(DEFAULT_PROFILE)
        names.insert(0, DEFAULT_PROFILE)
    return names


def profile_path(name_or_path: str | Path) -> Path:
    """A bundled profile name (``vn-gov``) or a path to a YAML file."""
    text = str(name_or_path)
    if _NAME_RE.match(text) and not text.endswith((".yaml", ".yml")):
        bundled = PROFILE_DIR / f"{text}.yaml"
        if bundled.is_file():
            return bundled
        if not Path(text).exists():
            close = difflib.get_close_matches(text, list_profiles(), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ProfileError(
                text,
                [
                    (
                        0,
                        "profile",
                        f"unknown profile {text!r}{hint}; bundled profiles: "
                        f"{', '.join(list_profiles())}; or give the path of a YAML file",
                    )
                ],
            )
    return Path(text)


_CACHE: dict[tuple[str, int, int, str], Profile] = {}


def load_profile(name_or_path: str | Path) -> Profile:
    """Load and validate a profile by bundled name or file path. Raises ProfileError."""
    path = profile_path(name_or_path)
    try:
        stat = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise ProfileError(str(path), [(0, "file", exc.strerror or str(exc))]) from None
    import hashlib

    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, hashlib.sha256(data).hexdigest())
    if key in _CACHE:
        return _CACHE[key]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(str(path), [(0, "file", f"not UTF-8: {exc}")]) from None
    profile = parse_profile(text, str(path))
    _CACHE[key] = profile
    return profile


# --------------------------------------------------------------------------- parsing


_TOP_KEYS = (
    "name",
    "title",
    "title_vi",
    "description",
    "sources",
    "grades",
    "mandatory_fail_cap",
    "warn_credit",
    "min_coverage",
    "kpi",
    "vantages",
    "alerts",
    "params",
    "requirements",
)
_ALERT_KEYS = ("certificate_expiry_days",)
_REQ_KEYS = ("id", "title", "title_vi", "description", "level", "weight", "checks", "params")
_KPI_KEYS = ("id", "title", "title_vi", "checks")
_VANTAGE_KEYS = ("kpi", "checks")
_BAND_KEYS = ("grade", "min")


class _Ctx:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[tuple[int, str, str]] = []

    def at(self, node: Node | None, where: str, message: str) -> None:
        line = int(node.start_mark.line) + 1 if node is not None else 0
        self.problems.append((line, where, message))


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    assert isinstance(node, ScalarNode)
    if node.tag == _TAG_NULL:
        return "an empty value"
    return f"{node.value!r}"


def _mapping(
    ctx: _Ctx, node: Node, where: str, allowed: tuple[str, ...], required: tuple[str, ...]
) -> dict[str, tuple[Node, Node]] | None:
    if not isinstance(node, MappingNode):
        ctx.at(node, where, f"expected a mapping, got {_describe(node)}")
        return None
    out: dict[str, tuple[Node, Node]] = {}
    prefix = f"{where}." if where != "document" else ""
    for k, v in node.value:
        key = str(k.value) if isinstance(k, ScalarNode) else "?"
        if key in out:
            ctx.at(k, f"{prefix}{key}", f"duplicate key {key!r}")
            continue
        if allowed and key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            ctx.at(k, f"{prefix}{key}", f"unknown key {key!r}{hint}; allowed: {', '.join(allowed)}")
            continue
        out[key] = (k, v)
    for key in required:
        if key not in out:
            ctx.at(node, f"{prefix}{key}", f"missing required key {key!r}")
    return out


def _str(ctx: _Ctx, node: Node, where: str) -> str | None:
    if isinstance(node, ScalarNode) and node.tag == _TAG_STR and str(node.value).strip():
        return str(node.value).strip()
    ctx.at(node, where, f"expected a non-empty string, got {_describe(node)}")
    return None


def _number(ctx: _Ctx, node: Node, where: str, lo: float, hi: float) -> float | None:
    if isinstance(node, ScalarNode) and node.tag in (_TAG_INT, _TAG_FLOAT):
        try:
            value = float(str(node.value).replace("_", ""))
        except ValueError:
            value = float("nan")
        if lo <= value <= hi:
            return value
        ctx.at(node, where, f"must be a number between {lo:g} and {hi:g}, got {node.value}")
        return None
    ctx.at(node, where, f"expected a number, got {_describe(node)}")
    return None


def _list(ctx: _Ctx, node: Node, where: str) -> list[Node] | None:
    if isinstance(node, SequenceNode):
        return list(node.value)
    ctx.at(node, where, f"expected a list, got {_describe(node)}")
    return None


def _plain(node: Node) -> Any:
    """A YAML node as plain Python data (for threshold values)."""
    if isinstance(node, MappingNode):
        return {str(k.value): _plain(v) for k, v in node.value}
    if isinstance(node, SequenceNode):
        return [_plain(v) for v in node.value]
    assert isinstance(node, ScalarNode)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _check_id(ctx: _Ctx, node: Node, where: str) -> str | None:
    cid = _str(ctx, node, where)
    if cid is None:
        return None
    if not is_known(cid):
        from auditor.registry import all_checks

        known = [c.id for c in all_checks()]
        close = difflib.get_close_matches(cid, known, n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        ctx.at(node, where, f"unknown check id {cid!r}{hint}")
        return None
    return resolve_id(cid)


def _params(ctx: _Ctx, node: Node, where: str) -> dict[str, dict[str, Any]]:
    """``{check id: {param: value}}``, validated against each check's declared params."""
    out: dict[str, dict[str, Any]] = {}
    entries = _mapping(ctx, node, where, (), ())
    if entries is None:
        return out
    for key, (knode, vnode) in entries.items():
        cwhere = f"{where}.{key}"
        cid = _check_id(ctx, knode, cwhere)
        if cid is None:
            continue
        spec = get_check(cid)
        values = _mapping(ctx, vnode, cwhere, (), ())
        if values is None:
            continue
        for pname, (pknode, pvnode) in values.items():
            if pname not in spec.params:
                allowed = ", ".join(sorted(spec.params)) or "none"
                ctx.at(
                    pknode,
                    f"{cwhere}.{pname}",
                    f"check {cid!r} has no parameter {pname!r} (its parameters: {allowed})",
                )
                continue
            value = _plain(pvnode)
            default = spec.params[pname]
            if default is not None and not _same_type(default, value):
                ctx.at(
                    pvnode,
                    f"{cwhere}.{pname}",
                    f"expected {type(default).__name__} like the default {default!r}, "
                    f"got {value!r}",
                )
                continue
            out.setdefault(cid, {})[pname] = value
    return out


def _same_type(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float)
    if isinstance(default, list | tuple):
        return isinstance(value, list | tuple)
    return isinstance(value, type(default))


def _merge_params(
    ctx: _Ctx,
    node: Node,
    where: str,
    into: dict[str, dict[str, Any]],
    new: Mapping[str, Mapping[str, Any]],
) -> None:
    for cid, values in new.items():
        for pname, value in values.items():
            old = into.get(cid, {}).get(pname, value)
            if old != value:
                ctx.at(
                    node,
                    where,
                    f"conflicting values for {cid}.{pname}: {old!r} and {value!r}",
                )
                continue
            into.setdefault(cid, {})[pname] = value


def parse_profile(text: str, file: str = "<profile>") -> Profile:
    ctx = _Ctx(file)
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        raise ProfileError(
            file, [(line, "document", f"YAML syntax error: {exc.problem or exc.context}")]
        ) from None
    except yaml.reader.ReaderError as exc:
        # e.g. a control character: one line, like the inventory loader's message
        line = text[: exc.position].count("\n") + 1
        char = exc.character
        num = ord(char) if isinstance(char, str) and len(char) == 1 else char
        code = f" #x{num:04x}" if isinstance(num, int) else ""
        raise ProfileError(
            file, [(line, "document", f"invalid character{code} in YAML: {exc.reason}")]
        ) from None
    except yaml.YAMLError as exc:
        raise ProfileError(file, [(1, "document", f"YAML error: {exc}")]) from None
    except RecursionError:
        raise ProfileError(file, [(1, "document", "YAML nesting is too deep")]) from None
    if root is None:
        raise ProfileError(file, [(1, "document", "empty profile")])
    top = _mapping(ctx, root, "document", _TOP_KEYS, ("name", "title", "requirements"))
    if top is None:
        raise ProfileError(file, ctx.problems)

    def get(key: str) -> Node | None:
        return top[key][1] if key in top else None

    name = _str(ctx, n, "name") if (n := get("name")) is not None else None
    if name is not None and not _NAME_RE.match(name):
        ctx.at(get("name"), "name", f"profile name {name!r} must be lower-case letters, digits, -")
    title = _str(ctx, n, "title") if (n := get("title")) is not None else None
    title_vi = _str(ctx, n, "title_vi") if (n := get("title_vi")) is not None else None
    description = _str(ctx, n, "description") or "" if (n := get("description")) else ""
    sources: list[str] = []
    if (n := get("sources")) is not None:
        for i, item in enumerate(_list(ctx, n, "sources") or []):
            s = _str(ctx, item, f"sources[{i}]")
            if s:
                sources.append(s)

    params: dict[str, dict[str, Any]] = {}
    if (n := get("params")) is not None:
        params = _params(ctx, n, "params")

    grades = Profile.grades
    if (n := get("grades")) is not None:
        grades = _grades(ctx, n)
    cap: str | None = None
    if (n := get("mandatory_fail_cap")) is not None:
        cap = _str(ctx, n, "mandatory_fail_cap")
        if cap is not None and cap not in {b.grade for b in grades}:
            ctx.at(n, "mandatory_fail_cap", f"{cap!r} is not one of the grades")
            cap = None
    warn_credit = 0.5
    if (n := get("warn_credit")) is not None:
        warn_credit = _number(ctx, n, "warn_credit", 0.0, 1.0) or 0.0
    min_coverage = DEFAULT_MIN_COVERAGE
    if (n := get("min_coverage")) is not None:
        value = _number(ctx, n, "min_coverage", 0.0, 100.0)
        min_coverage = DEFAULT_MIN_COVERAGE if value is None else value

    kpi: Kpi | None = None
    if (n := get("kpi")) is not None:
        kpi = _kpi(ctx, n)
    vantage_kpi = vantage_checks = VantageRule.EVERY
    if (n := get("vantages")) is not None:
        vantage_kpi, vantage_checks = _vantages(ctx, n)

    alert_cert_days = DEFAULT_ALERT_CERT_DAYS
    if (n := get("alerts")) is not None:
        alert_cert_days = _alerts(ctx, n)

    requirements: list[Requirement] = []
    seen_req: dict[str, int] = {}
    if (n := get("requirements")) is not None:
        items = _list(ctx, n, "requirements") or []
        if not items:
            ctx.at(n, "requirements", "a profile needs at least one requirement")
        for i, item in enumerate(items):
            where = f"requirements[{i}]"
            req = _requirement(ctx, item, where, params)
            if req is None:
                continue
            if req.id in seen_req:
                ctx.at(item, f"{where}.id", f"duplicate requirement id {req.id!r}")
                continue
            seen_req[req.id] = i
            requirements.append(req)
    # A check in two requirements would count twice in the score: say so.
    owner: dict[str, str] = {}
    for req in requirements:
        for cid in req.checks:
            if cid in owner:
                ctx.at(
                    get("requirements"),
                    "requirements",
                    f"check {cid!r} is in both {owner[cid]!r} and {req.id!r}",
                )
            owner[cid] = req.id
    if ctx.problems:
        raise ProfileError(file, sorted(ctx.problems, key=lambda p: p[0]))
    assert name is not None and title is not None
    return Profile(
        name=name,
        title=title,
        requirements=tuple(requirements),
        params=params,
        grades=grades,
        kpi=kpi,
        mandatory_fail_cap=cap,
        warn_credit=warn_credit,
        min_coverage=min_coverage,
        vantage_kpi=vantage_kpi,
        vantage_checks=vantage_checks,
        title_vi=title_vi,
        description=description,
        sources=tuple(sources),
        path=file,
        alert_cert_days=alert_cert_days,
    )


def _alerts(ctx: _Ctx, node: Node) -> int:
    """``alerts: {certificate_expiry_days: N}`` (1-365, whole days; default 21)."""
    entries = _mapping(ctx, node, "alerts", _ALERT_KEYS, ())
    days = DEFAULT_ALERT_CERT_DAYS
    if entries and "certificate_expiry_days" in entries:
        vnode = entries["certificate_expiry_days"][1]
        where = "alerts.certificate_expiry_days"
        if isinstance(vnode, ScalarNode) and vnode.tag != _TAG_INT:
            ctx.at(vnode, where, f"expected a whole number of days, got {_describe(vnode)}")
        else:
            value = _number(ctx, vnode, where, 1, 365)
            if value is not None:
                days = int(value)
    return days


def _grades(ctx: _Ctx, node: Node) -> tuple[GradeBand, ...]:
    bands: list[GradeBand] = []
    items = _list(ctx, node, "grades") or []
    for i, item in enumerate(items):
        where = f"grades[{i}]"
        entries = _mapping(ctx, item, where, _BAND_KEYS, _BAND_KEYS)
        if entries is None or len(entries) < 2:
            continue
        grade = _str(ctx, entries["grade"][1], f"{where}.grade")
        low = _number(ctx, entries["min"][1], f"{where}.min", 0.0, 100.0)
        if grade is None or low is None:
            continue
        if bands and low >= bands[-1].min_score:
            ctx.at(item, f"{where}.min", "grade bands must be listed best first, min decreasing")
            continue
        if any(b.grade == grade for b in bands):
            ctx.at(item, f"{where}.grade", f"duplicate grade {grade!r}")
            continue
        bands.append(GradeBand(grade, low))
    if not bands:
        ctx.at(node, "grades", "at least one grade band is needed")
        return Profile.grades
    if bands[-1].min_score != 0:
        ctx.at(node, "grades", "the last grade band must start at min: 0")
    return tuple(bands)


def _kpi(ctx: _Ctx, node: Node) -> Kpi | None:
    entries = _mapping(ctx, node, "kpi", _KPI_KEYS, ("id", "title", "checks"))
    if entries is None or not {"id", "title", "checks"} <= set(entries):
        return None
    kid = _str(ctx, entries["id"][1], "kpi.id")
    title = _str(ctx, entries["title"][1], "kpi.title")
    title_vi = _str(ctx, entries["title_vi"][1], "kpi.title_vi") if "title_vi" in entries else None
    checks: list[str] = []
    for i, item in enumerate(_list(ctx, entries["checks"][1], "kpi.checks") or []):
        cid = _check_id(ctx, item, f"kpi.checks[{i}]")
        if cid:
            checks.append(cid)
    if kid is None or title is None or not checks:
        return None
    return Kpi(kid, title, tuple(checks), title_vi)


def _vantages(ctx: _Ctx, node: Node) -> tuple[VantageRule, VantageRule]:
    """``vantages: {kpi: every|any, checks: every|any}`` (both default to every)."""
    rules = {"kpi": VantageRule.EVERY, "checks": VantageRule.EVERY}
    entries = _mapping(ctx, node, "vantages", _VANTAGE_KEYS, ())
    for key, (_knode, vnode) in (entries or {}).items():
        where = f"vantages.{key}"
        text = _str(ctx, vnode, where)
        if text is None:
            continue
        try:
            rules[key] = VantageRule(text)
        except ValueError:
            subject = "a host counts for the KPI" if key == "kpi" else "a check passes for a target"
            ctx.at(
                vnode,
                where,
                f"must be 'every' ({subject} only when it does from every vantage that could "
                f"test) or 'any' (from at least one), got {text!r}",
            )
    return rules["kpi"], rules["checks"]


def _requirement(
    ctx: _Ctx, node: Node, where: str, params: dict[str, dict[str, Any]]
) -> Requirement | None:
    entries = _mapping(ctx, node, where, _REQ_KEYS, ("id", "title", "level", "checks"))
    if entries is None:
        return None
    ok = True
    rid = _str(ctx, entries["id"][1], f"{where}.id") if "id" in entries else None
    if rid is not None and not _ID_RE.match(rid):
        ctx.at(entries["id"][1], f"{where}.id", f"requirement id {rid!r}: use a-z, 0-9, . _ -")
        rid = None
    title = _str(ctx, entries["title"][1], f"{where}.title") if "title" in entries else None
    title_vi = (
        _str(ctx, entries["title_vi"][1], f"{where}.title_vi") if "title_vi" in entries else None
    )
    description = (
        _str(ctx, entries["description"][1], f"{where}.description") or ""
        if "description" in entries
        else ""
    )
    level: Level | None = None
    if "level" in entries:
        text = _str(ctx, entries["level"][1], f"{where}.level")
        if text is not None:
            try:
                level = Level(text)
            except ValueError:
                allowed = ", ".join(x.value for x in Level)
                ctx.at(entries["level"][1], f"{where}.level", f"level must be one of {allowed}")
    weight = 1.0
    if "weight" in entries:
        w = _number(ctx, entries["weight"][1], f"{where}.weight", 0.0, 100.0)
        if w is None:
            ok = False
        else:
            weight = w
    checks: list[str] = []
    if "checks" in entries:
        items = _list(ctx, entries["checks"][1], f"{where}.checks")
        if items is not None and not items:
            ctx.at(entries["checks"][1], f"{where}.checks", "list at least one check id")
        for i, item in enumerate(items or []):
            cid = _check_id(ctx, item, f"{where}.checks[{i}]")
            if cid is None:
                ok = False
            elif cid in checks:
                ctx.at(item, f"{where}.checks[{i}]", f"duplicate check id {cid!r}")
            else:
                checks.append(cid)
    if "params" in entries:
        req_params = _params(ctx, entries["params"][1], f"{where}.params")
        for cid in req_params:
            if cid not in checks:
                ctx.at(
                    entries["params"][1],
                    f"{where}.params.{cid}",
                    f"check {cid!r} is not one of this requirement's checks",
                )
        _merge_params(ctx, entries["params"][1], f"{where}.params", params, req_params)
    if not ok or rid is None or title is None or level is None or not checks:
        return None
    return Requirement(rid, title, level, weight, tuple(checks), title_vi, description)
