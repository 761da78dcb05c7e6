"""Process mining side by side with pm4py (AGPL: run only as an oracle in its own virtualenv, never imported here).

Run: python benchmarks/bench_mining_peers.py [--events 1000000] [--rounds 5]

Both sides build the same synthetic log (GEN below, executed in both interpreters), then time one repetition at a
time, interleaved; the table shows medians and the ratio (pm4py's time / ours: above 1 means llmteam is faster).
- DFG with performance: ``ProcessMiningEngine.directly_follows_graph()`` from the engine's events with its cache
  cleared (so it re-sorts its cases), vs ``pm4py.discover_performance_dfg`` on pm4py's formatted DataFrame.
"""

from __future__ import annotations

import argparse

from _peers import Peer, interleave, peer_python, print_table, row, time_call

from llmteam.roles import ProcessEvent, ProcessMiningEngine

PM4PY = ["pm4py==2.7.23.11"]
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
    args = parser.parse_args()
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
