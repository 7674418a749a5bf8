"""The check registry: metadata next to the logic.

A check is a pure function ``(observations, ctx) -> Verdict`` registered with
:func:`check`. The engine never imports check modules by name: it asks the
registry, which loads every module of the ``checks`` package once.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from auditor.guard import AddressGuard
from auditor.model import Category, Level, Scope, Verdict


@dataclass(frozen=True)
class CheckContext:
    """What a check may know besides the observations. No I/O handles here."""

    target: str
    params: Mapping[str, Any]
    now: datetime
    address: str | None = None  # for Scope.ADDRESS checks
    # The ranges the operator opened (--allow-net, --allow-private): a special-purpose
    # address in one of them counts as reachable (a lab, an intranet audit). Data, not a
    # handle: the checks stay pure, and `auditor evaluate` passes the scan's own.
    guard: AddressGuard = field(default_factory=AddressGuard)
    path: str | None = None  # for Scope.PATH checks: the department path judged


CheckFn = Callable[[Any, CheckContext], Verdict]
F = TypeVar("F", bound=CheckFn)


@dataclass(frozen=True)
class CheckSpec:
    id: str
    fn: CheckFn
    title: str
    category: Category
    scope: Scope
    level_hint: Level
    needs: tuple[str, ...]
    refs: tuple[str, ...] = ()
    description: str = ""  # why it matters, for agencies
    # how to fix it, keyed by "nginx", "apache", "iis", "dns", "general"
    remediation: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)  # defaults; profiles override
    aliases: tuple[str, ...] = ()
    scored: bool = True  # informational checks such as ipv6.web.icmp are never scored

    def run(self, obs: Any, ctx: CheckContext) -> Verdict:
        return self.fn(obs, ctx)

    def metadata(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category.value,
            "scope": self.scope.value,
            "level_hint": self.level_hint.value,
            "needs": [str(n) for n in self.needs],  # plain strings, not Probe members
            "refs": list(self.refs),
            "description": self.description,
            "remediation": dict(self.remediation),
            "params": dict(self.params),
            "aliases": list(self.aliases),
            "scored": self.scored,
        }


_REGISTRY: dict[str, CheckSpec] = {}
_ALIASES: dict[str, str] = {}
_LOADED = False


def check(
    check_id: str,
    *,
    title: str,
    category: Category,
    scope: Scope,
    needs: tuple[str, ...],
    level_hint: Level = Level.RECOMMENDED,
    refs: tuple[str, ...] = (),
    description: str = "",
    remediation: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    aliases: tuple[str, ...] = (),
    scored: bool = True,
) -> Callable[[F], F]:
    """Register a check. IDs are stable forever; a rename keeps the old one in aliases."""

    def register(fn: F) -> F:
        if check_id in _REGISTRY or check_id in _ALIASES:
            raise ValueError(f"duplicate check id {check_id!r}")
        _REGISTRY[check_id] = CheckSpec(
            id=check_id,
            fn=fn,
            title=title,
            category=category,
            scope=scope,
            level_hint=level_hint,
            needs=needs,
            refs=refs,
            description=description.strip(),
            remediation=dict(remediation or {}),
            params=dict(params or {}),
            aliases=aliases,
            scored=scored,
        )
        for alias in aliases:
            _ALIASES[alias] = check_id
        return fn

    return register


def load_checks() -> None:
    """Import every module of the ``checks`` package so their decorators run."""
    global _LOADED
    if _LOADED:
        return
    import checks

    for mod in pkgutil.iter_modules(checks.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"checks.{mod.name}")
    _LOADED = True


def all_checks() -> list[CheckSpec]:
    load_checks()
    return sorted(_REGISTRY.values(), key=lambda s: s.id)


def get_check(check_id: str) -> CheckSpec:
    load_checks()
    real = _ALIASES.get(check_id, check_id)
    try:
        return _REGISTRY[real]
    except KeyError:
        raise KeyError(f"unknown check id {check_id!r}") from None


def resolve_id(check_id: str) -> str:
    """The current id of a check (old aliases map to their new id)."""
    load_checks()
    return _ALIASES.get(check_id, check_id)


def is_known(check_id: str) -> bool:
    load_checks()
    return check_id in _REGISTRY or check_id in _ALIASES
