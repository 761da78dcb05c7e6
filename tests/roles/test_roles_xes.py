import io
import random
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.roles import ProcessEvent, ProcessMiningEngine
from llmteam.roles._xes import _ILLEGAL, COST_KEY, DURATION_KEY, XESChunks, _typed, escape, iter_xes
from llmteam.roles._xes_import import import_xes
from llmteam.roles._xes_time import UTCText

from .._support.zones import local_zone

T0 = datetime(2024, 1, 1, 12, 0, 0)
_TZ = "America/New_York"  # naive times are local time: a zone with an offset, summer time and a repeated hour


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
    utc = UTCText()
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


class _Stamp(datetime):
    """A datetime subclass whose own isoformat returns markup: timestamps are written unescaped, as digits."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return '"/><injected/>'


_texts = st.sampled_from(["a", "b", 'x&"<y>', "tab\there", "\x00", "\ud800", _Sneaky("s")]) | st.text(max_size=4)
# times from a start: several of one minute or hour, across hours, the last microsecond of an hour, whole seconds;
# starts before the repeated and the skipped hour of New York and Adelaide (half-hour offsets) in 2024
_offsets = (st.integers(0, 150_000_000) | st.integers(0, 3 * 3_600_000_000)
            | st.sampled_from([3_599_999_999, 3_600_000_000, 59_999_999, 1, 0, 3_000_000]))
_starts = st.sampled_from([T0, datetime(2024, 11, 3, 0, 30), datetime(2024, 3, 10, 1, 30), datetime(2024, 4, 7, 1),
                           datetime(2024, 10, 6, 1, 10)])
_stamps = st.builds(lambda t, us, tz, fold: (t + timedelta(microseconds=us)).replace(tzinfo=tz, fold=fold), _starts,
                    _offsets, st.sampled_from([None, None, timezone.utc, timezone(timedelta(hours=-3, minutes=-30))]),
                    st.sampled_from([0, 0, 1])) | st.builds(_Stamp.fromtimestamp, st.integers(0, 2**31)) \
           | st.sampled_from([datetime(1850, 1, 1, 12, 0, 5, 17), datetime(1850, 1, 1, 12, 0, 6)])  # LMT: -4:56:02
_values = (st.sampled_from([True, 1, 1.0, 0.0, -0.0, 0, False]) | _texts | st.integers() | st.floats()
           | st.lists(st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(_texts, _texts, _texts, st.dictionaries(_texts | st.sampled_from([1, True]), _values, max_size=3),
                  st.sampled_from([0, 1, 2, True, 1.0, -0.0, 2**70]), st.booleans(), _texts, _stamps),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
    st.sampled_from(["UTC", _TZ, "Asia/Kolkata", "Australia/Adelaide"]),
)
def test_trace_writer_equals_escape_every_value_oracle(
    rows: list[tuple[str, str, str, dict, int, bool, str, datetime]], standard: bool, zone: str
) -> None:
    """Remembering rendered parts and timestamps never changes a byte of what the plain writer would write."""
    chunks = XESChunks(standard)
    events = [
        ProcessEvent(eid, stamp, act, res, "case", lc, dur, 0.5 if cost else 0.0, attrs)
        for act, res, lc, attrs, dur, cost, eid, stamp in rows
    ]
    with local_zone(zone):
        for trace in (events, sorted(events, key=lambda e: (e.timestamp.tzinfo is None, e.timestamp))):
            for _ in range(2):  # the second pass is served from what the first one remembered
                text = chunks.trace("case", trace)
                assert text == _reference_trace("case", trace, standard)
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


@pytest.mark.parametrize("tz", [None, timezone.utc, timezone(timedelta(hours=2))])
def test_a_datetime_subclass_cannot_write_markup_through_its_isoformat(tz: timezone | None) -> None:
    stamp = _Stamp(2024, 1, 1, 12, 0, 0, tzinfo=tz)
    e = ProcessMiningEngine()
    e.record_event(ProcessEvent("1", stamp, "a", "r", "c", attributes={"when": stamp}))
    text = e.export_xes(standard=True)
    assert "<injected/>" not in text
    root = ET.fromstring(text)
    assert len(root.findall(".//{http://www.xes-standard.org/}event")) == 1


# -- byte-identical output: a fixed hostile log against the documents the writer produced before it was sped up --
_HOSTILE = ["a", "Z", "<", ">", "&", '"', "'", "\t", "\n", "\r", "\x00", "\x01", "\x1f", "\x7f", "\ud800", "\udfff",
            "\ufffe", "\uffff", "\U0001f600", "\u2028", "é", " ", "&amp;", "]]>"]
GOLDEN = Path(__file__).parent / "golden"


def _hostile_cases() -> list[tuple[str, list[ProcessEvent]]]:
    """A fixed log of hostile strings, repeated and fresh values of every type, and timestamps of every kind."""
    rng = random.Random(1849)

    def text(pool: int = 0) -> str:
        """A fresh hostile string, or (``pool``) one of the first ``pool`` of them, so that parts repeat."""
        if pool:
            return pools[rng.randrange(pool)]
        return "".join(rng.choices(_HOSTILE, k=rng.randrange(0, 6)))

    pools = [text() + "x" for _ in range(5)]

    ny = ZoneInfo(_TZ)
    stamps = [datetime(2024, 3, 1, 9, 0, 0), datetime(2024, 3, 1, 9, 0, 59, 999_999), datetime(2024, 3, 1, 9, 1),
              datetime(2024, 3, 10, 2, 30, 5), datetime(2024, 11, 3, 1, 30, 7, 5),
              datetime(2024, 11, 3, 1, 30, 8, fold=1), datetime(2024, 6, 1, 0, 0, 1, 10, tzinfo=timezone.utc),
              datetime(2024, 6, 1, 0, 0, 2, tzinfo=timezone(timedelta(hours=5, minutes=30))),
              datetime(2024, 11, 3, 1, 30, 9, fold=1, tzinfo=ny), datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc),
              _Stamp(2024, 3, 1, 9, 0, 3), datetime(1850, 1, 1, 12, 0, 5, 17), datetime(1850, 1, 1, 12, 0, 6),
              datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc)]
    values: list[object] = [True, False, 0, 1, -5, 2**70, 1.0, -0.0, 0.5, float("nan"), float("inf"), None, [1, 2],
                            datetime(2024, 1, 2, 3, 4, 5), datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
                            _Sneaky("s"), "plain"]
    cases = []
    for c in range(8):
        events = []
        t = datetime(2024, 3, 1, 9, 0, 0) + timedelta(minutes=37 * c)
        for i in range(12):
            t += timedelta(microseconds=rng.choice([0, 1, 999_999, 10**6, 20 * 10**6, 61 * 10**6, 900 * 10**6]))
            stamp = rng.choice(stamps) if rng.random() < 0.25 else t
            attrs: dict[object, object] = {}
            for _ in range(rng.randrange(0, 4)):
                key = text(4) if rng.random() < 0.8 else rng.choice([1, True, _Sneaky("k"), text()])
                attrs[key] = rng.choice(values) if rng.random() < 0.4 else text(3) if rng.random() < 0.5 else text()
            events.append(ProcessEvent(
                text() if i % 3 == 0 else f"id-{c}-{i}", stamp, text(5), text(4), f"case{c}", text(3),
                rng.choice([0, 0, 7, 100, True, 2.5, -0.0, 2**70]), rng.choice([0.0, 0.0, 1.25, -0.0]), attrs))
        cases.append((text() + str(c), events))
    return cases


@pytest.mark.parametrize(("standard", "name"), [(False, "hostile.compact.xes"), (True, "hostile.ieee.xes")])
def test_a_hostile_log_is_written_byte_for_byte_as_before(standard: bool, name: str) -> None:
    # the golden documents were written by the writer of commit 55b5aa2, before timestamps were composed per
    # minute and each trace joined once: hostile strings of every kind, values of every type, timestamps naive
    # (local time, with summer time and a repeated hour), UTC, other zones and a datetime subclass
    cases = _hostile_cases()
    with local_zone(_TZ):
        doc = "".join(iter_xes(cases, standard))
        chunks = XESChunks(standard)
        first = [chunks.trace(c, evs) for c, evs in cases]
        second = [chunks.trace(c, evs) for c, evs in cases]  # served from what the first pass remembered
    assert doc.encode("utf-8") == (GOLDEN / name).read_bytes()
    assert first == second and chunks.preamble + "".join(first) + chunks.footer == doc
    ns = "{http://www.xes-standard.org/}" if standard else ""
    assert len(ET.fromstring(doc.encode("utf-8")).findall(f".//{ns}event")) == sum(len(evs) for _, evs in cases)


@pytest.mark.parametrize("standard", [False, True])
def test_a_hostile_log_is_read_back_by_our_importer(standard: bool) -> None:
    # what the importer rightly refuses made plain: durations of other types or beyond 64 bits (not written as
    # int) and the datetime subclass whose isoformat is markup (written escaped in the compact layout)
    cases = [(c, [replace(e, duration_ms=e.duration_ms if type(e.duration_ms) is int and e.duration_ms < 2**63
                          else 3, timestamp=datetime.fromisoformat(datetime.isoformat(e.timestamp)))
                  for e in evs]) for c, evs in _hostile_cases()]
    with local_zone(_TZ):
        doc = "".join(iter_xes(cases, standard))
        assert doc == "".join([XESChunks(standard).preamble, *(_reference_trace(c, evs, standard) for c, evs in cases),
                               XESChunks(standard).footer])
    written = [e for _, evs in cases for e in evs]
    read = import_xes(doc)
    assert [e.activity for e in read] == [_ILLEGAL.sub("\ufffd", e.activity) for e in written]
    assert [e.resource for e in read] == [_ILLEGAL.sub("\ufffd", e.resource) for e in written]
    assert [e.lifecycle for e in read] == [_ILLEGAL.sub("\ufffd", e.lifecycle) for e in written]
    if standard:  # every timestamp read back as the instant written (naive ones were local time)
        with local_zone(_TZ):
            utc = UTCText()
            assert [e.timestamp for e in read] == [datetime.fromisoformat(utc(e.timestamp)) for e in written]


@pytest.mark.parametrize("zone", [_TZ, "Australia/Adelaide", "Asia/Kolkata", "Europe/London"])
@pytest.mark.parametrize("standard", [False, True])
def test_times_around_the_changes_of_summer_time_are_written_exactly(zone: str, standard: bool) -> None:
    # every 7 min 0.25 s for 7 hours across each change of 2024 (New York, Europe, Adelaide's half-hour offsets),
    # each time also with fold=1; in order, reversed and shuffled, so each hour is entered from both sides
    stamps = []
    for start in (datetime(2024, 3, 9, 22), datetime(2024, 3, 30, 22), datetime(2024, 4, 6, 22),
                  datetime(2024, 10, 5, 22), datetime(2024, 10, 26, 22), datetime(2024, 11, 2, 22)):
        for i in range(60):
            t = start + i * timedelta(minutes=7, microseconds=250_000)
            stamps += [t, t.replace(fold=1)]
    events = [ProcessEvent(str(i), t, "a", "r", "c") for i, t in enumerate(stamps)]
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    with local_zone(zone):
        for trace in (events, events[::-1], shuffled):
            assert XESChunks(standard).trace("c", trace) == _reference_trace("c", trace, standard)
