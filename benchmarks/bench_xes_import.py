"""XES import of one huge attribute value: llmteam's reader against raw expat, fed in one piece and in fixed chunks.

Fixed 64 KiB chunks are what the reader did before (expat re-scans the unfinished token at every feed: quadratic);
the reader now doubles its reads while a token stays unfinished. Interleaved runs, medians. Run:
``python benchmarks/bench_xes_import.py`` (about 20 s).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from xml.parsers import expat

from llmteam.roles import import_xes

DOC = ('<log xmlns="http://www.xes-standard.org/"><trace><event><date key="time:timestamp" '
       'value="2024-01-01T00:00:00+00:00"/><string key="blob" value="{}"/></event></trace></log>')


def expat_whole(path: Path) -> None:
    expat.ParserCreate().Parse(path.read_bytes(), True)


def expat_fixed_chunks(path: Path) -> None:
    parser = expat.ParserCreate()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            parser.Parse(chunk, False)
    parser.Parse(b"", True)


def timed(fn, path: Path) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(path)
    return time.perf_counter() - start


def main() -> None:
    print(f"{'value MB':>8}  {'llmteam import_xes':>18}  {'expat, one piece':>16}  {'expat, 64 KiB chunks':>20}")
    with tempfile.TemporaryDirectory() as tmp:
        for mb in (4, 15):  # a value past 16 MiB (MAX_TOKEN_CHARS) is refused
            path = Path(tmp) / f"{mb}.xes"
            path.write_text(DOC.format("x" * (mb << 20)), encoding="utf-8")
            runs: dict[str, list[float]] = {"ours": [], "whole": [], "chunks": []}
            for i in range(3):
                runs["ours"].append(timed(import_xes, path))
                runs["whole"].append(timed(expat_whole, path))
                if i == 0 or mb < 15:  # the quadratic baseline takes seconds at 15 MB: once is enough
                    runs["chunks"].append(timed(expat_fixed_chunks, path))
            med = {k: statistics.median(v) for k, v in runs.items()}
            print(f"{mb:>8}  {med['ours']:>17.3f}s  {med['whole']:>15.3f}s  {med['chunks']:>19.3f}s")


if __name__ == "__main__":
    main()
