"""tests/unit holds pure tests only: no network, no servers, no subprocesses.

The rule is enforced here, not just stated. While a test under tests/unit sets up, runs or
tears down, every way out of the process is replaced by a tripwire: binding, connecting or
sending on a socket, resolving a name, spawning a subprocess or a worker process. A tripwire
raises, and it also records the attempt, because the code under test often catches the
exception (a probe turns a refused connection into an observation, as it should): the test
then fails afterwards with the attempt named, even when the exception was swallowed.
Tests that need servers on loopback or subprocesses belong in tests/integration.

Allowed, because they stay inside the process: socket.socketpair() (asyncio's event loop
wakes itself through one), threads, temporary files.
"""

from __future__ import annotations

import ipaddress
import multiprocessing.process
import os
import socket
import subprocess
from collections.abc import Callable, Generator
from typing import Any, NoReturn

import pytest


class ImpureUnitTest(BaseException):
    """Raised by a tripwire. A BaseException so that `except Exception` in code under test
    does not hide it; the recorded attempt fails the test even if something catches this."""


_ATTEMPTS_KEY = pytest.StashKey[list[str]]()


def _numeric(host: object) -> bool:
    """A literal address (or none) needs no resolver: getaddrinfo answers it in-process."""
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _install(mp: pytest.MonkeyPatch, attempts: list[str], nodeid: str) -> None:
    def tripwire(what: str) -> Callable[..., NoReturn]:
        def refuse(*args: Any, **kwargs: Any) -> NoReturn:
            detail = f"{what}{args[1:] if args else ''}"
            attempts.append(detail)
            raise ImpureUnitTest(
                f"{nodeid}: {detail} in tests/unit; tests that touch the network or spawn "
                "processes belong in tests/integration"
            )

        return refuse

    for name in ("bind", "connect", "connect_ex", "sendto", "sendmsg", "listen"):
        mp.setattr(socket.socket, name, tripwire(f"socket.{name}"))
    mp.setattr(socket, "create_connection", tripwire("socket.create_connection"))
    mp.setattr(socket, "create_server", tripwire("socket.create_server"))

    real_getaddrinfo = socket.getaddrinfo
    refuse_lookup = tripwire("socket.getaddrinfo")

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if _numeric(host):
            return real_getaddrinfo(host, *args, **kwargs)
        refuse_lookup(None, host)

    mp.setattr(socket, "getaddrinfo", getaddrinfo)
    mp.setattr(subprocess.Popen, "__init__", tripwire("subprocess.Popen"))
    mp.setattr(multiprocessing.process.BaseProcess, "start", tripwire("multiprocessing start"))
    for name in ("fork", "forkpty", "system", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            mp.setattr(os, name, tripwire(f"os.{name}"))


def _guarded(item: pytest.Item) -> Generator[None, object, object]:
    attempts = item.stash.setdefault(_ATTEMPTS_KEY, [])
    before = len(attempts)
    with pytest.MonkeyPatch.context() as mp:
        _install(mp, attempts, item.nodeid)
        result = yield
    if len(attempts) > before:
        pytest.fail(
            f"impure test in tests/unit: {'; '.join(attempts[before:])} "
            "(move it to tests/integration)",
            pytrace=False,
        )
    return result


# Setup, call and teardown each run under the tripwires: a fixture that starts a server
# (of any scope, set up on the first test that asks for it) is caught as surely as the test.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item))


# The pure tests run first in a whole-suite run. Besides failing fast, this keeps the
# tripwires honest: session-scoped fixtures of tests/lab and tests/integration (network
# namespaces, servers) are torn down after the last test of the session, and if that last
# test were a unit test, their teardown would run under its tripwires and be blamed on it.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    items.sort(key=lambda item: 0 if str(item.path).startswith(here + os.sep) else 1)
