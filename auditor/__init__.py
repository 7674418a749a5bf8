"""IPv6 migration and security compliance auditor for government agencies."""

from __future__ import annotations

__version__ = "0.1.0"
