"""What the distributed tests share: workers as real processes (``python -m auditor worker``)
and a loopback TCP server that holds every connection a while and counts how many are open
at once (the politeness limit seen from the server's side)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    """``auditor worker`` in its own process group (SIGKILL of the group: a machine lost)."""

    def __init__(
        self,
        broker: str,
        db: str,
        vantage: str = "local",
        concurrency: int = 2,
        *extra: str,
        wrap: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        """``wrap``: what runs the worker (``ip netns exec NS``: a worker in a namespace,
        a vantage point of the lab); it execs, so the process is still the worker's own."""
        # beside a store file; a database server's URL has no directory: a temporary one
        logs = (
            Path(tempfile.mkdtemp(prefix="auditor-worker-log-")) if "://" in db else Path(db).parent
        )
        self.log = logs / f"worker-{vantage}-{time.monotonic_ns()}.log"
        argv = [sys.executable, "-m", "auditor", "worker", "--broker", broker, "--db", db,
                "--vantage", vantage, "--concurrency", str(concurrency), "--loglevel", "INFO",
                *extra]  # fmt: skip
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [*wrap, *argv],
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while " ready." not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start: {self.text()[-3000:]}")
            time.sleep(0.1)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill_all(self) -> None:
        """SIGKILL the worker and its pool: nothing of it says goodbye."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=60)
        if self.proc.poll() is None or _group_alive(self.proc.pid):
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._out.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def workers(specs: list[tuple[str, str, str, int]], *extra: str) -> Iterator[list[Worker]]:
    """Start (broker, db, vantage, concurrency) workers, ready; stopped at the end."""
    started: list[Worker] = []
    try:
        for broker, db, vantage, concurrency in specs:
            started.append(Worker(broker, db, vantage, concurrency, *extra))
        for w in started:
            w.wait_ready()
        yield started
    finally:
        for w in started:
            w.stop()


class HoldingServer:
    """TCP on 127.0.0.1 (one port per service): every connection is accepted, held for
    ``hold`` seconds after its first bytes (nothing is sent back), then closed by the server.

    ``peak``: the most connections *in use* at once over every port, a connection being in
    use from its first bytes (a TLS hello, an HTTP request) until the server closes it. A
    connection that never sends is not counted: the TCP reachability probe's connections
    are closed at once or parked idle for the HTTP probe's first request (outside the
    per-address slot by design, auditor.probes.session), and a parked one counts when the
    HTTP probe sends on it, under its slot. The server closes before the client can give
    its slot back, so a count never lags a release."""

    def __init__(self, ports: int = 2, hold: float = 0.6) -> None:
        self.hold = hold
        self.open = 0
        self.peak = 0
        self.total = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self.ports: list[int] = []
        for _ in range(ports):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(256)
            s.settimeout(0.2)
            self._socks.append(s)
            self.ports.append(int(s.getsockname()[1]))
        self._threads = [threading.Thread(target=self._accept, args=(s,), daemon=True)
                         for s in self._socks]  # fmt: skip

    def __enter__(self) -> HoldingServer:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        for s in self._socks:
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        counted = False
        try:
            conn.settimeout(60)
            try:
                if not conn.recv(4096):
                    return  # closed without a word
            except OSError:
                return
            with self._lock:
                self.open += 1
                self.total += 1
                self.peak = max(self.peak, self.open)
                counted = True
            end = time.monotonic() + self.hold
            while (left := end - time.monotonic()) > 0:
                conn.settimeout(left)
                try:
                    if not conn.recv(4096):
                        break  # the client closed
                except OSError:
                    break
        finally:
            if counted:
                with self._lock:
                    self.open -= 1
            conn.close()


def wait_until(cond: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
