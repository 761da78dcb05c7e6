"""A worker: runs pytest on one module, streaming events to the supervisor over an inherited pipe.

Started either by forking the warm zygote or as ``python -m testrunner.worker SPEC_FILE FD`` (fresh
interpreter). ``SPEC_FILE`` is JSON written by the supervisor (paths, pytest args, tests already run, limits).
"""

from __future__ import annotations

import faulthandler
import json
import os
import resource
import signal
import sys
import tempfile
from typing import Any, NoReturn

from ._sysutil import die_with_parent

_KEEP: list[Any] = []  # objects that must outlive run() setup (faulthandler's file)


def _setup_process(spec: dict[str, Any], fd: int) -> None:
    try:
        os.setpgid(0, 0)  # Ctrl-C reaches the supervisor only; it stops workers itself
    except OSError:
        pass
    if not die_with_parent(int(spec["supervisor_pid"])):
        os._exit(70)  # the supervisor is gone: nobody would read our results
    os.set_inheritable(fd, False)  # a subprocess started by a test must not keep the pipe open
    os.environ.update(spec.get("env", {}))  # xdist-compatible worker id, private TMPDIR, the run's tag
    tempfile.tempdir = None  # forked from the warm parent: forget its cached temporary directory
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC  # made by the supervisor; a symbolic link put in its place is refused
    log_fd = os.open(spec["log_file"], os.O_WRONLY | os.O_CREAT | os.O_APPEND | nofollow, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    stack = os.fdopen(os.open(spec["stack_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | nofollow, 0o644), "w")
    _KEEP.append(stack)
    faulthandler.register(signal.SIGUSR1, file=stack, all_threads=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    limit = int(spec["mem_limit"])
    if spec.get("rlimit", True):
        # RLIMIT_DATA (heap + private writable mappings) rather than RLIMIT_AS, which large virtual
        # reservations (pyarrow, polars, thread arenas) exhaust long before any memory is really used.
        # Soft and hard: a child process inherits both and cannot raise its soft limit past the cap.
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))


def run(spec: dict[str, Any], fd: int) -> NoReturn:
    """Run pytest on the module described by ``spec``; exits the process (never returns)."""
    from ._plugin import EventStream, StreamPlugin

    stream = EventStream(fd)
    code = 3
    try:
        _setup_process(spec, fd)
        stream.send(ev="hello", pid=os.getpid())
        cov = None
        if spec.get("coverage"):
            import coverage

            opts = spec["coverage"]
            cov = coverage.Coverage(data_file=opts["data_file"], data_suffix=True,
                                    config_file=opts.get("config_file") or True)
            cov.start()
        import pytest

        plugin = StreamPlugin(stream, set(spec.get("done", ())), cov)
        code = int(pytest.main(list(spec["args"]), plugins=[plugin]))
        if cov is not None:
            cov.stop()
            cov.save()
    except BaseException as exc:  # report, then exit non-zero: the supervisor names the cause
        try:
            import traceback

            traceback.print_exc()
            stream.send(ev="crash", text=f"{type(exc).__name__}: {exc}")
        except BaseException:
            pass
        code = 3
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
    os._exit(code)  # the supervisor reads pytest's status from the 'done' event, not from this code


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of a fresh-interpreter worker: ``python -m testrunner.worker SPEC_FILE FD``."""
    args = sys.argv[1:] if argv is None else argv
    with open(args[0], encoding="utf-8") as fh:
        spec = json.load(fh)
    runner_root = spec.get("runner_root")
    if runner_root and sys.path and sys.path[0] == runner_root:
        del sys.path[0]  # do not leak the runner's directory into the tests' import path
    run(spec, int(args[1]))


if __name__ == "__main__":
    main()
