"""Observations about the landing page's subresources (IPv6-only readiness)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubresourceObservation:
    outcome: str  # ok when the landing page could be read over IPv6
    detail: str = ""
