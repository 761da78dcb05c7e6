"""The supervisor loop: schedules modules, watches every worker's RSS and test clock, names culprits, resumes."""

from __future__ import annotations

import json
import os
import selectors
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import LaunchError
from ._launch import RUNNER_ROOT, SpawnLauncher, ZygoteLauncher
from ._state import CaseResult, Culprit, ModuleState
from ._sysutil import CgroupLimiter, rss_of

TICK = 0.01  # select timeout; RSS is sampled at least every 2 ticks (<= 20 ms)
SAMPLE_EVERY = 0.005
DUMP_GRACE = 0.3  # time between the faulthandler signal and SIGKILL for a hung test
_STACK_MAX = 20000


@dataclass
class Worker:
    """One live worker process and what the supervisor knows about it."""

    pid: int
    fd: int
    state: ModuleState
    stack_file: str
    launched: float
    buf: bytes = b""
    current: str | None = None
    current_start: float = 0.0
    current_wall: float = 0.0
    last_event: float = 0.0
    last_sample: float = 0.0
    rss: int = 0
    kill_cause: str | None = None
    killed_at: float | None = None
    dump_deadline: float | None = None
    done: dict[str, Any] | None = None
    collected: bool = False
    progressed: bool = False
    eof: bool = False
    crash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Supervisor:
    """Runs modules in workers under the memory cap, budget and timeout; fills the ModuleStates."""

    def __init__(self, opts: Any, states: list[ModuleState], console: Any, reporter: Any, base_args: list[str],
                 state_dir: Path, coverage_file: str | None) -> None:
        self.opts = opts
        self.states = states
        self.console = console
        self.reporter = reporter
        self.base_args = base_args
        self.dir = state_dir
        self.coverage_file = coverage_file
        self.sel = selectors.DefaultSelector()
        self.workers: dict[int, Worker] = {}
        self.launcher: Any = None
        self.cgroup: CgroupLimiter | None = None
        self.meta: dict[str, Any] = {}
        self._pending_since: dict[str, float] = {}
        self._last_orphan_check = 0.0

    # -- lifecycle -------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Run every module to completion (or until interrupted)."""
        pending = list(self.states)
        try:
            while pending or self.workers:
                pending = self._schedule(pending)
                for key, _ in self.sel.select(TICK):
                    self._read(self.workers[key.data])
                now = time.monotonic()
                for w in list(self.workers.values()):
                    self._watch(w, now)
                for w in list(self.workers.values()):
                    self._reap(w)
                self._reap_orphans(now)
                self.console.live([(w.state, w.rss) for w in self.workers.values()])
                self.reporter.maybe_write(self.states, self.meta)
        finally:
            for w in list(self.workers.values()):
                self._kill(w, "interrupted")
                exited = self._wait_exit(w, block=True)
                if exited is not None and exited[1] is not None:
                    w.state.peak_rss = max(w.state.peak_rss, int(exited[1].ru_maxrss) * 1024)
            if self.launcher is not None:
                self.launcher.close()

    def _schedule(self, pending: list[ModuleState]) -> list[ModuleState]:
        running = {w.state.name: w.state for w in self.workers.values()}
        for st in list(pending):
            if len(running) >= self.opts.jobs:
                break
            used = sum(s.predicted_bytes for s in running.values())
            if running and used + st.predicted_bytes > self.opts.mem_budget:
                continue
            pending.remove(st)
            st.status, st.started_at = "running", time.time()
            st.log_file = str(self.dir / "logs" / f"{_safe(st.name)}.log")
            Path(st.log_file).write_text("")
            if self.console is not None:
                self.console.line(f"[{st.name}] started (predicted peak {st.predicted_bytes // 2**20} MiB)")
            self._launch(st)
            running[st.name] = st
            self.reporter.touch()
        return pending

    def _ensure_launcher(self) -> None:
        if self.launcher is not None:
            return
        from ._sysutil import become_subreaper, delegated_cgroup

        if self.opts.no_fork:
            self.launcher = SpawnLauncher("--no-fork given")
        elif not become_subreaper():
            self.launcher = SpawnLauncher("cannot become a child subreaper (prctl failed)")
        else:
            project = None if self.coverage_file else "llmteam"  # under coverage, the worker must import it
            made = ZygoteLauncher.create(project, self.opts.preload)
            self.launcher = made if isinstance(made, ZygoteLauncher) else SpawnLauncher(made)
        cg = delegated_cgroup()
        self.cgroup = CgroupLimiter(cg, self.opts.mem_limit) if cg is not None else None
        self.meta.update(launcher=self.launcher.mode, launcher_note=self.launcher.reason,
                         cgroup=str(cg) if cg is not None else None)

    def _launch(self, st: ModuleState) -> None:
        self._ensure_launcher()
        st.workers += 1
        tag = f"{_safe(st.name)}.{st.workers}"
        stack_file = str(self.dir / "stacks" / f"{tag}.txt")
        spec = {
            "supervisor_pid": os.getpid(), "log_file": st.log_file, "stack_file": stack_file,
            "mem_limit": self.opts.mem_limit, "args": [*st.module.paths, *self.base_args],
            "done": list(st.results), "coverage_file": self.coverage_file, "runner_root": RUNNER_ROOT,
        }
        spec_path = self.dir / "specs" / f"{tag}.json"
        spec_path.write_text(json.dumps(spec))
        rfd, wfd = os.pipe()
        try:
            try:
                pid = self.launcher.start(str(spec_path), wfd)
            except LaunchError as exc:
                self.launcher.close()
                self.launcher = SpawnLauncher(f"warm parent failed: {exc}")
                self.meta.update(launcher="spawn", launcher_note=self.launcher.reason)
                pid = self.launcher.start(str(spec_path), wfd)
        finally:
            os.close(wfd)
        os.set_blocking(rfd, False)
        now = time.monotonic()
        w = Worker(pid=pid, fd=rfd, state=st, stack_file=stack_file, launched=now, last_event=now)
        self.workers[pid] = w
        self.sel.register(rfd, selectors.EVENT_READ, pid)
        if self.cgroup is not None:
            self.cgroup.attach(pid)

    # -- events ----------------------------------------------------------------------------------------------
    def _read(self, w: Worker) -> None:
        while True:
            try:
                chunk = os.read(w.fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                w.eof = True
                self.sel.unregister(w.fd)
                return
            w.buf += chunk
            *lines, w.buf = w.buf.split(b"\n")
            for line in lines:
                if line:
                    self._event(w, json.loads(line))

    def _event(self, w: Worker, ev: dict[str, Any]) -> None:
        st, kind = w.state, ev["ev"]
        w.last_event = time.monotonic()
        if kind == "hello":
            since = self._pending_since.pop(st.name, None)
            if since is not None:
                st.replace_latency_s.append(w.last_event - since)
        elif kind == "collected":
            w.collected = True
            if not st.collected:
                st.collected = list(ev["nodeids"])
        elif kind == "collect_error":
            st.add_result(CaseResult(ev["nodeid"], "failed", text=ev["text"]))
        elif kind == "start":
            w.current, w.current_start, w.current_wall = ev["nodeid"], w.last_event, time.time()
            st.current, w.rss = w.current, int(ev["rss"])
        elif kind == "result":
            res = CaseResult(ev["nodeid"], ev["outcome"], ev["duration"], ev["text"])
            if ev.get("memory_error"):
                res.outcome, res.cause = "failed", "memory"
                st.culprits.append(Culprit(res.nodeid, "memory", int(ev["rss"]), killed_at=time.time(),
                                           test_started_at=w.current_wall))
            st.add_result(res)
            st.flag_growth(res.nodeid, int(ev["rss_before"]), int(ev["rss"]))
            w.current, st.current, w.progressed = None, None, True
            if res.cause == "memory":
                self._kill(w, "retired")  # its heap is at the cap (the traceback keeps it alive): start afresh
        elif kind == "done":
            w.done = ev
        elif kind == "crash":
            w.crash = str(ev.get("text", ""))
        self.reporter.touch()

    # -- watching --------------------------------------------------------------------------------------------
    def _watch(self, w: Worker, now: float) -> None:
        if w.kill_cause is not None:
            return
        if now - w.last_sample >= SAMPLE_EVERY:
            w.last_sample = now
            rss = rss_of(w.pid)
            if rss is not None:
                w.rss = rss
                if rss > self.opts.mem_limit:
                    self._kill(w, "memory")
                    return
        if w.dump_deadline is not None:
            if now >= w.dump_deadline:
                self._kill(w, "timeout")
            return
        limit = self.opts.timeout if w.current else max(self.opts.timeout, 60.0)
        since = w.current_start if w.current else w.last_event
        if w.done is None and now - since > limit:
            try:
                os.kill(w.pid, signal.SIGUSR1)  # faulthandler dumps every thread's stack, even a GIL hog's
            except OSError:
                pass
            w.dump_deadline = now + DUMP_GRACE

    def _kill(self, w: Worker, cause: str) -> None:
        if w.kill_cause is None:
            w.kill_cause, w.killed_at = cause, time.time()
        for kill in (os.killpg, os.kill):
            try:
                kill(w.pid, signal.SIGKILL)
            except OSError:
                pass

    def _wait_exit(self, w: Worker, block: bool = False) -> tuple[int, Any] | None:
        try:
            pid, status, usage = os.wait4(w.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            if os.path.exists(f"/proc/{w.pid}"):
                return None  # not yet re-parented to us (forked by the warm parent a moment ago)
            return (-1, None)
        return (status, usage) if pid else None

    def _reap(self, w: Worker) -> None:
        exited = self._wait_exit(w)
        if exited is None and w.eof:
            for _ in range(40):  # the pipe closed: the process is exiting; catch it now, not a tick later
                time.sleep(0.0005)
                exited = self._wait_exit(w)
                if exited is not None:
                    break
        if exited is None:
            return
        if not w.eof:
            self._read(w)
            if not w.eof:
                self.sel.unregister(w.fd)
        os.close(w.fd)
        del self.workers[w.pid]
        if self.cgroup is not None:
            self.cgroup.release(w.pid)
        self._finish_worker(w, *exited)

    def _finish_worker(self, w: Worker, status: int, usage: Any) -> None:
        st = w.state
        peak = int(usage.ru_maxrss) * 1024 if usage is not None else w.rss
        st.peak_rss = max(st.peak_rss, peak)
        cause = w.kill_cause
        if cause is None and status != -1 and os.WIFSIGNALED(status):
            cause = f"signal:{os.WTERMSIG(status)}"
        elif cause is None and w.done is None:
            cause = f"exit:{os.WEXITSTATUS(status) if status != -1 else 'unknown'}"
        elif cause is None and w.done is not None and w.done["exitstatus"] in (3, 4) and not w.progressed:
            cause = f"exit:{w.done['exitstatus']}"  # pytest internal/usage error: see the module log
        for culprit in st.culprits:
            culprit.worker_peak_rss_bytes = culprit.worker_peak_rss_bytes or peak  # MemoryError culprits
        if cause is not None and cause not in ("interrupted", "retired"):
            self._name_culprit(w, cause, peak)
        remaining = [n for n in st.collected if n not in st.results]
        if remaining and cause != "interrupted" and (w.progressed or w.current is not None):
            self._pending_since[st.name] = time.monotonic()
            self._launch(st)
            return
        st.status, st.finished_at, st.current = "done", time.time(), None
        if cause == "interrupted":
            st.status = "interrupted"
        if self.console is not None:
            self.console.module_done(st)
        self.reporter.touch()

    def _name_culprit(self, w: Worker, cause: str, peak: int) -> None:
        st = w.state
        if w.current is not None:
            nodeid = w.current
        elif not w.collected:
            nodeid = f"{st.module.paths[0]}::<collection>"
        else:
            nodeid = f"{st.module.paths[0]}::<outside any test>"
        stack = ""
        if cause == "timeout":
            try:
                stack = Path(w.stack_file).read_text(errors="replace")[:_STACK_MAX]
            except OSError:
                stack = ""
        rss = w.rss or peak
        st.culprits.append(Culprit(nodeid, cause, rss, stack, peak, w.killed_at or time.time(),
                                   w.current_wall if w.current else None))
        why = {"memory": "exceeded the memory cap", "timeout": "exceeded the per-test timeout"}.get(cause, cause)
        text = f"worker died while running this test: {why} (RSS {rss} bytes). {w.crash}".strip()
        st.add_result(CaseResult(nodeid, "failed", time.monotonic() - w.current_start if w.current else 0.0,
                                 text, cause))

    def _reap_orphans(self, now: float) -> None:
        """Reap processes adopted as subreaper (daemons left by tests) so they do not linger as zombies."""
        if now - self._last_orphan_check < 1.0:
            return
        self._last_orphan_check = now
        for _ in range(64):
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid in self.workers or info.si_pid == getattr(self.launcher, "pid", None):
                return
            try:
                os.waitpid(info.si_pid, 0)
            except ChildProcessError:
                return


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
