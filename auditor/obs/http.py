"""HTTP observations (owned by the TLS/HTTP family; extend with defaulted fields)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpObservation:
    """Everything fetched over HTTP(S) from one address, pinned, with Host and SNI set."""

    address: str
    outcome: str  # auditor.obs.core.Outcome
    detail: str = ""
