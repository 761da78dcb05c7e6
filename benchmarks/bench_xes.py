"""XES export side by side with the raw baseline: the same layouts written with no escaping at all.

Run: python benchmarks/bench_xes.py [--events 200000] [--rounds 7]

The baseline writers below are what a straightforward writer does: one f-string per event and per attribute, each
timestamp formatted on its own (``datetime.isoformat``; in the IEEE layout ``UTCText``, which ours also uses for
the first timestamp of each hour), nothing escaped. They produce byte-identical documents for a log with nothing
to escape (checked before timing), so the ratio (baseline time / ours: above 1 means llmteam is faster) is the
whole cost of escaping, net of what ours saves per event: the escaped text of repeated parts remembered, timestamps
composed within their hour, one join per trace. The log repeats a few activities, resources and attribute sets,
as process logs do; the last row gives every event its own attribute value (nothing repeats, so every event is
escaped afresh: no target).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from _peers import interleave, print_table, row, time_call

from llmteam.roles import ProcessEvent, ProcessMiningEngine
from llmteam.roles._xes import _COMPACT_PREAMBLE, _FOOTER, _STANDARD_PREAMBLE, COST_KEY, DURATION_KEY
from llmteam.roles._xes_time import UTCText

Cases = Iterable[tuple[str, Sequence[ProcessEvent]]]


def unescaped_compact(cases: Cases) -> str:
    """The contract's compact layout, every value written as is."""
    out = [_COMPACT_PREAMBLE]
    for case_id, events in cases:
        parts = ["  <trace>\n", f'    <string key="concept:name" value="{case_id}"/>\n']
        for e in events:
            parts.append(
                "    <event>\n"
                f'      <string key="concept:name" value="{e.activity}"/>\n'
                f'      <string key="org:resource" value="{e.resource}"/>\n'
                f'      <date key="time:timestamp" value="{e.timestamp.isoformat()}"/>\n'
                f'      <string key="lifecycle:transition" value="{e.lifecycle}"/>\n'
            )
            for k, v in e.attributes.items():
                parts.append(f'      <string key="{k}" value="{v}"/>\n')
            parts.append("    </event>\n")
        parts.append("  </trace>\n")
        out.append("".join(parts))
    out.append(_FOOTER)
    return "".join(out)


def unescaped_standard(cases: Cases) -> str:
    """IEEE 1849 XES in our layout, every value written as is (string attributes only, as in the log below)."""
    utc = UTCText()
    out = [_STANDARD_PREAMBLE]
    for case_id, events in cases:
        parts = ["  <trace>\n", f'    <string key="concept:name" value="{case_id}"/>\n']
        for e in events:
            parts.append(
                "    <event>\n"
                f'      <string key="concept:name" value="{e.activity}"/>\n'
                f'      <string key="org:resource" value="{e.resource}"/>\n'
                f'      <date key="time:timestamp" value="{utc(e.timestamp)}"/>\n'
                f'      <string key="lifecycle:transition" value="{e.lifecycle}"/>\n'
                f'      <id key="identity:id" value="{e.event_id}"/>\n'
            )
            if e.duration_ms:
                parts.append(f'      <int key="{DURATION_KEY}" value="{e.duration_ms}"/>\n')
            if e.cost:
                parts.append(f'      <float key="{COST_KEY}" value="{float(e.cost)!r}"/>\n')
            for k, v in e.attributes.items():
                parts.append(f'      <string key="{k}" value="{v}"/>\n')
            parts.append("    </event>\n")
        parts.append("  </trace>\n")
        out.append("".join(parts))
    out.append(_FOOTER)
    return "".join(out)


def build(n: int, unique: bool = False) -> ProcessMiningEngine:
    engine = ProcessMiningEngine()
    acts = ["triage", "retrieve policy", "draft", "review", "send"]
    t0 = datetime(2024, 1, 1)
    for i in range(n):
        case, step = divmod(i, 10)
        engine.record_event(ProcessEvent(
            f"run-{case}-step-{step}", t0 + timedelta(seconds=case * 60 + step, microseconds=i % 997),
            acts[step % 5], f"agent-{step % 5}", f"run-{case}", "start" if step % 2 == 0 else "complete",
            0 if step % 2 == 0 else 100 + step, 0.0,
            {"model": "gpt-4o-mini", "tenant": f"acme-{i}" if unique else "acme"},
        ))
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for name, standard, baseline, unique in (
        ("compact", False, unescaped_compact, False),
        ("IEEE 1849", True, unescaped_standard, False),
        ("IEEE 1849, no repeated attributes", True, unescaped_standard, True),
    ):
        engine = build(args.events, unique)
        cases = list(engine.iter_cases())
        ours_doc = "".join(engine.iter_xes(standard=standard))
        if ours_doc != baseline(cases):
            raise SystemExit(f"the {name} baseline does not write our layout: fix the benchmark first")
        ours_s, base_s = interleave(
            lambda s=standard, e=engine: time_call(lambda: "".join(e.iter_xes(standard=s))),  # type: ignore[misc]
            lambda b=baseline, c=cases: time_call(lambda: b(c)),  # type: ignore[misc]
            args.rounds,
        )
        rows.append(row(f"XES export, {name} layout, full escaping ({args.events:,} events)", ours_s, base_s,
                        None if unique else 1.0))
    print(f"XES export vs an unescaped writer of the same layout, {args.rounds} interleaved rounds (CPU time,"
          f" medians), load average {os.getloadavg()[0]:.1f}")
    print_table(rows, "unescaped writer")


if __name__ == "__main__":
    main()
