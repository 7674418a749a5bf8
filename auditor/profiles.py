"""Compliance profiles (minimal interface; the full YAML loader lands with scoring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.model import Level
from auditor.registry import all_checks


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    level: Level
    weight: float
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    requirements: tuple[Requirement, ...]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def check_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for r in self.requirements for c in r.checks))


DEFAULT_PROFILE = "vn-gov"


def load_profile(name: str) -> Profile:
    """Every registered check, one requirement each, until the YAML profiles land."""
    reqs = tuple(Requirement(c.id, c.title, c.level_hint, 1.0, (c.id,)) for c in all_checks())
    return Profile(name, name, reqs)
