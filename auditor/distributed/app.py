"""The Celery application of distributed scans and its settings.

Written here, not Celery's defaults, and why:

- ``task_acks_late``: a shard's message is acknowledged when the shard has ended, not when it
  is received, so a worker lost mid-shard (SIGKILL, a machine gone) leaves it in the broker
  to be delivered again. ``task_reject_on_worker_lost``: when a pool process dies under a
  running shard, its worker puts the message back at once instead of acknowledging it.
- ``worker_prefetch_multiplier = 1``: a worker reserves one shard per pool process, so an
  idle worker of the same vantage gets the next one instead of a busy worker hoarding it.
- the Redis visibility timeout: a message delivered and not acknowledged is delivered again
  after this many seconds (that is how a lost *machine's* shard comes back: nobody is left
  to reject it). It must exceed the longest shard: a shard of S targets at concurrency C
  takes at most about ceil(S / C) target deadlines, 4 x 90 s for the default 250 targets
  and 64 at once; the default of one hour (Redis transport's own) leaves room for slow networks
  and costs only the wait for a lost machine's shard. A shard redelivered while still
  running elsewhere is harmless: every target is stored once per (scan, vantage, kind, name)
  and a finished shard is skipped (the store's shard record).
- JSON only (no pickle from a broker), no result backend: outcomes go to the store.
- a broker that goes away mid-scan: the worker reconnects for as long as it takes
  (``broker_connection_max_retries = None``); the scan client waits on the store.

Each vantage is its own queue, ``auditor.VANTAGE``; a worker serves one.
"""

from __future__ import annotations

from typing import Any

from auditor.distributed import require

TASK = "auditor.run_shard"
QUEUE_PREFIX = "auditor."
# Seconds (Redis transport): see the module's docstring.
DEFAULT_VISIBILITY_TIMEOUT = 3600.0
# Seconds for the broker to answer at all when a command starts: a wrong --broker is a
# one-line error, not a hang.
CONNECT_TIMEOUT = 5.0


def queue_name(vantage: str) -> str:
    return f"{QUEUE_PREFIX}{vantage}"


def make_app(broker: str, *, visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT) -> Any:
    """A Celery application for ``broker`` (``redis://HOST:6379/0``; RabbitMQ's
    ``amqp://`` works through Celery's own configuration)."""
    require()
    from celery import Celery

    app = Celery("auditor", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=queue_name("local"),
        task_create_missing_queues=True,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            "socket_timeout": 30,
            "socket_connect_timeout": CONNECT_TIMEOUT,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_channel_error_retry=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_enable_remote_control=False,
    )
    return app


def check_broker(app: Any, broker: str) -> None:
    """Raise DistributedUnavailable in one line when the broker cannot be reached within
    CONNECT_TIMEOUT (Celery itself would retry for ever)."""
    from auditor.distributed import DistributedUnavailable
    from auditor.distributed.limits import _without_password

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DistributedUnavailable(
            f"cannot reach the broker {_without_password(broker)}: {text}"
        ) from None


__all__ = [
    "DEFAULT_VISIBILITY_TIMEOUT",
    "TASK",
    "check_broker",
    "make_app",
    "queue_name",
]
