"""Plan the run: longest modules first (from durations recorded in the state directory), a module much longer
than the rest split by file across workers (each part is its own pytest session, as under pytest-xdist)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._paths import read_state_file
from ._report import atomic_write
from ._state import ModuleState

DURATIONS_FILE = "durations.json"
_SECONDS_PER_BYTE = 2e-4  # before anything is recorded: a test file's size stands for its running time
_MAX_FILES = 20000
SESSION_KEY = "<session start-up>"  # in durations.json: median seconds a worker spends outside its tests
_DEFAULT_SESSION_S = 1.0
_MAX_SPLITS = 64


@dataclass
class Job:
    """A part of a module run by one worker at a time: its files, and the files that crashed collection."""

    state: ModuleState
    files: tuple[str, ...]
    expected_s: float
    nodeids: list[str] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)
    launches: int = 0

    @property
    def paths(self) -> list[str]:
        return [f for f in self.files if f not in self.dropped]


def load_durations(state_dir: Path) -> dict[str, float]:
    """Recorded seconds per test file (absolute path), or an empty dict."""

    try:
        data = json.loads(read_state_file(state_dir / DURATIONS_FILE) or "{}")
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


def save_durations(state_dir: Path, rootdir: str, states: list[ModuleState], session_s: list[float]) -> None:
    """Record each file's summed test durations (keeping files not run this time), bounded in size, and the
    median of ``session_s`` (seconds each worker spent outside its tests) as ``SESSION_KEY``."""
    recorded = load_durations(state_dir)
    if session_s:
        recorded[SESSION_KEY] = round(_median(session_s), 4)
    fresh: dict[str, float] = {}
    for st in states:
        for res in st.results.values():
            path = os.path.join(rootdir, res.nodeid.split("::")[0])
            fresh[path] = fresh.get(path, 0.0) + res.duration
    recorded.update({k: round(v, 4) for k, v in fresh.items()})
    keep = dict(list(recorded.items())[-_MAX_FILES:])
    atomic_write(state_dir / DURATIONS_FILE, json.dumps(keep, indent=1, sort_keys=True).encode())


def _median(values: list[float]) -> float:
    """The median (``statistics`` is not imported for this one figure: the supervisor stays small)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _estimate(files: tuple[str, ...], recorded: dict[str, float]) -> dict[str, float]:
    sizes = {f: _size(f) for f in files}
    known = [(recorded[os.path.abspath(f)], sizes[f]) for f in files if os.path.abspath(f) in recorded]
    rate = _SECONDS_PER_BYTE
    if known and sum(s for _, s in known) > 0:
        rate = sum(t for t, _ in known) / sum(s for _, s in known)
    return {f: recorded.get(os.path.abspath(f), sizes[f] * rate) for f in files}


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _lpt(loads: list[float], jobs: int) -> float:
    """Makespan of running ``loads`` longest first, each on the least busy of ``jobs`` workers."""
    busy = [0.0] * jobs
    for load in sorted(loads, reverse=True):
        busy[busy.index(min(busy))] += load
    return max(busy, default=0.0)


def _halve(files: list[str], est: dict[str, float]) -> tuple[list[str], list[str]]:
    """Two parts of ``files`` balanced by their estimates (longest file into the lighter part)."""
    parts: tuple[list[str], list[str]] = ([], [])
    loads = [0.0, 0.0]
    for f in sorted(files, key=lambda f: (-est[f], f)):
        i = 0 if loads[0] <= loads[1] else 1
        parts[i].append(f)
        loads[i] += est[f]
    return parts


def plan(states: list[ModuleState], recorded: dict[str, float], jobs: int) -> list[Job]:
    """Jobs, longest first. With several workers, the longest unit is halved by file, again and again (each part a
    session of its own, paying the start-up recorded as ``SESSION_KEY``); the plan kept is the one with the shortest
    predicted run (longest first, each on the least busy worker)."""
    overhead = recorded.get(SESSION_KEY, _DEFAULT_SESSION_S)
    per_file = {st.name: _estimate(st.module.paths, recorded) for st in states}
    units: list[tuple[ModuleState, list[str]]] = [(st, list(st.module.paths)) for st in states]

    def load(unit: tuple[ModuleState, list[str]]) -> float:
        est = per_file[unit[0].name]
        return overhead + sum(est[f] for f in unit[1])

    if jobs > 1:  # keep halving the longest splittable unit; keep the best plan seen (a split may pay only later)
        best, best_s = units, _lpt([load(u) for u in units], jobs)
        for _ in range(_MAX_SPLITS):
            splittable = [u for u in units if len(u[1]) > 1]
            if not splittable:
                break
            biggest = max(splittable, key=load)
            halves = _halve(biggest[1], per_file[biggest[0].name])
            units = [u for u in units if u is not biggest] + [(biggest[0], halves[0]), (biggest[0], halves[1])]
            makespan = _lpt([load(u) for u in units], jobs)
            if makespan < best_s - 1e-9:
                best, best_s = units, makespan
        units = best
    out = [Job(st, tuple(sorted(files)), load((st, files)) - overhead) for st, files in units]
    out.sort(key=lambda j: -j.expected_s)
    return out
