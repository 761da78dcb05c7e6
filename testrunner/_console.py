"""Console output: a live line per running module (redrawn on a TTY), failure details and the summary table."""

from __future__ import annotations

import sys
import time

from ._state import EXTRA_CATEGORIES, ModuleState, totals
from ._sysutil import format_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

_MAX_DETAIL_LINES = 40
_MAX_STACK_LINES = 12  # most recent frames first; the full stack is in the JSON report


class Console:
    """Writes progress to ``stream``; plain lines when it is not a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.out = stream or sys.stdout
        self.tty = self.out.isatty()
        self._drawn = 0
        self._last = 0.0

    def _clear(self) -> None:
        if self._drawn:
            self.out.write("\x1b[1A\x1b[2K" * self._drawn)
            self._drawn = 0

    def line(self, text: str) -> None:
        """Print a permanent line (above the live block on a TTY)."""
        self._clear()
        self.out.write(text + "\n")
        self.out.flush()

    def live(self, running: list[tuple[ModuleState, int | None]], force: bool = False) -> None:
        """Redraw one line per running module (TTY only, at most 5 times a second)."""
        now = time.monotonic()
        if not self.tty or (not force and now - self._last < 0.2):
            return
        self._last = now
        self._clear()
        for st, rss in running:
            done = len(st.results)
            total = len(st.collected) or "?"
            current = (st.current or "collecting")[-70:]
            self.out.write(f"  {st.name:<18} {done:>4}/{total:<4} {st.wall:6.1f}s {format_size(rss):>7}  {current}\n")
        self._drawn = len(running)
        self.out.flush()

    def module_done(self, st: ModuleState) -> None:
        """One line per finished module."""
        bad = f", {len(st.culprits)} culprit(s)" if st.culprits else ""
        extra = "".join(f", {st.count(o)} {k}" for k, o in EXTRA_CATEGORIES if st.count(o))
        self.line(
            f"[{st.name}] {st.count('passed')} passed, {st.failed_total()} failed, {st.count('skipped')} skipped"
            f"{extra}{bad} in {st.wall:.1f}s, peak RSS {format_size(st.peak_rss)}"
        )

    def details(self, states: list[ModuleState]) -> None:
        """Failures (truncated) and culprits with their cause, RSS and, for hangs, the stack."""
        for st in states:
            for res in st.results.values():
                if res.outcome not in ("failed", "error"):
                    continue
                head = f"{'FAILED' if res.outcome == 'failed' else 'ERROR'} {res.nodeid}"
                head += f"  [worker killed: {res.cause}]" if res.cause else ""
                self.line("\n" + head)
                lines = res.text.rstrip().splitlines()
                for text in lines[-_MAX_DETAIL_LINES:]:
                    self.line("    " + text)
            for c in st.culprits:
                self.line(f"CULPRIT {c.nodeid}: cause={c.cause} rss={format_size(c.rss_bytes)}")
                for text in c.stack.rstrip().splitlines()[:_MAX_STACK_LINES]:
                    self.line("    " + text)
            for flag in st.rss_growth[:10]:
                self.line(f"RSS GROWTH {flag['nodeid']}: +{format_size(flag['growth_bytes'])}")
            if (st.failed_total() or st.count("error")) and st.log_file:
                self.line(f"  (full pytest output of {st.name}: {st.log_file})")

    def summary(self, states: list[ModuleState]) -> None:
        """The summary table, then the final ``tests: N passed, N failed, N skipped`` line (then errors, xfailed,
        xpassed when there are any: ``, N errors, N xfailed``)."""
        header = ("module", "tests", "passed", "failed", "skipped", "wall", "peak RSS", "culprits")
        rows = [header] + [
            (
                st.name, str(st.tests), str(st.count("passed")), str(st.failed_total()), str(st.count("skipped")),
                f"{st.wall:.1f}s", format_size(st.peak_rss),
                ", ".join(f"{c.nodeid.rpartition('::')[2]}({c.cause})" for c in st.culprits)[:80] or "-",
            )
            for st in states
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        self.line("")
        for i, row in enumerate(rows):
            self.line("  ".join(cell.ljust(w) if j in (0, 7) else cell.rjust(w)
                                for j, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
            if i == 0:
                self.line("  ".join("-" * w for w in widths))
        tot = totals(states)
        extra = "".join(f", {tot[k]} {k}" for k, _ in EXTRA_CATEGORIES if tot[k])
        self.line(f"tests: {tot['passed']} passed, {tot['failed']} failed, {tot['skipped']} skipped{extra}")
