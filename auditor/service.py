"""The scan service: a scan's life cycle, for every front end (``scan``, ``gate``, ``demo``).

plan -> resume or begin -> check the scanner's footing -> run the shards (a runner) ->
settle the footing and finish the scan row; and ``evaluate``, the same judging from stored
observations only. It says what happens as typed events (frozen dataclasses, handed to
``on_event``) and fails with typed exceptions; it prints nothing, so a command line, a CI
gate or a served dashboard present the same scan each in its own way.

Every finished target is committed on its own (the store's per-target transaction), so
Ctrl-C (status "interrupted") or a crash keeps every finished target and a resumed scan
continues the same scan row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.engine import Plan, TargetDone, evaluate_stored, make_plan
from auditor.inventory import Inventory
from auditor.model import LOCAL_VANTAGE
from auditor.options import ScanOptions
from auditor.registry import get_check, is_known
from auditor.runners import InProcessRunner, ProcessRunner, Runner, RunOutcome
from auditor.selfcheck import FOOTING_KEY, Footing, footing_of, footing_sync
from auditor.shards import ScanSpec
from auditor.store import ScanRecord, Store

# ---------------------------------------------------------------------------
# errors


class ScanInputError(Exception):
    """The scan cannot start with this input (a profile, a store, an option): nothing was
    stored. The command line's exit code 2."""


class NoCompleteScan(ScanInputError):
    """``evaluate`` found no complete network scan to evaluate."""


class ScanFailed(Exception):
    """A worker of a multi-process scan failed: the scan is stored as "failed" with its
    finished targets, and a resumed scan continues it."""

    def __init__(self, scan_id: int, errors: Iterable[str]) -> None:
        self.scan_id = scan_id
        self.errors = tuple(errors)
        super().__init__("; ".join(self.errors))


# ---------------------------------------------------------------------------
# events


@dataclass(frozen=True)
class NothingToResume:
    """A resume was asked for, but this inventory has no unfinished scan: a new one starts."""


@dataclass(frozen=True)
class Resumed:
    scan_id: int
    done: int  # targets already done


@dataclass(frozen=True)
class Started:
    """The footing is checked, the targets are about to be probed."""

    scan_id: int
    total: int  # targets to probe (those not done yet)
    shards: int


@dataclass(frozen=True)
class Note:
    """Something the scanner says about itself (its footing, a re-check, an overload)."""

    text: str


@dataclass(frozen=True)
class Finished:
    scan_id: int
    status: str  # complete | interrupted | failed


@dataclass(frozen=True)
class Evaluating:
    source: ScanRecord
    profile: str  # the profile's name
    chosen: bool  # the source scan was named (not the latest by default)
    profile_given: bool  # the profile was named (not the source scan's)


Event = NothingToResume | Resumed | Started | TargetDone | Note | Finished | Evaluating
OnEvent = Callable[[Event], None]


@dataclass(frozen=True)
class ScanResult:
    scan_id: int
    status: str


@dataclass(frozen=True)
class EvaluationResult:
    scan_id: int
    source: ScanRecord
    profile: Any
    findings: int


# ---------------------------------------------------------------------------
# helpers


def load_profile(name: str) -> Any:
    """A bundled profile's name or a profile file; a bad one is a :class:`ScanInputError`."""
    from auditor.profiles import load_profile as load

    try:
        return load(name)
    except (ValueError, KeyError, OSError) as exc:
        raise ScanInputError(str(exc).strip("'\"")) from None


def profile_ref(profile: Any) -> str:
    """What the store keeps to find the profile again: a bundled profile's name, or the
    absolute path of the user's own profile file (so ``auditor report`` re-scores with it)."""
    from auditor.profiles import PROFILE_DIR

    path = getattr(profile, "path", "")
    if path and Path(path).resolve().parent != PROFILE_DIR.resolve():
        return str(Path(path).resolve())
    return str(profile.name)


def options_record(options: ScanOptions) -> dict[str, Any]:
    """The options as the scan row stores them (JSON)."""
    record = asdict(options)
    record["pins"] = {k: list(v) for k, v in options.pins.items()}
    record["port_map"] = {h: {str(k): v for k, v in m.items()} for h, m in options.port_map.items()}
    return record


def runner_for(workers: int) -> Runner:
    """``--workers N``: this process for 1, N worker processes for more."""
    return InProcessRunner() if workers <= 1 else ProcessRunner(workers)


def _ignore(event: Event) -> None:
    pass


