"""Scans beyond one machine: Celery workers behind a Redis broker, one queue per vantage.

A front end on the scan service (docs/ARCHITECTURE.md), like ``auditor/cli``: it may import
the service, runners, shards and the store; nothing below imports it. Celery, kombu and
redis are imported only inside this package, so the core works without the optional
dependencies (``pip install '.[distributed]'``); :func:`require` says so in one line when
they are missing.

- :mod:`auditor.distributed.app`: the Celery application and its settings (late
  acknowledgement, reject on worker loss, prefetch 1, the Redis visibility timeout).
- :mod:`auditor.distributed.worker`: the task (one shard, one event loop) and ``auditor
  worker``.
- :mod:`auditor.distributed.client`: submitting a scan as shards per vantage, following it
  from the store (``auditor scan --broker``, ``--detach``, ``--resume``, ``auditor status``).
- :mod:`auditor.distributed.limits`: the per-address politeness limit shared by every
  worker of a vantage, in Redis.

What is Celery's and what is written here: Celery delivers tasks (queues, late acks,
redelivery of a lost worker's task, retries with a countdown, warm shutdown on SIGTERM).
Everything a scan must know after the fact (which shard of which vantage is done or failed,
how many attempts, why) is written to the store by the workers, not kept in a Celery result
backend: ``auditor status`` and ``--resume`` then need the database only, and a broker that
loses its memory loses no outcome.
"""

from __future__ import annotations

# Targets per shard: large enough that a shard keeps the whole concurrency busy and pays
# its tail (it ends with its slowest target) rarely, small enough that the workers of a
# vantage share a province evenly. Measured on the 2,000-host scale lab (bench/README.md):
# shards of 50 (fewer targets than the default concurrency of 64, 42 tails) took 384 s on
# one worker against 134 s with shards of 250 (9 tails; a local scan: 140 s). A lost
# shard's re-delivery probes only what its earlier attempts did not store.
SHARD_SIZE = 250


class DistributedUnavailable(Exception):
    """The optional dependencies are not installed, or the broker cannot be reached."""


def require() -> None:
    """Raise :class:`DistributedUnavailable` with the fix when Celery or redis is missing."""
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        raise DistributedUnavailable(
            f"distributed scans need Celery and redis ({exc.name} is missing): "
            "pip install '.[distributed]'"
        ) from None


__all__ = ["DistributedUnavailable", "require"]
