"""Everything a process-mining engine can tell about its log, for tests that compare two engines fed alike."""

from __future__ import annotations

from llmteam.roles import ProcessMiningEngine


def mined(e: ProcessMiningEngine) -> dict[str, object]:
    """The log (ids, times, cases, activities, lifecycles), counts, model, metrics, DFGs, variants, bottlenecks,
    both XES layouts and the process map."""
    return {
        "events": [(x.event_id, x.timestamp, x.case_id, x.activity, x.lifecycle) for x in e.get_events()],
        "counts": (e.get_event_count(), e.get_case_count()),
        "model": e.discover_model(),
        "metrics": e.calculate_metrics(),
        "dfg": e.directly_follows_graph(),
        "dfg_all": e.directly_follows_graph(lifecycles=None),
        "variants": e.get_variants(),
        "service": e.find_bottlenecks("service", top=None),
        "waiting": e.find_bottlenecks("waiting", top=None),
        "xes": e.export_xes(),
        "xes_standard": e.export_xes(standard=True),
        "map": e.process_map("mermaid"),
    }
