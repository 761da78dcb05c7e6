"""Find test modules on disk: each immediate subdirectory of a PATH holding tests, plus PATH's own files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_SKIP_DIRS = {"__pycache__", "node_modules"}


@dataclass(frozen=True)
class Module:
    """One unit of isolation: the files/directories given to one pytest worker."""

    name: str
    paths: tuple[str, ...]


def is_test_file(name: str) -> bool:
    """pytest's default ``python_files`` patterns."""
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _holds_tests(directory: Path) -> bool:
    for _root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
        if any(is_test_file(f) for f in files):
            return True
    return False


def discover(paths: list[str]) -> list[Module]:
    """Modules under each PATH, in a stable order; names are unique (qualified by PATH on a clash)."""
    found: list[tuple[str, str, tuple[str, ...]]] = []  # (short name, qualified name, paths)
    for raw in paths:
        base = Path(raw)
        if base.is_file():
            found.append((base.stem, str(base), (str(base),)))
            continue
        if not base.is_dir():
            raise FileNotFoundError(f"test path {raw!r} does not exist; pass a directory such as tests/")
        entries = sorted(base.iterdir(), key=lambda p: p.name)
        for sub in entries:
            if sub.is_dir() and sub.name not in _SKIP_DIRS and not sub.name.startswith(".") and _holds_tests(sub):
                found.append((sub.name, str(sub), (str(sub),)))
        own = tuple(str(p) for p in entries if p.is_file() and is_test_file(p.name))
        if own:
            label = base.resolve().name or str(base)
            found.append((label, f"{base}/*.py", own))
    counts: dict[str, int] = {}
    for short, _, _ in found:
        counts[short] = counts.get(short, 0) + 1
    return [Module(short if counts[short] == 1 else qualified, mpaths) for short, qualified, mpaths in found]
