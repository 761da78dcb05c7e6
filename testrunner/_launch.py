"""Start workers: fork them from the warm zygote, or spawn fresh interpreters when forking is unsafe."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time

from ._errors import LaunchError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RUNNER_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
_BOOT = "import sys; sys.path.insert(0, {root!r}); from testrunner.{mod} import main; main()"


def _boot(mod: str) -> list[str]:
    """argv running ``testrunner.<mod>.main()`` with the runner importable but not on the tests' path."""
    return [sys.executable, "-c", _BOOT.format(root=RUNNER_ROOT, mod=mod)]


class SpawnLauncher:
    """Starts each worker as ``python -m testrunner.worker`` (a direct child)."""

    mode = "spawn"

    def __init__(self, reason: str = "") -> None:
        self.reason = reason

    def start(self, spec_path: str, wfd: int) -> int:
        """Start a worker writing events to ``wfd``; returns its pid."""
        actions = [(os.POSIX_SPAWN_DUP2, wfd, 3)]
        argv = [*_boot("worker"), spec_path, "3"]
        return os.posix_spawn(sys.executable, argv, dict(os.environ), file_actions=actions)

    def close(self) -> None:
        """Nothing to release."""


class ZygoteLauncher:
    """Forks workers from a warm parent that already imported pytest, plugins and the project."""

    mode = "fork"

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self._sock = sock
        self.reason = ""
        self.pid = pid

    @classmethod
    def create(cls, warm: dict[str, Any], timeout: float = 60.0) -> ZygoteLauncher | str:
        """Start the zygote; returns it, or the reason it cannot fork (then spawn instead).

        ``warm``: ``preload`` (module names), ``project`` ([name, directory] pairs imported only when they
        resolve inside directory) and ``shadow_dirs`` (where the tests import from).
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = json.dumps({**warm, "runner_root": RUNNER_ROOT})
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:  # its control socket as fd 3, stdin from /dev/null; every other descriptor of ours is close-on-exec
            actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)]
            pid = os.posix_spawn(sys.executable, [*_boot("_zygote"), "3", config], dict(os.environ),
                                 file_actions=actions)
        finally:
            theirs.close()
            os.close(devnull)
        ready, _, _ = select.select([ours], [], [], timeout)
        reply = json.loads(ours.recv(65536) or b"{}") if ready else {"reason": "warm parent did not start in time"}
        if not reply.get("ready"):
            ours.close()
            _end(pid, 0.0)
            return str(reply.get("reason") or "warm parent exited during start-up")
        return cls(pid, ours)

    def _request(self, request: dict[str, Any], fds: list[int], timeout: float) -> dict[str, Any]:
        try:
            socket.send_fds(self._sock, [json.dumps(request).encode()], fds)
            ready, _, _ = select.select([self._sock], [], [], timeout)
            raw = self._sock.recv(65536) if ready else b""
        except OSError as exc:
            raise LaunchError(f"warm parent is gone: {exc}") from exc
        reply: dict[str, Any] = json.loads(raw or b"{}")
        return reply

    def start(self, spec_path: str, wfd: int) -> int:
        """Ask the zygote to fork a worker that writes events to ``wfd``; returns its pid."""
        reply = self._request({"spec": spec_path}, [wfd], 10.0)
        if "pid" not in reply:
            raise LaunchError(str(reply.get("error") or "warm parent did not answer"))
        return int(reply["pid"])

    def discover(self, args_json: str, timeout: float) -> tuple[int, str]:
        """Let a child forked from the warm parent list the test files (``_listfiles``): exit status, output."""
        rfd, wfd = os.pipe()
        try:
            socket.send_fds(self._sock, [json.dumps({"discover": args_json}).encode()], [wfd])
        except OSError as exc:
            os.close(rfd)
            raise LaunchError(f"warm parent is gone: {exc}") from exc
        finally:
            os.close(wfd)
        out = bytearray()
        deadline = time.monotonic() + timeout
        answered = False
        sock = self._sock.fileno()
        os.set_blocking(rfd, False)
        try:
            while time.monotonic() < deadline:  # until the child's output ends, or it has exited (reply sent)
                ready, _, _ = select.select([rfd, sock], [], [], max(0.0, deadline - time.monotonic()))
                chunk = _drain(rfd) if rfd in ready else None
                if chunk:
                    out += chunk
                if sock in ready:
                    answered = True
                    out += _drain(rfd) or b""
                    break
                if chunk == b"":
                    break
        finally:
            os.close(rfd)
        if not answered:
            answered = bool(select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0])
        answer: dict[str, Any] = json.loads(self._sock.recv(65536) or b"{}") if answered else {}
        if "status" not in answer:
            raise LaunchError(str(answer.get("error") or "warm parent did not list the test files in time"))
        return int(answer["status"]), out.decode(errors="replace")

    def warm(self, config: dict[str, Any], timeout: float = 60.0) -> str | None:
        """Import the project's packages in the warm parent; None when it may fork workers, else why not (then
        the warm parent has exited)."""
        reply = self._request({"warm": config}, [], timeout)
        if reply.get("ready"):
            return None
        return str(reply.get("reason") or "warm parent did not answer")

    def close(self) -> None:
        """Stop the zygote (it exits when its socket closes; killed if it has not within 2 s)."""
        self._sock.close()
        _end(self.pid, 2.0)


def _end(pid: int, grace: float) -> None:
    """Reap our child ``pid``, SIGKILLing it if it has not exited within ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        time.sleep(0.005)


def _drain(fd: int) -> bytes | None:
    """Everything readable on the non-blocking ``fd`` now: b"" at end of file, None if nothing is there yet."""
    data = bytearray()
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return bytes(data) if data else None
        if not chunk:
            return bytes(data)
        data += chunk


def open_launcher(no_fork: bool, warm: dict[str, Any]) -> ZygoteLauncher | SpawnLauncher:
    """A warm parent that imported ``warm`` (see ``ZygoteLauncher.create``), or fresh interpreters and why."""
    from ._sysutil import become_subreaper

    if no_fork:
        return SpawnLauncher("--no-fork given")
    if not become_subreaper():
        return SpawnLauncher("cannot become a child subreaper (prctl failed)")
    made = ZygoteLauncher.create(warm)
    return made if isinstance(made, ZygoteLauncher) else SpawnLauncher(made)
