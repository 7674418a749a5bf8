"""The schedule file: which inventory is scanned when, with which profile and options.

A YAML file (docs/OPERATIONS.md), read by ``auditor serve --scheduler`` (auditor.scheduler)
and ``auditor beat`` (auditor.distributed.beat)::

    version: 1
    schedules:
      - name: weekly
        inventory: inventories/quang-ninh.yaml   # relative to this file
        profile: vn-gov                          # default: the inventory's, else vn-gov
        cron: "0 2 * * 1"                        # minute hour day-of-month month day-of-week
        timezone: Asia/Ho_Chi_Minh               # the default
        vantages: [local]                        # auditor beat: one queue per vantage
        workers: 2                               # auditor serve --scheduler: processes
        options: {timeout: 5, concurrency: 32}   # the network options of `auditor scan`
        alerts: {...}                            # docs/ALERTS.md

Errors name the file, the line and the field (``sched.yaml:7: schedules[0].cron: ...``), as
the inventory loader's do: the same YAML walk (auditor.inventory's node helpers) is used.

The cron expression is parsed and iterated by croniter (a well-kept library: day-of-month
and day-of-week ORed as in Vixie cron, ranges, steps, names, ``@weekly``); only the
five-field form is accepted (a sixth, seconds field would mean something else to every
other cron reader). Next and latest due times are computed in the schedule's time zone
(zoneinfo), so "0 2 * * 1" is 02:00 on Monday in Hà Nội whatever the machine's clock zone.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from yaml.nodes import MappingNode, Node, ScalarNode

from auditor.inventory import (
    _TAG_BOOL,
    _TAG_FLOAT,
    _TAG_INT,
    _TAG_STR,
    InventoryError,
    _compose,
    _Ctx,
    _decode,
    _describe,
    _line,
    _mapping,
    _sequence,
    _string,
)
from auditor.model import LOCAL_VANTAGE, vantage_problem

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
SUPPORTED_VERSIONS = (1,)
# A schedule name is shown in logs, the dashboard and the store: short, one line.
MAX_NAME = 64
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A schedule file is a few hundred lines at most; a bigger one is not a schedule file.
MAX_FILE_BYTES = 1 << 20
# cron's @-nicknames croniter knows (@reboot has no time: there is no "next run" of it).
_NICKNAMES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# Options given as a path, read relative to the schedule file.
_PATH_OPTIONS = ("ca_file", "trust_anchor", "rpki_vrps", "bgp_table")
MAX_WORKERS = 64

_TOP_KEYS = ("version", "schedules")
_SCHEDULE_KEYS = (
    "name",
    "inventory",
    "profile",
    "cron",
    "timezone",
    "vantages",
    "workers",
    "options",
    "alerts",
)


class ScheduleError(InventoryError):
    """A problem in a schedule file, located by file, 1-based line and field path (the same
    ``file:line: field: message`` form as an inventory's)."""


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule of the file."""

    name: str
    inventory: str  # absolute path
    cron: str
    timezone: str = DEFAULT_TIMEZONE
    profile: str | None = None  # None: the inventory's profile, else vn-gov
    vantages: tuple[str, ...] = (LOCAL_VANTAGE,)
    workers: int = 1
    # The network options as `auditor scan` arguments (["--timeout", "5", ...]), checked
    # when the file is read and turned into ScanOptions with the inventory's ports per run.
    scan_args: tuple[str, ...] = ()
    # The schedule's alerts section as written (auditor.alerts reads it), and where it is.
    alerts: Mapping[str, Any] | None = None
    alerts_where: str = ""
    file: str = ""
    line: int = 0

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_run(self, after: datetime) -> datetime:
        """The first cron time strictly after ``after`` (aware), in the schedule's zone."""
        return next_run(self.cron, self.zone, after)

    def latest_due(self, now: datetime) -> datetime:
        """The latest cron time at or before ``now`` (aware), in the schedule's zone."""
        return latest_due(self.cron, self.zone, now)


@dataclass(frozen=True)
class ScheduleFile:
    path: str
    schedules: tuple[ScheduleSpec, ...] = field(default_factory=tuple)

    def by_name(self, name: str) -> ScheduleSpec | None:
        return next((s for s in self.schedules if s.name == name), None)


# ---------------------------------------------------------------------------------------
# cron


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime: give the time zone (UTC)")
    return moment


def next_run(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    start = _aware(after).astimezone(zone)
    found: datetime = croniter(cron, start).get_next(datetime)
    return found


def latest_due(cron: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest cron time <= ``now``. croniter's get_prev is strictly before its start, so
    the start is one second past ``now`` truncated to the minute's second (cron times fall
    on whole minutes)."""
    start = _aware(now).astimezone(zone).replace(microsecond=0)
    found: datetime = croniter(cron, start.replace(second=0) + timedelta(minutes=1)).get_prev(
        datetime
    )
    return found


def missed_run(spec: ScheduleSpec, last_due: datetime | None, now: datetime) -> datetime | None:
    """The cron time a scheduler starting at ``now`` runs at once: the latest one that came
    while nothing ran it (after the schedule's last recorded run), once however many came.
    None when the last run is the latest due one, or when the schedule never ran (a new
    schedule starts at its next cron time: nothing was missed)."""
    if last_due is None:
        return None
    due = spec.latest_due(now)
    return due if due > last_due else None


def cron_problem(cron: str) -> str | None:
    """Why ``cron`` is not a five-field cron expression, None when it is one."""
    text = cron.strip()
    if text.startswith("@"):
        if text.lower() in _NICKNAMES:
            return None
        return f"unknown cron nickname {text!r}; use one of {', '.join(_NICKNAMES)}"
    fields = text.split()
    if len(fields) != 5:
        return (
            f"expected five fields (minute hour day-of-month month day-of-week), got "
            f"{len(fields)} in {cron!r}"
        )
    if not croniter.is_valid(text):
        return f"not a valid cron expression: {cron!r}"
    return None


def utc(moment: datetime) -> str:
    """An aware time as the store keeps it: ISO 8601 in UTC, to the second."""
    return _aware(moment).astimezone(UTC).isoformat(timespec="seconds")


def from_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ---------------------------------------------------------------------------------------
# scan options


def _options_parser() -> argparse.ArgumentParser:
    from auditor.cli.common import add_network_options

    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    add_network_options(parser)
    return parser


def _option_kinds() -> dict[str, argparse.Action]:
    """The network options of `auditor scan`, by their YAML name (``per_address``)."""
    out: dict[str, argparse.Action] = {}
    for action in _options_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--"):
                out[flag[2:].replace("-", "_")] = action
    return out


def scan_options(spec: ScheduleSpec, ports: tuple[int, ...] = (80, 443)) -> Any:
    """The schedule's ScanOptions (``ports``: the inventory's defaults); raises
    auditor.cli.common.UsageError for options the scan refuses."""
    from auditor.cli.common import options_from_args

    args = _options_parser().parse_args(list(spec.scan_args))
    return options_from_args(args, ports=ports)


# ---------------------------------------------------------------------------------------
# the file


def _int(ctx: _Ctx, node: Node, where: str, low: int, high: int) -> int | None:
    if isinstance(node, ScalarNode) and node.tag == _TAG_INT:
        try:
            value = int(str(node.value), 10)
        except ValueError:
            value = low - 1
        if low <= value <= high:
            return value
    ctx.at(node, where, f"expected a whole number from {low} to {high}, got {_describe(node)}")
    return None


def _scalar_text(node: Node) -> str | None:
    if isinstance(node, ScalarNode) and node.tag in (_TAG_STR, _TAG_INT, _TAG_FLOAT):
        return str(node.value)
    return None


def _options(ctx: _Ctx, node: Node, where: str, base: Path) -> tuple[str, ...] | None:
    kinds = _option_kinds()
    entries = _mapping(ctx, node, where, tuple(kinds), (), "the scan options")
    if entries is None:
        return None
    argv: list[str] = []
    good = True
    for key, (_key_node, value) in entries.items():
        action = kinds[key]
        flag = f"--{key.replace('_', '-')}"
        here = f"{where}.{key}"
        if action.nargs == 0:  # store_true: a boolean
            if not (isinstance(value, ScalarNode) and value.tag == _TAG_BOOL):
                ctx.at(value, here, f"expected true or false, got {_describe(value)}")
                good = False
            elif str(value.value).lower() in ("true", "yes", "on"):
                argv.append(flag)
            continue
        values = (
            _sequence(ctx, value, here, "values")
            if isinstance(action, argparse._AppendAction)
            else [value]
        )
        if values is None:
            good = False
            continue
        for item in values:
            text = _scalar_text(item)
            if text is None or not text.strip():
                ctx.at(item, here, f"expected a value, got {_describe(item)}")
                good = False
                continue
            if key in _PATH_OPTIONS and "://" not in text:
                text = str((base / text).resolve())
            argv += [flag, text]
    if not good:
        return None
    try:
        args = _options_parser().parse_args(argv)
    except argparse.ArgumentError as exc:
        ctx.at(node, where, str(exc))
        return None
    from auditor.cli.common import UsageError, options_from_args

    try:
        options_from_args(args)
    except UsageError as exc:
        ctx.at(node, where, str(exc))
        return None
    return tuple(argv)


def _construct(node: Node) -> Any:
    """The plain Python value of a node (the alerts section, read by auditor.alerts)."""
    constructor = yaml.constructor.SafeConstructor()
    return constructor.construct_document(node)


def _schedule(ctx: _Ctx, node: Node, where: str, base: Path) -> ScheduleSpec | None:
    errors = len(ctx.errors)
    entries = _mapping(
        ctx, node, where, _SCHEDULE_KEYS, ("name", "inventory", "cron"), "a schedule"
    )
    if entries is None:
        return None
    values: dict[str, Any] = {}
    if "name" in entries:
        n = entries["name"][1]
        name = _string(ctx, n, f"{where}.name")
        if name is not None:
            if len(name) > MAX_NAME or not _NAME_RE.match(name):
                ctx.at(
                    n,
                    f"{where}.name",
                    f"{name!r}: a schedule name is 1 to {MAX_NAME} letters, digits, '.', '_' "
                    "or '-', starting with a letter or digit",
                )
            else:
                values["name"] = name
    if "inventory" in entries:
        n = entries["inventory"][1]
        text = _string(ctx, n, f"{where}.inventory")
        if text is not None:
            path = (base / text).resolve()
            if not path.is_file():
                ctx.at(n, f"{where}.inventory", f"no such inventory file: {path}")
            else:
                values["inventory"] = str(path)
    if "profile" in entries:
        n = entries["profile"][1]
        profile = _string(ctx, n, f"{where}.profile", optional=True)
        if profile is not None:
            from auditor.service import ScanInputError, load_profile

            candidate = base / profile
            ref = str(candidate.resolve()) if candidate.suffix in (".yaml", ".yml") else profile
            try:
                load_profile(ref)
            except ScanInputError as exc:
                ctx.at(n, f"{where}.profile", str(exc))
            else:
                values["profile"] = ref
    if "cron" in entries:
        n = entries["cron"][1]
        cron = _string(ctx, n, f"{where}.cron")
        if cron is not None:
            problem = cron_problem(cron)
            if problem:
                ctx.at(n, f"{where}.cron", problem)
            else:
                values["cron"] = cron.strip()
    if "timezone" in entries:
        n = entries["timezone"][1]
        tz = _string(ctx, n, f"{where}.timezone")
        if tz is not None:
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                ctx.at(
                    n, f"{where}.timezone", f"unknown time zone {tz!r} (e.g. {DEFAULT_TIMEZONE})"
                )
            else:
                values["timezone"] = tz
    if "vantages" in entries:
        n = entries["vantages"][1]
        items = _sequence(ctx, n, f"{where}.vantages", "vantage names")
        names: list[str] = []
        for i, item in enumerate(items or []):
            here = f"{where}.vantages[{i}]"
            v = _string(ctx, item, here)
            if v is None:
                continue
            problem = vantage_problem(v)
            if problem:
                ctx.at(item, here, problem)
            elif v in names:
                ctx.at(item, here, f"vantage {v!r} is given twice")
            else:
                names.append(v)
        if items is not None and not items:
            ctx.at(n, f"{where}.vantages", "an empty list: leave the key out for 'local'")
        elif names:
            values["vantages"] = tuple(names)
    if "workers" in entries:
        n = entries["workers"][1]
        workers = _int(ctx, n, f"{where}.workers", 1, MAX_WORKERS)
        if workers is not None:
            values["workers"] = workers
    if "options" in entries:
        n = entries["options"][1]
        argv = _options(ctx, n, f"{where}.options", base)
        if argv is not None:
            values["scan_args"] = argv
    if "alerts" in entries:
        n = entries["alerts"][1]
        if not isinstance(n, MappingNode):
            ctx.at(n, f"{where}.alerts", f"expected the alerts (a mapping), got {_describe(n)}")
        else:
            values["alerts"] = _construct(n)
            key_line = _line(entries["alerts"][0])
            values["alerts_where"] = f"{ctx.file}:{key_line}: {where}.alerts"
    if len(ctx.errors) > errors:
        return None
    return ScheduleSpec(file=ctx.file, line=_line(node), **values)


def _parse(ctx: _Ctx, text: str, base: Path) -> list[ScheduleSpec]:
    root = _compose(ctx, text, "empty schedule file: expected a mapping with 'schedules'")
    if root is None:
        return []
    entries = _mapping(ctx, root, "document", _TOP_KEYS, ("schedules",), "the schedule file")
    if entries is None:
        return []
    if "version" in entries:
        n = entries["version"][1]
        if not (
            isinstance(n, ScalarNode) and n.tag == _TAG_INT and int(n.value) in SUPPORTED_VERSIONS
        ):
            supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
            ctx.at(
                n, "version", f"unsupported version {_describe(n)}; this reads version {supported}"
            )
    if "schedules" not in entries:
        return []
    n = entries["schedules"][1]
    items = _sequence(ctx, n, "schedules", "schedules")
    if items is not None and not items:
        ctx.at(n, "schedules", "no schedules: give at least one")
    out: list[ScheduleSpec] = []
    first: dict[str, int] = {}
    for i, item in enumerate(items or []):
        spec = _schedule(ctx, item, f"schedules[{i}]", base)
        if spec is None:
            continue
        if spec.name in first:
            ctx.at(
                item,
                f"schedules[{i}].name",
                f"duplicate schedule name {spec.name!r} (first given on line {first[spec.name]})",
            )
            continue
        first[spec.name] = spec.line
        out.append(spec)
    return out


def check_schedules(path: str | Path) -> tuple[ScheduleFile | None, list[ScheduleError]]:
    """The schedule file and every problem found in it, in file order."""
    file = str(path)
    ctx = _Ctx(file=file)
    try:
        with open(file, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        ctx.error(0, "file", f"cannot read the schedule file: {exc.strerror or exc}")
        return None, _as_schedule_errors(ctx)
    if len(data) > MAX_FILE_BYTES:
        ctx.error(0, "file", f"larger than {MAX_FILE_BYTES} bytes: not a schedule file")
        return None, _as_schedule_errors(ctx)
    text = _decode(ctx, data)
    if text is None:
        return None, _as_schedule_errors(ctx)
    specs = _parse(ctx, text, Path(file).resolve().parent)
    errors = _as_schedule_errors(ctx)
    if errors:
        return None, errors
    return ScheduleFile(file, tuple(specs)), []


def _as_schedule_errors(ctx: _Ctx) -> list[ScheduleError]:
    errors = [ScheduleError(e.file, e.line, e.field, e.message) for e in ctx.errors]
    return sorted(errors, key=lambda e: e.line)


def load_schedules(path: str | Path) -> ScheduleFile:
    """Read and check a schedule file; raise the first ScheduleError found."""
    found, errors = check_schedules(path)
    if errors:
        raise errors[0]
    assert found is not None
    return found


__all__ = [
    "DEFAULT_TIMEZONE",
    "ScheduleError",
    "ScheduleFile",
    "ScheduleSpec",
    "check_schedules",
    "cron_problem",
    "from_utc",
    "latest_due",
    "load_schedules",
    "missed_run",
    "next_run",
    "scan_options",
    "utc",
]
