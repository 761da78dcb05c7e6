"""The warm parent: imports pytest, plugins and the project once, then forks a worker per request.

Runs as a child of the supervisor, talking over a SOCK_SEQPACKET socket. Each request carries a spec file path
and the write end of the worker's event pipe (SCM_RIGHTS). The zygote double-forks, so the worker is re-parented
to the supervisor (a child subreaper), which can then ``wait4`` it for the exact peak RSS. The zygote only forks
while it has a single thread and no event loop; otherwise it refuses and the supervisor spawns fresh interpreters.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import os
import pkgutil
import signal
import socket
import sys
from typing import Any

from ._sysutil import die_with_parent, native_thread_count

WARM_MODULES = ("pytest", "_pytest.python", "_pytest.fixtures", "pytest_asyncio", "hypothesis", "coverage")


def _warm(project: str | None, extra: list[str]) -> None:
    for name in (*WARM_MODULES, *extra):
        try:
            importlib.import_module(name)
        except Exception:
            continue
    if project is None or importlib.util.find_spec(project) is None:
        return
    try:
        package = importlib.import_module(project)
        for info in pkgutil.iter_modules(getattr(package, "__path__", []), project + "."):
            try:
                importlib.import_module(info.name)
            except Exception:
                continue
    except Exception:
        pass


def fork_blocker() -> str | None:
    """Why forking this process would be unsafe right now (threads or an event loop), or None."""
    import asyncio
    import threading

    if threading.active_count() != 1 or native_thread_count() != 1:
        return f"{native_thread_count()} threads are running in the warm parent"
    if asyncio.events._get_running_loop() is not None:
        return "an asyncio event loop is running in the warm parent"
    return None


def _child(sock: socket.socket, spec_path: str, fd: int) -> None:
    """In the intermediate child: fork the worker, report its pid, exit so it is re-parented."""
    pid = os.fork()
    if pid == 0:
        sock.close()
        from .worker import run

        with open(spec_path, encoding="utf-8") as fh:
            spec = json.load(fh)
        run(spec, fd)
    sock.send(json.dumps({"pid": pid}).encode())
    os._exit(0)


def serve(sock: socket.socket, supervisor_pid: int) -> None:
    """Answer fork requests until the supervisor closes the socket."""
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 65536, 4)
        except OSError:
            return
        if not msg:
            return
        request: dict[str, Any] = json.loads(msg)
        reason = fork_blocker()
        if reason is not None or not fds:
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"error": reason or "no pipe received"}).encode())
            continue
        inter = os.fork()
        if inter == 0:
            try:
                _child(sock, request["spec"], fds[0])
            finally:
                os._exit(71)
        os.close(fds[0])
        os.waitpid(inter, 0)


def main() -> None:
    """``python -c ... _zygote.main()`` with the control socket as fd argv[1]."""
    sock = socket.socket(fileno=int(sys.argv[1]))
    supervisor_pid = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(supervisor_pid)
    config = json.loads(sys.argv[2])
    runner_root = config.get("runner_root")
    if runner_root in sys.path:
        sys.path.remove(runner_root)
    _warm(config.get("project"), list(config.get("preload", [])))
    gc.collect()
    gc.freeze()  # keep the warm heap shared copy-on-write with every worker
    reason = fork_blocker()
    sock.send(json.dumps({"ready": reason is None, "reason": reason}).encode())
    if reason is None:
        serve(sock, supervisor_pid)
