import io
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.roles import ProcessEvent, ProcessMiningEngine
from llmteam.roles._xes import _UTC, COST_KEY, DURATION_KEY, XESChunks, _typed, escape

T0 = datetime(2024, 1, 1, 12, 0, 0)


def test_compact_layout_exactly() -> None:
    e = ProcessMiningEngine()
    attrs = {"custom_field": "custom_value"}
    e.record_event(ProcessEvent("2", T0 + timedelta(seconds=1), "b", "bob", "c1", attributes=attrs))
    e.record_event(ProcessEvent("1", T0, "a", "ann", "c1", "start"))
    assert e.export_xes() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<log>\n"
        "  <trace>\n"
        '    <string key="concept:name" value="c1"/>\n'
        "    <event>\n"
        '      <string key="concept:name" value="a"/>\n'
        '      <string key="org:resource" value="ann"/>\n'
        '      <date key="time:timestamp" value="2024-01-01T12:00:00"/>\n'
        '      <string key="lifecycle:transition" value="start"/>\n'
        "    </event>\n"
        "    <event>\n"
        '      <string key="concept:name" value="b"/>\n'
        '      <string key="org:resource" value="bob"/>\n'
        '      <date key="time:timestamp" value="2024-01-01T12:00:01"/>\n'
        '      <string key="lifecycle:transition" value="complete"/>\n'
        '      <string key="custom_field" value="custom_value"/>\n'
        "    </event>\n"
        "  </trace>\n"
        "</log>\n"
    )


def test_escape() -> None:
    assert escape('a&b<c>"d') == "a&amp;b&lt;c&gt;&quot;d"
    assert escape("x\x00y\ud800\n") == "x\ufffdy\ufffd&#10;"
    assert escape("plain") == "plain"


@settings(max_examples=100, deadline=None)
@given(st.text(), st.text(), st.dictionaries(st.text(), st.text(), max_size=3), st.booleans())
def test_always_well_formed(text: str, case: str, attrs: dict, standard: bool) -> None:
    e = ProcessMiningEngine()
    e.record_event(ProcessEvent(text, T0, text, text, case, text, 1, 0.5, attrs))
    root = ET.fromstring(e.export_xes(standard=standard).encode("utf-8"))
    assert root.tag.endswith("log")
    if not standard:
        assert root.attrib == {}


def test_standard_layout_is_ieee_xes_and_read_by_rustxes(tmp_path: Path) -> None:
    e = ProcessMiningEngine()
    for i in range(3):
        e.record_event(ProcessEvent(f"id{i}", datetime(2024, 1, 1, 12, i, tzinfo=timezone(timedelta(hours=2))),
                                    f"act{i}", "bot", "case&1", "complete", 5, 1.5, {"n": i, "ok": True}))
    text = e.export_xes(standard=True)
    root = ET.fromstring(text)
    ns = "{http://www.xes-standard.org/}"
    assert root.attrib["xes.version"] == "1849-2016"
    assert {x.attrib["prefix"] for x in root.findall(f"{ns}extension")} >= {"concept", "org", "time", "lifecycle"}
    assert {g.attrib["scope"] for g in root.findall(f"{ns}global")} == {"trace", "event"}
    assert root.findall(f"{ns}classifier")
    assert '<date key="time:timestamp" value="2024-01-01T10:00:00+00:00"/>' in text
    assert '<int key="n" value="2"/>' in text and '<boolean key="ok" value="true"/>' in text
    path = tmp_path / "log.xes"
    assert e.write_xes(path, standard=True) == 3
    rustxes = pytest.importorskip(
        "rustxes", reason="the XES interop oracle is in the 'interop' extra: pip install -e '.[interop]'")
    df, log_attrs = rustxes.import_xes(str(path))
    assert df.shape[0] == 3
    assert list(df["concept:name"]) == ["act0", "act1", "act2"]
    assert set(df["case:concept:name"]) == {"case&1"}
    assert list(df["org:resource"]) == ["bot"] * 3


def test_streaming_to_file_object_and_chunks() -> None:
    e = ProcessMiningEngine()
    for i in range(10):
        e.record_event(ProcessEvent(str(i), T0, "a", "r", f"c{i}"))
    chunks = list(e.iter_xes())
    assert len(chunks) == 12 and "".join(chunks) == e.export_xes()
    buf = io.StringIO()
    assert e.write_xes(buf) == 10 and buf.getvalue() == e.export_xes()


class _Sneaky(str):
    """A str subclass whose str() differs from its characters: the writer must write what it escaped."""

    def __str__(self) -> str:
        return '"/><injected/>'


def _chars(value: object) -> str:
    """A str (subclasses too) is written as the characters it holds, anything else as str(value)."""
    return value if isinstance(value, str) else str(value)


