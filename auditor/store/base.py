"""What the product needs from a store, whatever database keeps it.

Two interfaces: :class:`Sink`, the one call a shard runner needs (record a finished target in
one transaction), and :class:`Store`, everything else (scans, targets, observations,
findings, counts, history). Callers type against these, never against a backend class; a
backend is chosen by :func:`auditor.store.open_store` from a URL.

Errors: :class:`StoreError` for what the user can fix (an unsupported URL, a store that does
not exist), :class:`SchemaError` for a store this release cannot read. A failure of the
database itself surfaces as the driver's own PEP 249 exception (``OperationalError: database
is locked``), not a wrapper of the library the backend is built on, so messages read the
same whatever sits underneath.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, Self

from auditor.model import LOCAL_VANTAGE, Finding, TargetKind


class StoreError(Exception):
    """A store that cannot be opened as asked (bad URL, missing store); CLI exit code 2."""


class StoreNotFound(StoreError):
    """``open_store(..., create=False)`` and there is no store at that place."""


class SchemaError(StoreError):
    """The store's schema is not one this release knows (written by a newer release, or not
    an auditor store at all). Nothing was changed in it."""


@dataclass(frozen=True)
class ScanRecord:
    id: int
    started: str
    finished: str | None
    status: str  # running | complete | interrupted | failed
    kind: str  # scan | evaluation | gate
    source_scan: int | None  # for evaluations: the scan whose observations were used
    profile: str
    inventory_path: str
    inventory_name: str
    inventory: dict[str, Any]
    options: dict[str, Any]
    tool_version: str
    stats: dict[str, Any]


@dataclass(frozen=True)
class UserRecord:
    """A dashboard account (``auditor users``): an admin, or an agency's (``agency`` set)."""

    id: int
    name: str
    role: str  # admin | agency
    agency: str | None
    password_hash: str  # argon2id (auditor.serve.auth); never the password
    disabled: bool
    created: str
    updated: str
    tokens: int = 0  # API tokens not revoked


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit log: a login, a failed login, a logout, an account change."""

    at: str
    event: str
    username: str
    client: str
    detail: str


@dataclass(frozen=True)
class ScheduleRunRecord:
    """One run of a schedule (auditor.schedules): the cron time it was due for, how it
    ended, and its scan (None while it runs, or when it never began one)."""

    id: int
    schedule: str
    due: str  # ISO 8601, UTC
    started: str
    finished: str | None
    status: str  # running | complete | interrupted | failed | error | skipped | abandoned
    scan_id: int | None
    detail: str


SCHEDULE_RUN_STATUSES = (
    "running",
    "complete",
    "interrupted",
    "failed",
    "error",
    "skipped",
    "abandoned",
)


@dataclass(frozen=True)
class ShardRecord:
    """One shard of a distributed scan as seen from one vantage (auditor.distributed)."""

    scan_id: int
    vantage: str
    number: int
    shard_json: str  # auditor.shards.Shard.to_json
    size: int  # its targets
    status: str  # pending | running | done | failed
    attempts: int  # deliveries to a worker so far (a lost worker's shard comes again)
    reason: str  # why it failed (or why its last attempt did)
    worker: str  # the worker that ran it last
    stats: dict[str, Any]  # the shard's counters, once done
    footing: dict[str, Any] | None  # the final footing of the process that ran it
    updated: str


SHARD_STATUSES = ("pending", "running", "done", "failed")


class Sink(Protocol):
    """Where a shard runner puts each finished target (the engine calls nothing else)."""

    def save_target(
        self,
        scan_id: int,
        kind: TargetKind,
        name: str,
        observation_json: str,
        findings: Iterable[Finding],
        started: str,
        vantage: str = LOCAL_VANTAGE,
    ) -> None:
        """Keep one finished target, as seen from ``vantage``, in ONE transaction: its
        observation, its findings (stored with that vantage, whatever theirs says) and the
        row that marks it done, all or nothing. Saving the same (scan, vantage, kind, name)
        again replaces it (a re-delivered target never duplicates)."""
        ...


class Store(Sink, Protocol):
    """Scans, their targets, observations and findings.

    ``url`` names the store so that another process can open it (``open_store(store.url)``);
    ``shared`` says whether it can (False for an in-memory SQLite store).
    """

    @property
    def url(self) -> str: ...

    @property
    def shared(self) -> bool: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    # -- scans --------------------------------------------------------------------------
    def begin_scan(
        self,
        *,
        profile: str,
        inventory_path: str,
        inventory_name: str,
        inventory: dict[str, Any],
        options: dict[str, Any],
        kind: str = "scan",
        source_scan: int | None = None,
    ) -> int:
        """A new scan, status ``running``; returns its id."""
        ...

    def finish_scan(
        self, scan_id: int, status: str, stats: dict[str, Any] | None = None
    ) -> None: ...

    def reopen_scan(self, scan_id: int) -> None:
        """Back to ``running`` (``--resume``)."""
        ...

    def scan(self, scan_id: int) -> ScanRecord:
        """The scan with this id; KeyError when there is none."""
        ...

    def scans(self, kind: str | None = None) -> list[ScanRecord]:
        """Every scan (of this kind), oldest first: the history."""
        ...

    def latest_scan(
        self, *, status: str | None = "complete", kind: str | None = None
    ) -> ScanRecord | None:
        """The latest scan with this status (None: any) and kind (``scan`` for a network scan,
        not an ``evaluation`` or a ``gate``; None: any kind)."""
        ...

    def unfinished_scan(self, inventory_path: str) -> ScanRecord | None:
        """The latest scan of this inventory that ``--resume`` continues: running (the process
        was killed), interrupted, or failed (a ``--workers`` process crashed)."""
        ...

    def previous_scan(self, scan_id: int) -> ScanRecord | None:
        """The latest complete scan before ``scan_id`` of the same inventory (for trends)."""
        ...

    # -- targets, observations, findings -------------------------------------------------
    def replace_findings(
        self, scan_id: int, findings: Iterable[Finding], vantage: str | None = None
    ) -> None:
        """All findings of a scan at once, in one transaction (``auditor evaluate``): every
        vantage's (each finding keeps its own), or, with ``vantage``, that vantage's only
        (the findings are stored as seen from it)."""
        ...

    def copy_observations(self, from_scan: int, to_scan: int) -> None:
        """Every observation, done-target and vantage row of one scan, into another (one
        transaction)."""
        ...

    def done_targets(self, scan_id: int, vantage: str = LOCAL_VANTAGE) -> set[tuple[str, str]]:
        """(kind, name) of every target of the scan finished from ``vantage``."""
        ...

    def observations(
        self, scan_id: int, vantage: str = LOCAL_VANTAGE
    ) -> Iterator[tuple[TargetKind, str, str]]:
        """(kind, name, JSON text) per target seen from ``vantage``, ordered by kind and name,
        streamed: a province's observations do not fit in memory at once."""
        ...

    def vantages(self, scan_id: int) -> list[str]:
        """The scan's vantages: those recorded (:meth:`record_vantage`) and those it holds
        targets of, sorted; ``["local"]`` for a one-machine scan, ``[]`` before any target."""
        ...

    def record_vantage(self, scan_id: int, vantage: str, footing: dict[str, Any]) -> None:
        """The scanner's footing at ``vantage`` for this scan (replaces an earlier record)."""
        ...

    def vantage_footings(self, scan_id: int) -> dict[str, dict[str, Any]]:
        """The footing recorded per vantage (:meth:`record_vantage`)."""
        ...

    # -- the shards of a distributed scan ---------------------------------------------
    def add_shards(
        self, scan_id: int, vantage: str, shards: Iterable[tuple[int, str, int]]
    ) -> None:
        """Record submitted shards ``(number, shard JSON, size)`` of ``vantage`` as pending,
        in one transaction; a number recorded before is replaced (a resubmission)."""
        ...

    def drop_open_shards(self, scan_id: int, vantage: str) -> int:
        """Forget the shards of ``vantage`` that are not done (``--resume`` submits their
        remaining targets again as new shards); returns how many."""
        ...

    def shard_started(self, scan_id: int, vantage: str, number: int, worker: str) -> ShardRecord:
        """A worker begins the shard: one more attempt, status ``running`` (a ``done`` shard
        stays done); returns the record after the change. KeyError for an unknown shard."""
        ...

    def shard_ended(
        self,
        scan_id: int,
        vantage: str,
        number: int,
        status: str,
        *,
        reason: str = "",
        stats: dict[str, Any] | None = None,
        footing: dict[str, Any] | None = None,
    ) -> None:
        """The shard's outcome: ``done`` (with its counters and final footing), ``failed``
        (with the reason), or ``pending`` again (an attempt failed, it will be retried)."""
        ...

    def shards(self, scan_id: int, vantage: str | None = None) -> list[ShardRecord]:
        """The scan's shards (of ``vantage``), ordered by vantage and number."""
        ...

    def target_counts(self, scan_id: int) -> dict[str, int]:
        """Finished targets per vantage, counted by the database (progress of a running
        scan, polled)."""
        ...

    def findings(self, scan_id: int, vantage: str | None = None) -> list[Finding]:
        """Every finding of the scan (from ``vantage`` only, when given), ordered by kind,
        target, check, address and vantage."""
        ...

    def iter_findings(
        self, scan_id: int, vantage: str | None = None, *, evidence: bool = True
    ) -> Iterator[Finding]:
        """The findings of :meth:`findings`, in its order, streamed from the database a page
        at a time (a national scan's findings and evidence do not fit in memory at once);
        ``evidence=False``: each with an empty evidence (scoring reads only the rest)."""
        ...

    def light_findings(self, scan_id: int, vantage: str | None = None) -> list[Finding]:
        """Findings without message and evidence (empty): all that scoring needs, for the
        summaries of a long history of scans."""
        ...

    def target_findings(self, scan_id: int, kind: str, name: str) -> list[Finding]:
        """One target's findings (every vantage), with evidence, in ``iter_findings``'s
        order."""
        ...

    def target_observation(
        self, scan_id: int, kind: str, name: str, vantage: str = LOCAL_VANTAGE
    ) -> str | None:
        """One target's stored observation (JSON text), None if there is none."""
        ...

    # accounts (auditor serve)
    def add_user(self, name: str, role: str, agency: str | None, password_hash: str) -> int:
        """A new account; StoreError if the name is taken."""
        ...

    def user(self, name: str) -> UserRecord | None: ...

    def user_by_id(self, user_id: int) -> UserRecord | None: ...

    def users(self) -> list[UserRecord]: ...

    def update_user(
        self, name: str, *, password_hash: str | None = None, disabled: bool | None = None
    ) -> bool:
        """Change a password hash or the disabled flag; False if there is no such user."""
        ...

    def add_token(self, name: str, digest: str) -> int:
        """Record a new API token (its digest) of user ``name``; its id."""
        ...

    def revoke_tokens(self, name: str, token_id: int | None = None) -> int:
        """Revoke every token of ``name`` (or the one ``token_id``); how many were."""
        ...

    def token_user(self, digest: str) -> UserRecord | None:
        """The user of a token that is not revoked, None otherwise."""
        ...

    def audit(self, event: str, username: str, client: str, detail: str = "") -> None: ...

    def audit_log(self, limit: int = 100) -> list[AuditRecord]:
        """The latest lines of the audit log, newest first."""
        ...

    def setting(self, key: str, default: str) -> str:
        """A stored setting of the store (``meta``): ``default`` is written if there is none
        yet, and the stored value returned (the first writer wins)."""
        ...

    # -- scheduled runs (auditor.schedules; revision 0005) --------------------------------
    def begin_schedule_run(
        self, schedule: str, due: str, status: str = "running", detail: str = ""
    ) -> int:
        """Record a run of ``schedule`` for the cron time ``due`` (ISO 8601, UTC); its id.
        A status other than "running" (a skipped run) is recorded as ended."""
        ...

    def end_schedule_run(
        self, run_id: int, status: str, scan_id: int | None = None, detail: str = ""
    ) -> None:
        """A run has ended: its status, its scan and what went wrong, if anything."""
        ...

    def schedule_runs(
        self, schedule: str | None = None, limit: int = 50
    ) -> list[ScheduleRunRecord]:
        """The latest runs (of one schedule, or of every one), newest first."""
        ...

    def last_schedule_runs(self) -> dict[str, ScheduleRunRecord]:
        """Each schedule's latest run (skipped ones included), by schedule name."""
        ...

    def abandon_schedule_runs(self, schedules: Iterable[str], detail: str) -> int:
        """Mark the runs of ``schedules`` still "running" as "abandoned" (a scheduler that
        starts again: the process that ran them is gone); how many were."""
        ...

    def status_counts(self, scan_id: int) -> dict[str, int]:
        """Findings per status, every status present (zeros included), counted by the
        database: the end of a national scan must not load half a million findings."""
        ...