def check_footing(
    options: ScanOptions,
    names: Iterable[str],
    on_event: OnEvent | None = None,
    spent: dict[str, int] | None = None,
) -> Footing:
    """The scanner's own footing (auditor.selfcheck: IPv6 and IPv4 connectivity, the
    resolver) before a scan, what it finds said as :class:`Note` events; what the check
    cost (queries, connections) is added to ``spent``. The gate asks first (a dead resolver
    is said within seconds, and is not asked for the zones), then hands it to ``scan``."""
    emit = on_event or _ignore

    def note(line: str) -> None:
        emit(Note(line))

    return footing_sync(options, names, note, spent)


# ---------------------------------------------------------------------------
# the service


class ScanService:
    """One store's scans. ``on_event`` hears every event of every call."""

    def __init__(self, store: Store, on_event: OnEvent | None = None) -> None:
        self.store = store
        self.emit: OnEvent = on_event or _ignore

    # -- the steps ------------------------------------------------------------------
    def plan(self, inventory: Inventory, profile: Any, options: ScanOptions) -> Plan:
        ids = [c for c in profile.check_ids() if is_known(c)]
        return make_plan(
            inventory.host_owners(),
            inventory.zone_owners(),
            [get_check(c) for c in ids],
            getattr(profile, "params", {}),
            allow_nets=options.allow_nets,
            allow_private=options.allow_private,
            paths=inventory.host_paths(),
        )

    def resume(self, inv_path: str) -> tuple[int, set[tuple[str, str]]] | None:
        """The unfinished scan of this inventory, reopened, with its done targets."""
        previous = self.store.unfinished_scan(inv_path)
        if previous is None:
            self.emit(NothingToResume())
            return None
        skip = self.store.done_targets(previous.id)
        self.store.reopen_scan(previous.id)
        self.emit(Resumed(previous.id, len(skip)))
        return previous.id, skip

    def begin(
        self,
        inventory: Inventory,
        inv_path: str,
        profile: Any,
        options: ScanOptions,
        kind: str = "scan",
    ) -> int:
        return self.store.begin_scan(
            profile=profile_ref(profile),
            inventory_path=inv_path,
            inventory_name=inventory.name,
            inventory=inventory.to_dict(),
            options=options_record(options),
            kind=kind,
        )

    def settle(
        self, scan_id: int, plan: Plan, initial: Footing, outcome: RunOutcome, spent: dict[str, int]
    ) -> None:
        """Finish the scan row: the findings judged again when a re-check changed a fact
        they rest on, the counters (the footing check's included) and the final footing."""
        final = outcome.footing or initial
        settle_footing(self.store, scan_id, plan, initial, final)
        counters = dict(outcome.stats)
        for key, value in spent.items():
            counters[key] = counters.get(key, 0) + value
        self.store.finish_scan(
            scan_id, outcome.status, {**counters, FOOTING_KEY: final.to_record()}
        )
        self.emit(Finished(scan_id, outcome.status))

    # -- a whole scan -----------------------------------------------------------------
    def scan(
        self,
        inventory: Inventory,
        inv_path: str,
        profile: Any,
        options: ScanOptions,
        *,
        resume: bool = False,
        kind: str = "scan",
        runner: Runner | None = None,
        footing: Footing | None = None,
    ) -> ScanResult:
        """Probe, judge and store every target of ``inventory``.

        Before the first target the scanner checks its own footing (auditor.selfcheck: IPv6
        and IPv4 connectivity, the resolver; ``footing`` when the caller checked it already)
        and records it in the scan row's stats; the findings are judged with it.

        Raises :class:`ScanFailed` once the scan is stored as "failed" when a worker failed.
        """
        runner = runner or InProcessRunner()
        if isinstance(runner, ProcessRunner) and not self.store.shared:
            raise ScanInputError(
                "--workers needs a store file: worker processes open it themselves"
            )
        plan = self.plan(inventory, profile, options)
        skip: set[tuple[str, str]] = set()
        scan_id: int | None = None
        if resume and (found := self.resume(inv_path)) is not None:
            scan_id, skip = found
        if scan_id is None:
            scan_id = self.begin(inventory, inv_path, profile, options, kind)
        names = (*plan.hosts, *plan.zones)
        spent: dict[str, int] = {}  # what the footing check cost (queries, connections)

        def note(line: str) -> None:
            self.emit(Note(line))

        try:
            checked = footing or check_footing(options, names, self.emit, spent)
        except KeyboardInterrupt:
            self.store.finish_scan(scan_id, "interrupted", spent)
            self.emit(Finished(scan_id, "interrupted"))
            return ScanResult(scan_id, "interrupted")
        # a resumed scan keeps what its first run found out about the scanner
        before = footing_of(self.store.scan(scan_id).stats) if resume else None
        initial = before.merged(checked) if before is not None else checked
        spec = ScanSpec.of(
            plan,
            store=self.store.url if self.store.shared else "",
            scan_id=scan_id,
            options=options,
            profile=profile_ref(profile),
            footing=initial,
        )
        shards = runner.shards(plan, skip)
        self.emit(Started(scan_id, sum(s.size for s in shards), len(shards)))
        outcomes: list[RunOutcome] = []

        def settle(outcome: RunOutcome) -> None:
            outcomes.append(outcome)
            assert scan_id is not None
            self.settle(scan_id, plan, initial, outcome, spent)

        runner.run(spec, shards, self.store, on_done=self.emit, report=note, settle=settle)
        outcome = outcomes[0]
        if outcome.errors:
            raise ScanFailed(scan_id, outcome.errors)
        return ScanResult(scan_id, outcome.status)

    # -- evaluation -------------------------------------------------------------------
    def evaluate(self, source_id: int | None, profile_name: str | None) -> EvaluationResult:
        """Judge a stored scan again (no network), as a new scan row of kind "evaluation".

        ``source_id`` None: the latest complete scan of kind "scan" (the latest row may be
        an evaluation of an older scan, or a gate run); ``profile_name`` None: its own."""
        store = self.store
        try:
            source = (
                store.scan(source_id) if source_id is not None else store.latest_scan(kind="scan")
            )
        except KeyError as exc:
            raise ScanInputError(str(exc).strip("'\"")) from None
        if source is None:
            raise NoCompleteScan("no complete scan")
        profile = load_profile(profile_name or source.profile)
        self.emit(Evaluating(source, profile.name, source_id is not None, bool(profile_name)))
        # An evaluation of an evaluation re-scores the same copied observations: it stands
        # for the original network scan (trends and "previous scan" look before that one).
        origin = source.source_scan if source.kind == "evaluation" and source.source_scan else None
        specs = [get_check(c) for c in profile.check_ids() if is_known(c)]
        # judged against what the source scan was allowed to reach (--allow-net...)
        plan = make_plan(
            (),
            (),
            specs,
            getattr(profile, "params", {}),
            allow_nets=tuple(source.options.get("allow_nets") or ()),
            allow_private=bool(source.options.get("allow_private")),
        )
        new_id = store.begin_scan(
            profile=profile_ref(profile),
            inventory_path=source.inventory_path,
            inventory_name=source.inventory_name,
            inventory=source.inventory,
            options=source.options,
            kind="evaluation",
            source_scan=origin or source.id,
        )
        store.copy_observations(source.id, new_id)
        now = datetime.now(UTC)
        # The scanner's footing during the source scan: the verdicts that rested on it
        # (no IPv6, a dead resolver) come out the same, from stored data only. Each vantage
        # is judged with its own (a distributed scan records one per vantage).
        footing = footing_of(source.stats)
        footings = store.vantage_footings(source.id)
        findings = []
        for vantage in store.vantages(source.id):
            at = Footing.from_record(footings[vantage]) if vantage in footings else footing
            for kind, _name, text in store.observations(source.id, vantage):
                findings.extend(evaluate_stored(kind, text, plan, now, at, vantage))
        store.replace_findings(new_id, findings)
        stats: dict[str, Any] = {"evaluated_from": source.id}
        if footing is not None:
            stats[FOOTING_KEY] = footing.to_record()
        store.finish_scan(new_id, "complete", stats)
        return EvaluationResult(new_id, source, profile, len(findings))


def settle_footing(
    store: Store,
    scan_id: int,
    plan: Plan,
    initial: Footing,
    final: Footing,
    vantage: str = LOCAL_VANTAGE,
) -> None:
    """A re-check changed a fact the verdicts rest on: judge every target stored from
    ``vantage`` again with the final footing (pure, from the stored observations), so the
    findings are exactly what ``auditor evaluate`` of this scan gives."""
    if final.evaluation_key() == initial.evaluation_key():
        return
    now = datetime.now(UTC)
    findings = []
    for kind, _name, text in store.observations(scan_id, vantage):
        findings.extend(evaluate_stored(kind, text, plan, now, final, vantage))
    store.replace_findings(scan_id, findings, vantage)


__all__ = [
    "Evaluating",
    "EvaluationResult",
    "Event",
    "Finished",
    "NoCompleteScan",
    "Note",
    "NothingToResume",
    "Resumed",
    "ScanFailed",
    "ScanInputError",
    "ScanResult",
    "ScanService",
    "Started",
    "TargetDone",
    "check_footing",
    "load_profile",
    "options_record",
    "profile_ref",
    "runner_for",
    "settle_footing",
]
