"""Plan the run: longest modules first (from durations recorded in the state directory), a module much longer
than the rest split by file across workers (each part is its own pytest session, as under pytest-xdist)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._report import atomic_write
from ._state import ModuleState

DURATIONS_FILE = "durations.json"
_SECONDS_PER_BYTE = 2e-4  # before anything is recorded: a test file's size stands for its running time
_MAX_FILES = 20000


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
        data = json.loads((state_dir / DURATIONS_FILE).read_text())
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


def save_durations(state_dir: Path, rootdir: str, states: list[ModuleState]) -> None:
    """Record each file's summed test durations (keeping files not run this time), bounded in size."""
    recorded = load_durations(state_dir)
    fresh: dict[str, float] = {}
    for st in states:
        for res in st.results.values():
            path = os.path.join(rootdir, res.nodeid.split("::")[0])
            fresh[path] = fresh.get(path, 0.0) + res.duration
    recorded.update({k: round(v, 4) for k, v in fresh.items()})
    keep = dict(list(recorded.items())[-_MAX_FILES:])
    atomic_write(state_dir / DURATIONS_FILE, json.dumps(keep, indent=1, sort_keys=True).encode())


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


def plan(states: list[ModuleState], recorded: dict[str, float], jobs: int) -> list[Job]:
    """Jobs, longest first; a module longer than a fair share (total / jobs) is split into balanced parts."""
    per_file = {st.name: _estimate(st.module.paths, recorded) for st in states}
    module_s = {name: sum(est.values()) for name, est in per_file.items()}
    total = sum(module_s.values())
    out: list[Job] = []
    for st in states:
        est = per_file[st.name]
        parts = 1
        if jobs > 1 and total > 0 and module_s[st.name] > total / jobs:
            parts = min(jobs, len(est), math.ceil(module_s[st.name] / (total / jobs)) + 1)
        if parts <= 1:
            out.append(Job(st, st.module.paths, module_s[st.name]))
            continue
        bins: list[list[str]] = [[] for _ in range(parts)]
        loads = [0.0] * parts
        for f in sorted(est, key=lambda f: -est[f]):  # longest file into the least loaded part
            i = loads.index(min(loads))
            bins[i].append(f)
            loads[i] += est[f]
        out.extend(Job(st, tuple(sorted(b)), load) for b, load in zip(bins, loads, strict=True) if b)
    out.sort(key=lambda j: -j.expected_s)
    return out
