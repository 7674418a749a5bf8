"""Session fixture `lab`: the whole lab, up once per test session.

Outside CI, without root, Linux or the Debian packages, lab tests skip with the reason.
With CI=true they must run: a missing prerequisite or a lab that cannot start is a failure.
Set AUDITOR_LAB_KEEP=1 to keep the lab's directory (configs, logs, scan output) afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from tests.integration.conftest import require_postgresql
from tests.support.redis_server import RedisServer
from tests.support.servers import PostgresServer, run_postgresql

from .lab import Lab, missing_prerequisites, reap_stale_test_labs
from .scenarios import LINK_V4_SRV


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_lab() -> None:
    why = missing_prerequisites()
    if not why:
        return
    reason = "lab unavailable: " + "; ".join(why)
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    require_lab()
    reap_stale_test_labs()
    lab = Lab(f"t{os.getpid()}"[:11])
    try:
        lab.up()
    except Exception as e:  # a lab that cannot start is a bug, in CI and outside it
        pytest.fail(f"the lab failed to start: {e}", pytrace=False)
    try:
        yield lab
    finally:
        lab.down(keep_dir=os.environ.get("AUDITOR_LAB_KEEP") == "1")


@dataclass(frozen=True)
class Distributed:
    """A PostgreSQL store and a Redis broker for scans from the lab's client namespaces.

    PostgreSQL is the integration tests' throwaway cluster on the host, reached over its
    Unix socket (a path: every namespace sees it); redis-server runs in the server namespace
    on the veth's server address, where both client namespaces reach it."""

    db: str  # the store URL (libpq over the cluster's socket directory)
    broker: str
    postgresql: PostgresServer
    redis: RedisServer


@pytest.fixture(scope="session")
def distributed(lab: Lab) -> Iterator[Distributed]:
    require_postgresql()
    try:
        import celery  # noqa: F401  (the distributed extra)
    except ImportError:
        if in_ci():
            pytest.fail("CI=true but Celery is not installed (pip install '.[distributed]')")
        pytest.skip("Celery is not installed (pip install '.[distributed]')")
    servers = run_postgresql()
    try:
        pg = next(servers)
    except Exception as e:
        pytest.fail(f"PostgreSQL failed to start: {e}", pytrace=False)
    redis = RedisServer(lab.dir / "redis", host=LINK_V4_SRV, netns=lab.netns.srv)
    try:
        try:
            redis.start()
        except Exception as e:
            pytest.fail(f"redis-server failed to start in the lab: {e}", pytrace=False)
        name = pg.create_database("lab")
        url = f"postgresql://postgres@/{name}?host={quote(str(pg.data))}&port={pg.port}"
        yield Distributed(url, redis.url, pg, redis)
    finally:
        redis.stop()
        next(servers, None)  # stop the cluster and remove its directory
