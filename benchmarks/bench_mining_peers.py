"""Process mining side by side with pm4py (AGPL: run only as an oracle in its own virtualenv, never imported here).

Run: python benchmarks/bench_mining_peers.py [--events 1000000] [--rounds 5]

Both sides build the same synthetic log (GEN below, executed in both interpreters), then time one repetition at a
time, interleaved; the table shows medians and the ratio (pm4py's time / ours: above 1 means llmteam is faster).
- DFG with performance: ``ProcessMiningEngine.directly_follows_graph()`` from the engine's events with its cache
  cleared (so it re-sorts its cases), vs ``pm4py.discover_performance_dfg`` on pm4py's formatted DataFrame.
- XES import (``--xes-events``, 0 to skip): ``import_xes`` of an IEEE XES file our exporter wrote, vs the reader
  before (the reader issue 17 measured, loaded from this checkout's git history at ``BEFORE_REF``: the 2x target's
  baseline),
  pm4py's pure-Python reader (``read_xes(variant="iterparse")``) and the Rust reader pm4py uses by default
  (``rustxes``, in our ``interop`` extra, timed in this process); then both llmteam readers on the same log with an
  extra attribute first in every event (another tool's layout, which the reader takes tag by tag); events/s and
  CPU time per event, medians of interleaved rounds. ``--events 0`` skips the DFG row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from _peers import Peer, interleave, peer_python, print_table, row, time_call

from llmteam.roles import ProcessEvent, ProcessMiningEngine, import_xes

PM4PY = ["pm4py==2.7.23.11"]
BEFORE_REF = "5ae2bb5^"  # the reader issue 17 measured: expat with one Python callback per start and end tag
READER = "src/llmteam/roles/_xes_import.py"


def reader_at(ref: str) -> ModuleType:
    """The XES reader as it was at git ``ref``, read from this checkout's history (a baseline, never the package's)."""
    root = Path(__file__).resolve().parent.parent
    try:
        source = subprocess.run(["git", "show", f"{ref}:{READER}"], cwd=root, capture_output=True, text=True,
                                check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"the baseline reader is read from git ({ref}:{READER}); run this from a clone with its "
                         f"history ({exc})") from None
    module = ModuleType("xes_import_before")
    module.__file__ = f"{ref}:{READER}"
    sys.modules[module.__name__] = module  # dataclasses and pickling look classes up by their module
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # this repository's own code, from git
    return module


GEN = '''
from datetime import datetime, timedelta
ACTS = ["triage", "retrieve", "draft", "review", "send"]
T0 = datetime(2024, 1, 1)
def log_rows(n):
    """(case, activity, timestamp, resource): ten events a case, uneven gaps so edge statistics differ."""
    for i in range(n):
        case, step = divmod(i, 10)
        ts = T0 + timedelta(seconds=case * 60 + step * 5 + (i * 7919) % 1000 / 1000)
        yield f"case{case}", ACTS[(step + case) % 5], ts, "bot"
'''

PM4PY_WORKER = GEN + '''
import sys, time
import pandas as pd
import pm4py
rows = list(log_rows(int(sys.argv[1])))
df = pd.DataFrame(rows, columns=["case:concept:name", "concept:name", "time:timestamp", "org:resource"])
df = pm4py.format_dataframe(
    df, case_id="case:concept:name", activity_key="concept:name", timestamp_key="time:timestamp"
)
dfg, _, _ = pm4py.discover_performance_dfg(df)
print("ready", len(dfg), flush=True)
for line in sys.stdin:
    start = time.process_time()
    pm4py.discover_performance_dfg(df)
    print(time.process_time() - start, flush=True)
'''


PM4PY_XES_WORKER = '''
import sys, time, warnings
warnings.filterwarnings("ignore")
import pm4py
path = sys.argv[1]
print("ready", len(pm4py.read_xes(path, variant="iterparse")), flush=True)
for line in sys.stdin:
    start = time.process_time()
    pm4py.read_xes(path, variant="iterparse")
    print(time.process_time() - start, flush=True)
'''


def xes_import_rows(n: int, rounds: int) -> None:
    """Events/s of our XES import beside the reader before, pm4py's iterparse reader and rustxes; interleaved."""
    import rustxes  # the interop extra: pip install -e ".[dev,interop]"

    scope: dict[str, object] = {}
    exec(GEN, scope)
    engine = ProcessMiningEngine()
    for i, (case, act, ts, res) in enumerate(scope["log_rows"](n)):  # type: ignore[operator]
        engine.record_event(ProcessEvent(f"e{i}", ts, act, res, case, "complete", 10 + i % 90, 0.0,
                                         {"model": "gpt-4o-mini", "tenant": "acme"}))
    reader_before = reader_at(BEFORE_REF)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.xes"
        engine.write_xes(path, standard=True)
        # the same log in a layout of another tool (an extra attribute first in every event): read tag by tag
        foreign = Path(tmp) / "foreign.xes"
        foreign.write_text(path.read_text(encoding="utf-8").replace(
            "<event>", '<event><string key="source" value="bench"/>'), encoding="utf-8")
        peer = Peer(peer_python("pm4py", PM4PY), PM4PY_XES_WORKER, str(path))
        ours = import_xes(path)
        if ours != reader_before.import_xes(path) or [replace(e, attributes={}) for e in import_xes(foreign)] != [
            replace(e, attributes={}) for e in ours
        ] or import_xes(foreign) != reader_before.import_xes(foreign):
            raise SystemExit("the reader before and the reader now disagree on the log: fix the reader first")
        if peer.info != str(n) or len(ours) != n or rustxes.import_xes(str(path))[0].shape[0] != n:
            raise SystemExit(f"the readers disagree on the number of events: expected {n}, pm4py read {peer.info}")
        readers: dict[str, Callable[[], float]] = {
            "llmteam import_xes": lambda: time_call(lambda: import_xes(path)),
            "reader before (baseline)": lambda: time_call(lambda: reader_before.import_xes(path)),
            "pm4py iterparse": peer.time_one,
            "rustxes (Rust)": lambda: time_call(lambda: rustxes.import_xes(str(path))),
            "llmteam, other layout": lambda: time_call(lambda: import_xes(foreign)),
            "before, other layout": lambda: time_call(lambda: reader_before.import_xes(foreign)),
        }
        times: dict[str, list[float]] = {name: [] for name in readers}
        for i in range(rounds):
            for name in list(readers) if i % 2 == 0 else reversed(readers):
                times[name].append(readers[name]())
        peer.close()
    rates = {name: n / statistics.median(t) for name, t in times.items()}
    print(f"XES import, IEEE layout, {n:,} events, {rounds} interleaved rounds (CPU time, medians), load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"  the reader before: the reader issue 17 measured, {BEFORE_REF}:{READER} from git")
    ours = dict.fromkeys(("reader before (baseline)", "pm4py iterparse", "rustxes (Rust)"), "llmteam import_xes")
    ours["before, other layout"] = "llmteam, other layout"
    for name, rate in rates.items():
        ratio = f"   llmteam/this x{rates[ours[name]] / rate:.2f}" if name in ours else ""
        print(f"  {name:<26} {rate:>10,.0f} events/s {1e6 / rate:>7.2f} us CPU/event{ratio}")


def our_engine(n: int) -> ProcessMiningEngine:
    scope: dict[str, object] = {}
    exec(GEN, scope)
    engine = ProcessMiningEngine()
    for i, (case, act, ts, res) in enumerate(scope["log_rows"](n)):  # type: ignore[operator]
        engine.record_event(ProcessEvent(f"e{i}", ts, act, res, case))
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--xes-events", type=int, default=100_000)
    args = parser.parse_args()
    if args.xes_events:
        xes_import_rows(args.xes_events, args.rounds)
    if not args.events:
        return
    engine = our_engine(args.events)
    peer = Peer(peer_python("pm4py", PM4PY), PM4PY_WORKER, str(args.events))

    def ours() -> float:
        engine._cache = None  # from the recorded events: re-sort the cases, then analyse
        return time_call(lambda: engine.directly_follows_graph(lifecycles=None))

    edges = len(engine.directly_follows_graph(lifecycles=None).edges)
    if str(edges) != peer.info:
        raise SystemExit(f"the two sides disagree on the log: {edges} edges here, pm4py found {peer.info}")
    ours_s, peer_s = interleave(ours, peer.time_one, args.rounds)
    peer.close()
    print(f"process mining vs pm4py, {args.events:,} events, {args.rounds} interleaved rounds")
    print_table([row(f"DFG with performance ({args.events:,} events)", ours_s, peer_s, 1.5)], "pm4py")


if __name__ == "__main__":
    main()
