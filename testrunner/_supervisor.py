"""The supervisor loop: schedules jobs, reads the workers' events, has them watched (`_watch`), names culprits."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import time
from pathlib import Path

from ._errors import LaunchError
from ._events import READ_PER_PASS, BadEvent, parse_event, split_lines
from ._launch import RUNNER_ROOT, SpawnLauncher, open_launcher
from ._paths import create_new
from ._report import atomic_write
from ._schedule import Job
from ._state import CaseResult, Culprit, ModuleState
from ._sysutil import CgroupLimiter
from ._tree import TAG_VAR, kill_tree, start_watchdog
from ._watch import check, next_due, session_budget
from ._workers import Worker, culprit_of, leftovers, settle_orphans

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_QUIET = ("interrupted", "retired", "stopped")  # causes that are not the test's fault
_COLLECTION = ("collecting", "collect_error", "collected_part", "collected")


class Supervisor:
    """Runs jobs in workers under the memory cap, budget and timeout; fills the ModuleStates."""

    def __init__(self, opts: Any, states: list[ModuleState], jobs: list[Job], console: Any, reporter: Any,
                 base_args: list[str], state_dir: Path, coverage: dict[str, Any] | None, rootdir: str) -> None:
        self.opts = opts
        self.jobs = jobs
        self.states = states
        self.console = console
        self.reporter = reporter
        self.base_args = base_args
        self.dir = state_dir
        self.coverage = coverage
        self.rootdir = rootdir
        self.sel = selectors.DefaultSelector()
        self.workers: dict[int, Worker] = {}
        self.launcher: Any = None
        self.cgroup: CgroupLimiter | None = None
        self.meta: dict[str, Any] = {}
        self.uid = os.urandom(16).hex()
        self.stop_reason: str | None = None
        self.interrupted = False
        self.failures = 0
        self.session_s: list[float] = []  # per worker: seconds outside its tests (start-up, collection, exit)
        self._open: dict[str, int] = {}
        self._slots = list(range(opts.jobs))
        self._pending_since: dict[str, float] = {}
        self._watchdog: int | None = None
        self.watchdog_pid: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Run every job to completion (or until interrupted or stopped by --maxfail)."""
        pending = list(self.jobs)
        for job in pending:
            self._open[job.state.name] = self._open.get(job.state.name, 0) + 1
        self.watchdog_pid, self._watchdog = start_watchdog(self.uid)
        try:
            while (pending and self.stop_reason is None) or self.workers:
                pending = self._schedule(pending) if self.stop_reason is None else pending
                wait = next_due(list(self.workers.values()), time.monotonic())  # events wake us sooner
                for key, _ in self.sel.select(wait):
                    self._read(self.workers[key.data])
                now = time.monotonic()
                for w in list(self.workers.values()):
                    self._watch(w, now)
                for w in list(self.workers.values()):
                    self._reap(w)
                self._reap_orphans()
                self.console.live([(w.state, w.rss) for w in self.workers.values()])
                self.reporter.maybe_write(self.states, self.meta)
            for st in self.states:
                if st.status in ("pending", "running"):
                    st.status = "interrupted" if self.interrupted else "stopped"
        finally:
            for w in list(self.workers.values()):
                self._kill(w, "interrupted")
                exited = self._wait_exit(w, block=True)
                if exited is not None and exited[1] is not None:
                    w.state.peak_rss = max(w.state.peak_rss, int(exited[1].ru_maxrss) * 1024)
            if self.launcher is not None:
                self.launcher.close()
            self._reap_orphans(force=True)
            os.close(self._watchdog)  # the watchdog kills whatever a test left running with the run's tag
            self._watchdog = None
            try:
                os.waitpid(self.watchdog_pid, 0)
            except ChildProcessError:
                pass

    def stop(self, reason: str, interrupted: bool = False) -> None:
        """Stop the run: no new workers, running ones are killed (their tests are not failures)."""
        if self.stop_reason is None:
            self.stop_reason, self.interrupted = reason, interrupted
            self.console.line(reason)
        for w in list(self.workers.values()):
            self._kill(w, "interrupted" if interrupted else "stopped")

    def _schedule(self, pending: list[Job]) -> list[Job]:
        for job in list(pending):
            if not self._slots:
                break
            used = sum(w.state.predicted_bytes for w in self.workers.values())
            if self.workers and used + job.state.predicted_bytes > self.opts.mem_budget:
                continue
            pending.remove(job)
            st = job.state
            if st.status == "pending":
                st.status, st.started_at = "running", time.time()
                st.log_file = create_new(str(self.dir / "logs" / f"{_safe(st.name)}.log"))
                self.console.line(f"[{st.name}] started (predicted peak {st.predicted_bytes // 2**20} MiB)")
            self._launch(job)
            self.reporter.touch()
        return pending

    def _ensure_launcher(self) -> None:
        if self.cgroup is not None or "launcher" in self.meta:
            return
        from ._sysutil import become_subreaper, delegated_cgroup

        if self.launcher is None:  # main() opens it before discovery; this is for a Supervisor used alone
            self.launcher = open_launcher(self.opts.no_fork, self.opts.warm)
        become_subreaper()  # also when spawning: leftovers of a dead worker's tree come to us, and are killed
        cg = delegated_cgroup()
        self.cgroup = CgroupLimiter(cg, self.opts.mem_limit) if cg is not None else None
        self.meta.update(launcher=self.launcher.mode, launcher_note=self.launcher.reason,
                         cgroup=str(cg) if cg is not None else None, testrun_uid=self.uid)

    def _launch(self, job: Job) -> None:
        self._ensure_launcher()
        st = job.state
        st.workers += 1
        job.launches += 1
        slot = self._slots.pop(0)
        tag = f"{_safe(st.name)}.{st.workers}"
        stack_file = create_new(str(self.dir / "stacks" / f"{tag}.txt"))  # never through a planted link
        tmpdir = _private_dir(f"testrun-gw{slot}-")
        env = {"PYTEST_XDIST_WORKER": f"gw{slot}", "PYTEST_XDIST_WORKER_COUNT": str(self.opts.jobs),
               "PYTEST_XDIST_TESTRUNUID": self.uid, "TMPDIR": tmpdir, TAG_VAR: f"{self.uid}/{tag}"}
        spec = {
            "supervisor_pid": os.getpid(), "log_file": st.log_file, "stack_file": stack_file,
            "mem_limit": self.opts.mem_limit, "args": [*job.paths, *self.base_args, *self._maxfail_left()], "env": env,
            "done": list(st.results), "coverage": self.coverage, "runner_root": RUNNER_ROOT,
        }
        spec_path = self.dir / "specs" / f"{tag}.json"
        atomic_write(spec_path, json.dumps(spec).encode())
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
        if self._watchdog is not None:
            os.write(self._watchdog, f"+{pid}\n".encode())
        now = time.monotonic()
        w = Worker(pid=pid, fd=rfd, job=job, slot=slot, tmpdir=tmpdir, stack_file=stack_file, launched=now,
                   last_event=now, tag=env[TAG_VAR])
        self.workers[pid] = w
        self.sel.register(rfd, selectors.EVENT_READ, pid)
        if self.cgroup is not None:
            self.cgroup.attach(pid)

    # -- events ----------------------------------------------------------------------------------------------
    def _read(self, w: Worker) -> None:
        budget = READ_PER_PASS  # then the loop goes on to the clocks and memory samples, and comes back
        while budget > 0:
            try:
                chunk = os.read(w.fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                self._events_end(w)
                return
            budget -= len(chunk)
            try:
                for line in split_lines(w.buf, chunk):
                    if line:
                        self._event(w, parse_event(line))
            except BadEvent as exc:  # a test wrote to the pipe: a crash of this worker, named as such
                w.crash = str(exc)
                self._events_end(w)
                self._kill(w, "bad-event")
                return

    def _events_end(self, w: Worker) -> None:
        w.eof = True
        w.buf.clear()
        self.sel.unregister(w.fd)

    def _event(self, w: Worker, ev: dict[str, Any]) -> None:
        st, kind = w.state, ev["ev"]
        if w.collected and kind in _COLLECTION:  # a test writing to the pipe: no worker collects twice
            raise BadEvent(f"a {kind!r} event after the worker's collection ended (a test wrote to its event pipe?)")
        w.last_event = time.monotonic()
        if kind == "hello":
            since = self._pending_since.pop(st.name, None)
            if since is not None:
                st.replace_latency_s.append(w.last_event - since)
        elif kind == "collecting":
            w.collecting = ev["path"]
        elif kind in ("collected_part", "collected"):  # the plugin sends a long list in parts
            w.timeouts.update({str(k): float(v) for k, v in ev["timeouts"].items()})
            w.job.nodeids = list(dict.fromkeys([*w.job.nodeids, *ev["nodeids"]]))
            st.add_collected(ev["nodeids"])
            w.items += len(ev["nodeids"])
            w.clocks += sum(float(ev["timeouts"].get(n, self.opts.timeout)) for n in ev["nodeids"])
            if kind == "collected":
                w.collected, w.collecting = True, None
                w.deadline = w.last_event + session_budget(w.items, w.clocks, self.opts.timeout)
        elif kind == "collect_error":
            self._result(w, CaseResult(ev["nodeid"], "error", text=ev["text"]))
        elif kind == "start":
            w.current, w.current_start, w.current_wall = ev["nodeid"], w.last_event, time.time()
            st.current, w.rss = w.current, int(ev["rss"])
        elif kind == "result":
            res = CaseResult(ev["nodeid"], ev["outcome"], ev["duration"], ev["text"])
            if ev.get("memory_error"):
                res.outcome, res.cause = "failed", "memory"
                st.culprits.append(Culprit(res.nodeid, "memory", int(ev["rss"]), killed_at=time.time(),
                                           test_started_at=w.current_wall))
            st.flag_growth(res.nodeid, int(ev["rss_before"]), int(ev["rss"]))
            w.test_s += res.duration
            w.current, st.current, w.progressed = None, None, True
            if res.cause == "memory":
                self._kill(w, "retired")  # its heap is at the cap (the traceback keeps it alive): start afresh
            self._result(w, res)
        elif kind == "interrupted":
            w.interrupted = str(ev.get("text") or "interrupted")
        elif kind == "done" and w.done is None:  # the clock to exit starts at the first; no later event moves it
            w.done, w.done_at = ev, w.last_event
        elif kind == "crash":
            w.crash = str(ev.get("text", ""))
        self.reporter.touch()

    def _maxfail_left(self) -> list[str]:
        """A worker's own ``--maxfail``: the failures the run has left, so it stops by itself at the run's limit
        (given last, it overrides the whole limit in the selection arguments)."""
        if not self.opts.maxfail:
            return []
        return [f"--maxfail={max(1, self.opts.maxfail - self.failures)}"]

    def _result(self, w: Worker, res: CaseResult) -> None:
        w.state.add_result(res)
        if res.outcome in ("failed", "error"):
            self.failures += 1
            if self.opts.maxfail and self.failures >= self.opts.maxfail:
                self.stop(f"stopping: {self.failures} failed (-x/--maxfail={self.opts.maxfail})")

    # -- watching --------------------------------------------------------------------------------------------
    def _watch(self, w: Worker, now: float) -> None:
        if w.kill_cause is None:
            cause = check(w, now, self.opts.mem_limit, self.opts.timeout)
            if cause is not None:
                self._kill(w, cause)

    def _kill(self, w: Worker, cause: str) -> None:
        if w.kill_cause is None:
            w.kill_cause, w.killed_at = cause, time.time()
        kill_tree(w.pid, leftovers(w, [o for o in self.workers.values() if o is not w]))

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
        kill_tree(w.pid, leftovers(w, list(self.workers.values())))  # whatever its tests started dies with it
        if self._watchdog is not None:
            os.write(self._watchdog, f"-{w.pid}\n".encode())
        self._slots.append(w.slot)
        self._slots.sort()
        shutil.rmtree(w.tmpdir, ignore_errors=True)
        if self.cgroup is not None:
            self.cgroup.release(w.pid)
        self._finish_worker(w, *exited)

    def _finish_worker(self, w: Worker, status: int, usage: Any) -> None:
        st, job = w.state, w.job
        peak = int(usage.ru_maxrss) * 1024 if usage is not None else w.rss
        st.peak_rss = max(st.peak_rss, peak)
        cause = w.kill_cause
        if cause is None and w.done is not None and w.progressed:
            self.session_s.append(max(0.0, time.monotonic() - w.launched - w.test_s))
        if w.interrupted is not None or (w.done is not None and w.done["exitstatus"] == 2 and cause is None):
            where = f" in {w.current}" if w.current else ""
            self.stop(f"interrupted{where}: {w.interrupted or 'pytest reported an interrupted session'}", True)
            cause = "interrupted"
        if cause is None and status != -1 and os.WIFSIGNALED(status):
            cause = f"signal:{os.WTERMSIG(status)}"
        elif cause is None and w.done is None:
            cause = f"exit:{os.WEXITSTATUS(status) if status != -1 else 'unknown'}"
        elif cause is None and w.done is not None and w.done["exitstatus"] in (3, 4) and not w.progressed:
            cause = f"exit:{w.done['exitstatus']}"  # pytest internal/usage error: see the module log
        for culprit in st.culprits:
            culprit.worker_peak_rss_bytes = culprit.worker_peak_rss_bytes or peak  # MemoryError culprits
        if cause is not None and cause not in _QUIET:
            self._name_culprit(w, cause, peak)
        remaining = [n for n in job.nodeids if n not in st.results]
        crashed_collecting = cause is not None and cause not in _QUIET and not w.collected and w.collecting
        resumable = w.progressed or w.current is not None or crashed_collecting
        if (remaining or crashed_collecting) and job.paths and resumable and self.stop_reason is None \
                and job.launches <= len(job.nodeids) + len(job.files) + 1:
            self._pending_since[st.name] = time.monotonic()
            self._launch(job)
            return
        self._open[st.name] -= 1
        if self._open[st.name] > 0:
            return
        st.status, st.finished_at, st.current = "done", time.time(), None
        if self.stop_reason is not None and (remaining or cause in _QUIET):
            st.status = "interrupted" if self.interrupted else "stopped"
        self.console.module_done(st)
        self.reporter.touch()

    def _name_culprit(self, w: Worker, cause: str, peak: int) -> None:
        culprit, result = culprit_of(w, cause, peak, self.rootdir)
        w.state.culprits.append(culprit)
        self._result(w, result)

    def _reap_orphans(self, force: bool = False) -> None:
        """Every loop pass (a new orphan is counted from the next sample on): one read of our children, and only
        a process not seen before is looked at."""
        ours = {*self.workers, getattr(self.launcher, "pid", None), self.watchdog_pid}
        settle_orphans(ours, list(self.workers.values()), force)


def _private_dir(prefix: str) -> str:
    """A new directory under $TMPDIR (else /tmp) that nobody else can list (0711, like /tmp for other users: enter
    a known path, never list); created with a random name, never through an existing path."""
    base = os.environ.get("TMPDIR") or "/tmp"
    while True:
        path = os.path.join(base, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o711)
        return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