def _reference_trace(case_id: str, events: list[ProcessEvent], standard: bool) -> str:
    """The obvious writer: every value escaped where it is written, nothing remembered between events."""
    utc = _UTC()
    out = ["  <trace>\n", f'    <string key="concept:name" value="{escape(str(case_id))}"/>\n']
    for e in events:
        stamp = utc(e.timestamp) if standard else escape(e.timestamp.isoformat())
        out.append(
            "    <event>\n"
            f'      <string key="concept:name" value="{escape(e.activity)}"/>\n'
            f'      <string key="org:resource" value="{escape(e.resource)}"/>\n'
            f'      <date key="time:timestamp" value="{stamp}"/>\n'
            f'      <string key="lifecycle:transition" value="{escape(e.lifecycle)}"/>\n'
        )
        if standard:
            out.append(f'      <id key="identity:id" value="{escape(e.event_id)}"/>\n')
            if e.duration_ms:
                out.append(f"      {_typed(DURATION_KEY, e.duration_ms, utc)}\n")
            if e.cost:
                out.append(f"      {_typed(COST_KEY, float(e.cost), utc)}\n")
            out += [f"      {_typed(_chars(k), v, utc)}\n" for k, v in e.attributes.items()]
        else:
            out += [f'      <string key="{escape(_chars(k))}" value="{escape(_chars(v))}"/>\n'
                    for k, v in e.attributes.items()]
        out.append("    </event>\n")
    out.append("  </trace>\n")
    return "".join(out)


_texts = st.sampled_from(["a", "b", 'x&"<y>', "tab\there", "\x00", "\ud800", _Sneaky("s")]) | st.text(max_size=4)
_values = (st.sampled_from([True, 1, 1.0, 0.0, -0.0, 0, False]) | _texts | st.integers() | st.floats()
           | st.lists(st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(_texts, _texts, _texts, st.dictionaries(_texts | st.sampled_from([1, True]), _values, max_size=3),
                  st.sampled_from([0, 1, 2, True, 1.0, -0.0, 2**70]), st.booleans(), _texts),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
)
def test_trace_writer_equals_escape_every_value_oracle(
    rows: list[tuple[str, str, str, dict, int, bool, str]], standard: bool
) -> None:
    """Remembering rendered parts between events never changes a byte of what the plain writer would write."""
    chunks = XESChunks(standard)
    events = [
        ProcessEvent(eid, T0 + timedelta(seconds=i), act, res, "case", lc, dur, 0.5 if cost else 0.0, attrs)
        for i, (act, res, lc, attrs, dur, cost, eid) in enumerate(rows)
    ]
    for _ in range(2):  # the second pass is served from what the first one remembered
        text = chunks.trace("case", events)
        assert text == _reference_trace("case", events, standard)
        assert "<injected/>" not in text


@pytest.mark.parametrize("standard", [False, True])
def test_equal_values_of_different_types_or_signs_are_each_written_as_themselves(standard: bool) -> None:
    # True == 1 == 1.0 and 0.0 == -0.0, yet each is written differently: remembering the rendered attributes of
    # an earlier event must never hand one value's text to another that merely compares equal to it
    rows: list[dict] = [{"x": True}, {"x": 1}, {"x": 1.0}, {"x": 0.0}, {"x": -0.0}, {"x": "s"}, {"x": _Sneaky("s")},
                        {1: "k"}, {True: "k"}, {_Sneaky("k"): "v"}, {"k": "v"},
                        {"a": 5}, {"a": str, 5: int}, {"a": "b", "c": "d"}, {"a": "c", "b": "d"}]
    durations = [1, True, 1.0, 0, 0.0, -0.0, 2**70, 1]
    events = [ProcessEvent(f"id{i}", T0, "a", "r", "case", "complete", durations[i % len(durations)], 0.0, attrs)
              for i, attrs in enumerate(rows)]
    chunks = XESChunks(standard)
    for _ in range(2):
        assert chunks.trace("case", events) == _reference_trace("case", events, standard)


class _Stamp(datetime):
    """A datetime subclass whose own isoformat returns markup: timestamps are written unescaped, as digits."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return '"/><injected/>'


@pytest.mark.parametrize("tz", [None, timezone.utc, timezone(timedelta(hours=2))])
def test_a_datetime_subclass_cannot_write_markup_through_its_isoformat(tz: timezone | None) -> None:
    stamp = _Stamp(2024, 1, 1, 12, 0, 0, tzinfo=tz)
    e = ProcessMiningEngine()
    e.record_event(ProcessEvent("1", stamp, "a", "r", "c", attributes={"when": stamp}))
    text = e.export_xes(standard=True)
    assert "<injected/>" not in text
    root = ET.fromstring(text)
    assert len(root.findall(".//{http://www.xes-standard.org/}event")) == 1
