"""Servers of the resilience tests' own: PostgreSQL and Redis on spare loopback ports that a test may stop.

The shared servers of the other tests are never touched. PostgreSQL is a fresh cluster (``initdb`` into a temporary
directory, trust authentication on loopback only), run as the ``postgres`` user through ``runuser`` when the tests
run as root; Redis runs without persistence. A missing binary skips with the reason, or fails when
``LLMTEAM_REQUIRE_SERVERS=1`` (CI installs them with ``.ci/services.sh``).
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

REQUIRE_SERVERS = os.environ.get("LLMTEAM_REQUIRE_SERVERS") == "1"
START_TIMEOUT = 60.0  # a hang guard for a loaded machine, not a timing assertion


def _missing(what: str) -> None:
    msg = f"{what} not installed (bash .ci/services.sh installs it)"
    if REQUIRE_SERVERS:
        pytest.fail(msg + "; LLMTEAM_REQUIRE_SERVERS=1 forbids skipping")
    pytest.skip(msg)


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, up: bool) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'} within {START_TIMEOUT} s")


class RedisServer:
    """``redis-server`` on a spare port, no persistence: a restart starts empty, like a crashed cache."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary, self.workdir, self.port = binary, workdir, spare_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen([*cmd, "--dir", str(self.workdir)], stdout=subprocess.DEVNULL)
        _wait_for_port(self.port, up=True)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # like a crash: no goodbye to the clients
            self.proc.wait(timeout=START_TIMEOUT)
            self.proc = None
        _wait_for_port(self.port, up=False)


class PostgresServer:
    """A private PostgreSQL cluster on a spare port; ``stop()`` is an immediate shutdown (like a crash)."""

    def __init__(self, bindir: str, datadir: Path) -> None:
        self.bindir, self.datadir, self.port = bindir, datadir, spare_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_postgres, *args], check=True, capture_output=True, timeout=START_TIMEOUT)

    def init(self) -> None:
        self._run(f"{self.bindir}/initdb", "-D", str(self.datadir / "data"), "-U", "postgres", "--auth=trust", "-N")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir} -c fsync=on"
        data, log = str(self.datadir / "data"), str(self.datadir / "server.log")
        self._run(f"{self.bindir}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "start")
        _wait_for_port(self.port, up=True)

    def stop(self, mode: str = "immediate") -> None:
        self._run(f"{self.bindir}/pg_ctl", "-D", str(self.datadir / "data"), "-m", mode, "-w", "stop")
        _wait_for_port(self.port, up=False)

    def ensure_up(self) -> None:
        """Start the server if a previous test left it stopped."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server")
    server = RedisServer(str(binary), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def _postgres_cluster() -> Iterator[PostgresServer]:
    """One cluster per test file (initdb is the slow part); tests use fresh table and tenant names."""
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    bindir = next((d for d in reversed(bindirs) if os.path.exists(f"{d}/initdb")), None)
    if bindir is None:
        found = shutil.which("initdb")
        bindir = os.path.dirname(found) if found else None
    if bindir is None or shutil.which("pg_ctl", path=bindir) is None:
        _missing("PostgreSQL (initdb, pg_ctl)")
    workdir = Path(tempfile.mkdtemp(prefix="llmteam-resilience-pg-"))  # not under pytest's 0700 tmp tree
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    server = PostgresServer(str(bindir), workdir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop("fast")
        except (subprocess.SubprocessError, TimeoutError):
            pass
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postgres_server(_postgres_cluster: PostgresServer) -> PostgresServer:
    """The file's PostgreSQL server, running (a test may stop and restart it)."""
    _postgres_cluster.ensure_up()
    return _postgres_cluster


HANG_GUARD = 60.0  # no single call may take longer: a hang guard, not a timing assertion


async def until(predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate()`` holds (hang guard: twice :data:`HANG_GUARD`)."""
    async with asyncio.timeout(HANG_GUARD * 2):
        while not predicate():
            await asyncio.sleep(0.01)


async def restart_under_load(
    server: RedisServer | PostgresServer,
    call: Callable[[int, int], Awaitable[object]],
    *,
    expected: tuple[type[BaseException], ...],
    ignored: tuple[type[BaseException], ...] = (),
    tasks: int,
    ok: int,
    failed: int,
) -> list[BaseException]:
    """Run ``tasks`` loops of ``await call(worker, iteration)``; once ``ok`` calls succeeded, kill the server; once
    ``failed`` calls raised an ``expected`` error, start it again; stop after ``ok`` more successes. Returns the
    expected errors. Anything else a call raises (an unclear error type, or a hang stopped by the per-call guard)
    fails the test; ``ignored`` errors (e.g. a rate limit) are neither."""
    seen: Counter[str] = Counter()
    errors: list[BaseException] = []
    stop = asyncio.Event()

    async def loop(worker: int) -> None:
        iteration = 0
        while not stop.is_set():
            iteration += 1
            try:
                async with asyncio.timeout(HANG_GUARD):
                    await call(worker, iteration)
                seen["ok"] += 1
            except expected as exc:
                seen["failed"] += 1
                errors.append(exc)
                await asyncio.sleep(0.02)
            except ignored:
                await asyncio.sleep(0.001)

    workers = [asyncio.create_task(loop(w)) for w in range(tasks)]
    try:
        await until(lambda: seen["ok"] >= ok)
        await asyncio.to_thread(server.stop)
        await until(lambda: seen["failed"] >= failed)
        await asyncio.to_thread(server.start)
        ok_after_restart = seen["ok"]
        await until(lambda: seen["ok"] >= ok_after_restart + ok)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    return errors
