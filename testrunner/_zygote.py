"""The warm parent: imports pytest, plugins and the project once, then forks a worker per request.

It refuses to fork (the supervisor then starts fresh interpreters) when a module it imported would be shadowed
by another file of the same name in the project under test, or when it runs threads or an event loop.

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

# coverage only with --coverage (the supervisor preloads it then). Installed pytest plugins are deliberately not
# imported here: importing them in another order than pytest does changes the warnings some of them emit.
WARM_MODULES = ("pytest", "_pytest.python", "_pytest.fixtures", "pytest_asyncio", "hypothesis")


def _inside(path: str | None, directory: str) -> bool:
    return bool(path) and os.path.realpath(str(path)).startswith(os.path.realpath(directory).rstrip("/") + "/")


def _import_tree(name: str) -> None:
    try:
        package = importlib.import_module(name)
        for info in pkgutil.iter_modules(getattr(package, "__path__", []), name + "."):
            try:
                importlib.import_module(info.name)
            except Exception:
                continue
    except Exception:
        pass


def _warm(config: dict[str, Any]) -> None:
    """Import pytest, its usual plugins, ``--preload`` modules, and the project's packages that resolve to the
    project's own checkout (so the tests would import the very same files)."""
    for name in (*WARM_MODULES, *config.get("preload", [])):
        try:
            importlib.import_module(name)
        except Exception:
            continue
    for name, directory in config.get("project", []):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and _inside(spec.origin, directory):
            _import_tree(name)


def shadowing(dirs: list[str]) -> str | None:
    """A module the warm parent imported that the tests would import from another file (their own checkout of
    it under rootdir, ``src/`` or an ini ``pythonpath``): then workers must start from a clean interpreter."""
    stdlib = set(sys.stdlib_module_names)
    for name, module in list(sys.modules.items()):
        if "." in name or name in stdlib or name == "testrunner":
            continue
        origin = getattr(module, "__file__", None)
        if not origin:
            continue
        loaded = os.path.realpath(origin)
        for directory in dirs:
            for candidate in (os.path.join(directory, name, "__init__.py"), os.path.join(directory, name + ".py")):
                if os.path.exists(candidate) and os.path.realpath(candidate) != loaded:
                    return f"the warm parent imported {name} from {origin}, but the tests would import {candidate}"
    return None


def fork_blocker() -> str | None:
    """Why forking this process would be unsafe right now (threads or an event loop), or None.

    asyncio and threading are looked up, not imported: neither can be running anything unless something imported
    it, and importing them here would put their pages in every worker (asyncio alone is about 2 MiB).
    """
    threading, asyncio = sys.modules.get("threading"), sys.modules.get("asyncio")
    if native_thread_count() != 1 or (threading is not None and threading.active_count() != 1):
        return f"{native_thread_count()} threads are running in the warm parent"
    if asyncio is not None and asyncio.events._get_running_loop() is not None:
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


def _discover(sock: socket.socket, args_json: str, fd: int) -> int:
    """Fork a child that lists the test files (``_listfiles``) with its output on ``fd``; its exit status.

    The child inherits every module warmed here (pytest, its plugins, the project), so the listing costs only
    pytest's walk and the conftest files, not a fresh interpreter; this process stays as it was.
    """
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            sock.close()  # neither the listing nor a process a conftest starts may talk to the supervisor
            die_with_parent(os.getppid())
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            from . import _listfiles

            _listfiles.main(args_json)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _ready(config: dict[str, Any]) -> str | None:
    """Import the project's packages, freeze the warm heap; why forking workers is unsafe, or None."""
    _warm({"project": config.get("project", [])})
    gc.collect()
    gc.freeze()  # keep the warm heap shared copy-on-write with every worker
    return shadowing(list(config.get("shadow_dirs", []))) or fork_blocker()


def serve(sock: socket.socket, supervisor_pid: int) -> None:
    """Answer requests until the supervisor closes the socket: ``discover`` (list the files), ``warm`` (import the
    project, check it is safe to fork workers; exits if not) and ``spec`` (fork a worker)."""
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 65536, 4)
        except OSError:
            return
        if not msg:
            return
        request: dict[str, Any] = json.loads(msg)
        if "warm" in request:
            reason = _ready(request["warm"])
            sock.send(json.dumps({"ready": reason is None, "reason": reason}).encode())
            if reason is not None:
                return
            continue
        reason = fork_blocker()
        if reason is not None or not fds:
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"error": reason or "no pipe received"}).encode())
            continue
        if "discover" in request:
            sock.send(json.dumps({"status": _discover(sock, request["discover"], fds[0])}).encode())
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
    """``python -c ... _zygote.main()`` with the control socket as fd argv[1].

    Imports pytest, its usual plugins, ``--preload`` modules and the project packages already known, then says
    whether it can fork; the supervisor then asks it to list the test files and to import the project's packages
    found by that listing (``serve``).
    """
    sock = socket.socket(fileno=int(sys.argv[1]))
    supervisor_pid = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(supervisor_pid)
    config = json.loads(sys.argv[2])
    runner_root = config.get("runner_root")
    if runner_root in sys.path:
        sys.path.remove(runner_root)
    _warm(config)
    reason = fork_blocker()
    sock.send(json.dumps({"ready": reason is None, "reason": reason}).encode())
    if reason is None:
        serve(sock, supervisor_pid)
