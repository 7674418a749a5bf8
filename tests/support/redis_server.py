"""A real redis-server of the test's own: its own directory and a free port on 127.0.0.1
(or an address given, for the lab), no persistence of its own (``--save '' --appendonly
no``), stopped at the end, also when the test fails.

:meth:`RedisServer.restart` stops it with ``SHUTDOWN SAVE`` (Redis writes its data set to
its directory as it stops, as a broker configured to persist does) and starts it again on
the same port and directory: what the broker held is back, as after a planned restart.

Outside CI a machine without redis-server skips the test with the reason; with CI=true it
is a failure (tests/lab/conftest.py does the same for the lab's packages).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BINARY = "redis-server"
# Seconds for redis-server to answer after it started, or to end after SHUTDOWN.
START_TIMEOUT = 20.0


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_redis() -> str:
    path = shutil.which(BINARY) or (
        f"/usr/bin/{BINARY}" if Path(f"/usr/bin/{BINARY}").exists() else None
    )
    if path is None:
        reason = "redis-server is not installed (Debian package redis-server)"
        if _ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _ping(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect((host, port))
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, directory: Path, host: str = "127.0.0.1", netns: str | None = None) -> None:
        self.binary = require_redis()
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.netns = netns
        self.port = _free_port(host) if netns is None else 6379
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{host}:{self.port}/0"

    def start(self) -> None:
        argv = [
            self.binary, "--port", str(self.port), "--bind", self.host,
            "--dir", str(self.dir), "--save", "", "--appendonly", "no",
            "--protected-mode", "no", "--daemonize", "no",
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip
        if self.netns is not None:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server did not start: {log}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        if self.netns is None:
            return _ping(self.host, self.port)
        done = subprocess.run(
            ["ip", "netns", "exec", self.netns, "redis-cli", "-h", self.host, "-p",
             str(self.port), "PING"],
            capture_output=True, text=True, check=False, timeout=10,
        )  # fmt: skip
        return done.stdout.strip() == "PONG"

    def cli(self, *command: str) -> str:
        argv = ["redis-cli", "-h", self.host, "-p", str(self.port), *command]
        if self.netns is not None:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
        return done.stdout.strip()

    def restart(self) -> None:
        """SHUTDOWN SAVE (its data written to its directory), then start it again."""
        assert self.proc is not None
        self.cli("SHUTDOWN", "SAVE")
        self.proc.wait(timeout=START_TIMEOUT)
        self.start()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(timeout=START_TIMEOUT)


@contextmanager
def redis_server(
    directory: Path, host: str = "127.0.0.1", netns: str | None = None
) -> Iterator[RedisServer]:
    server = RedisServer(directory, host, netns)
    server.start()
    try:
        yield server
    finally:
        server.stop()
