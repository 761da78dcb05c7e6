"""Every ```python block in README.md and docs/*.md runs as written.

Blocks of one page run in order in one namespace (a page may build on its earlier blocks), in a fresh temporary
working directory, with no LLMTEAM_* variable set, so a page must show any set-up it needs. As in the asyncio
REPL (``python -m asyncio``), a block may ``await`` at top level; the blocks of a page share one event loop.
A block that is not meant to run is marked by a fence of another language (```text, ```pycon). Which pages
exist is read at collection time: a new page is covered without touching this file.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block of a Markdown page."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def test_the_extractor_finds_blocks_and_their_lines() -> None:
    page = "intro\n```python\nx = 1\n```\ntext\n```text\nnot code\n```\n```python\ny = x + 1\n```\n"
    assert python_blocks(page) == [(3, "x = 1\n"), (10, "y = x + 1\n")]


def test_every_page_is_collected() -> None:
    names = {p.name for p in PAGES}
    assert "README.md" in names and "team.md" in names and len(names) >= 10


def run_page(page: Path) -> None:
    """Run the page's blocks in order in one namespace and one event loop (``python tests/test_docs.py PAGE``)."""
    page_module = types.ModuleType("__main__")  # a real module, so classes defined in a block resolve their
    sys.modules["__main__"] = page_module        # annotations there (pydantic, dataclasses)
    namespace = page_module.__dict__
    loop = asyncio.new_event_loop()
    try:
        for line, code in python_blocks(page.read_text(encoding="utf-8")):
            compiled = compile(code, f"{page.relative_to(ROOT)}:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(compiled, namespace)  # noqa: S307 - the documentation's own examples
            if inspect.iscoroutine(result):  # the block awaits at top level
                loop.run_until_complete(result)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_run_as_written(page: Path, tmp_path: Path) -> None:
    """Each page in its own interpreter (no state leaks between pages or into the test process)."""
    if not python_blocks(page.read_text(encoding="utf-8")):
        pytest.skip(f"{page.name} has no python blocks")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTEAM_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(page)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{page.name}: a block failed\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


if __name__ == "__main__":
    run_page(Path(sys.argv[1]))
