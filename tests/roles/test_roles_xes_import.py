import itertools
import re
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.roles import (
    ProcessEvent,
    ProcessMiningEngine,
    XESImportError,
    _xes_import,
    _xes_scan,
    import_xes,
    iter_xes_events,
)

xml_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff").filter(
    lambda c: c in "\t\n\r" or ord(c) >= 0x20), max_size=20)
values = st.one_of(xml_text, st.integers(-(2**63), 2**63 - 1), st.booleans(),
                   st.floats(allow_nan=False, allow_infinity=False))
stamps = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc))
event = st.builds(
    ProcessEvent, event_id=xml_text, timestamp=stamps, activity=xml_text, resource=xml_text, case_id=xml_text,
    lifecycle=xml_text, duration_ms=st.integers(0, 10**9), cost=st.floats(0, 1e6),
    attributes=st.dictionaries(xml_text.filter(lambda k: ":" not in k), values, max_size=4),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(event, max_size=8))
def test_standard_export_import_round_trips(events: list[ProcessEvent]) -> None:
    e = ProcessMiningEngine()
    e.record_events(events)
    text = e.export_xes(standard=True)
    back = import_xes(text)
    assert back == e.get_events()
    again = ProcessMiningEngine()
    again.record_events(back)
    assert again.export_xes(standard=True) == text


def test_compact_layout_imports_with_string_attributes(tmp_path: Path) -> None:
    e = ProcessMiningEngine()
    e.record_event(ProcessEvent("x", datetime(2024, 1, 1), "a", "r", "c", "start", 0, 0.0, {"k": 3}))
    path = tmp_path / "log.xes"
    e.write_xes(path)
    (ev,) = list(iter_xes_events(path))
    assert (ev.activity, ev.resource, ev.case_id, ev.lifecycle, ev.timestamp) == (
        "a", "r", "c", "start", datetime(2024, 1, 1))
    assert ev.attributes == {"k": "3"}
    assert ProcessMiningEngine().import_xes(str(path)) == 1


def test_foreign_xes_with_nested_attributes_and_z_dates() -> None:
    text = """<?xml version="1.0"?><log xmlns="http://www.xes-standard.org/"><trace>
      <string key="concept:name" value="T1"/>
      <event><string key="concept:name" value="A"><string key="meta" value="ignored"/></string>
        <date key="time:timestamp" value="2020-01-01T00:00:00.000Z"/>
        <list key="l"><values><string key="x" value="y"/></values></list>
        <float key="f" value="1.5"/></event></trace></log>"""
    (ev,) = import_xes(text)
    assert ev.activity == "A" and ev.case_id == "T1" and ev.lifecycle == "complete"
    assert ev.timestamp == datetime(2020, 1, 1, tzinfo=timezone.utc) and ev.attributes == {"f": 1.5}


def test_a_comment_after_an_empty_trace_cannot_put_a_stray_event_in_it() -> None:
    """The reader sees what an XML parser sees. An empty <trace /> followed by a comment holding "=' '>" was once
    read as a start tag with an attribute (its end taken for an attribute name), so an event outside any trace,
    which the reader skips, was imported as the phantom trace's."""
    event = ("<event><string key='concept:name' value='A'/><date key='time:timestamp' value='2020-01-01T00:00:00Z'/>"
             "</event>")
    assert import_xes(f"<log><trace />{event}</log>") == []
    assert import_xes(f"<log><trace /><!--=' '>-->{event}</log>") == []


@pytest.mark.parametrize("bad, match", [
    ("<log><trace><event><string key='concept:name' value='a'/></event></trace></log>", "no time:timestamp"),
    ("<log><trace>", "well-formed"),
    ('<!DOCTYPE log [<!ENTITY x "y">]><log/>', "DOCTYPE"),
    ("<nolog/>", "no <log>"),
    ("<log><trace><event><date key='time:timestamp' value='yesterday'/></event></trace></log>", "invalid XES date"),
    ("<log><trace><event><int key='n' value='x'/></event></trace></log>", "not a valid XES int"),
    ("/does/not/exist.xes", "neither XES text"),
])
def test_bad_input_is_a_clear_error(bad: str, match: str) -> None:
    with pytest.raises(XESImportError, match=match):
        import_xes(bad)


def test_value_before_key_extra_xml_attributes_and_prefixed_names_are_read() -> None:
    text = """<log xmlns:x="http://www.xes-standard.org/"><x:trace><x:string value="T" key="concept:name"/>
      <x:event><string value="A" key="concept:name" note="n"/><x:date key="time:timestamp"
        value="2020-01-01T00:00:00+00:00"/><x:int key="n" value="3"/></x:event></x:trace></log>"""
    (ev,) = import_xes(text)
    assert (ev.case_id, ev.activity, ev.attributes) == ("T", "A", {"n": 3})


def test_many_distinct_element_names_are_remembered_within_a_bound_and_still_read() -> None:
    junk = "".join(f"<p{i}:junk xmlns:p{i}='urn:{i}'/>" for i in range(3000))
    text = (f"<log>{junk}<trace><string key='concept:name' value='c'/>{junk}<event>"
            "<date key='time:timestamp' value='2020-01-01T00:00:00'/></event></trace></log>")
    reader = _xes_import._Reader()
    (ev,) = reader.feed(text, final=True)
    assert ev.case_id == "c" and len(reader._kinds) <= _xes_import._MAX_TAGS


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
any_text = st.text(max_size=12)  # every code point: controls, surrogates, U+FFFE/U+FFFF, markup characters


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(any_text, any_text, any_text, any_text, any_text, st.dictionaries(
    any_text.filter(lambda k: ":" not in k), any_text, max_size=3)), min_size=1, max_size=6), st.booleans())
def test_any_unicode_round_trips_with_characters_xml_cannot_carry_replaced(rows: list, standard: bool) -> None:
    # XML 1.0 cannot carry most control characters, surrogates, U+FFFE and U+FFFF: the writer replaces each by
    # U+FFFD; every other character (tabs, CR, LF, quotes, <, &) comes back exactly
    e = ProcessMiningEngine()
    for i, (eid, act, res, case, lc, attrs) in enumerate(rows):
        e.record_event(ProcessEvent(eid, datetime(2024, 1, 1, 0, 0, i, tzinfo=timezone.utc), act, res, case, lc,
                                    attributes=attrs))
    clean = _XML_ILLEGAL.sub
    back = import_xes(e.export_xes(standard=standard))
    original = e.get_events()
    assert len(back) == len(original)
    for got, sent in zip(back, original, strict=True):
        assert (got.activity, got.resource, got.case_id, got.lifecycle) == tuple(
            clean("\ufffd", v) for v in (sent.activity, sent.resource, sent.case_id, sent.lifecycle))
        assert got.attributes == {clean("\ufffd", k): clean("\ufffd", v) for k, v in sent.attributes.items()}
        if standard:
            assert got.event_id == clean("\ufffd", sent.event_id)


def _read(doc: str, pattern: re.Pattern[str], cuts: list[int]) -> list[ProcessEvent] | str:
    """The events one reader gives for ``doc`` fed in pieces, or its error; event ids drawn from a counter."""
    bounds = sorted({0, len(doc), *(c % (len(doc) + 1) for c in cuts)})
    reader = _xes_import._Reader()
    reader.token = pattern
    ids = itertools.count()
    out: list[ProcessEvent] = []
    with mock.patch.object(_xes_import.uuid, "uuid4", lambda: f"id-{next(ids)}"):
        try:
            for a, b in zip(bounds, bounds[1:], strict=False):
                out += reader.feed(doc[a:b])
            out += reader.feed("", final=True)
        except XESImportError as exc:
            return str(exc)
    return out


INSERTS = [
    "<!-- <event> -->", '<list key="l"><string key="concept:name" value="inner"/></list>',
    '<string key="llmteam:duration_ms" value="7"/>', '<string key="concept:name" value="dup"/>',
    '<int key="n" value="5"/>', '<event><date key="time:timestamp" value="2024-01-01T00:00:00"/></event>',
    '<trace><string key="concept:name" value="t2"/></trace>', '<x:event a="1"/>', "<event/>", "<![CDATA[</event>]]>",
    '<string key="identity:id" value=""/>', '<float key="cost:total" value="2.5"/>', "<trace/>",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(event, min_size=1, max_size=6), st.booleans(),
       st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(INSERTS)), max_size=4),
       st.lists(st.integers(0, 10**6), max_size=4))
def test_whole_llmteam_events_read_as_their_tags_would(events: list[ProcessEvent], standard: bool,
                                                         inserts: list[tuple[int, str]], cuts: list[int]) -> None:
    # the pattern's whole-event alternative is a shortcut: with it turned off, every event is read tag by tag,
    # and both must give the same events (or the same error), also with foreign markup inserted between any tags
    e = ProcessMiningEngine()
    e.record_events(events)
    doc = e.export_xes(standard=standard)
    inside = [m.end() for m in re.finditer(">", doc) if doc.index("<log") < m.start() < doc.rindex("</log>")]
    for at, markup in inserts:
        pos = inside[at % len(inside)]
        doc = doc[:pos] + markup + doc[pos:]
        inside = [p + len(markup) if p > pos else p for p in inside]
    whole = _read(doc, _xes_scan.TOKEN, cuts)
    assert whole == _read(doc, _xes_scan.token_pattern(whole_events=False), cuts)
    if not inserts:
        assert whole == _read(doc, _xes_scan.TOKEN, []) and isinstance(whole, list) and len(whole) == len(events)


@settings(max_examples=50, deadline=None)
@given(st.lists(event, max_size=8), st.booleans(), st.integers(1, 300))
def test_files_read_in_small_pieces_give_the_same_events(events: list[ProcessEvent], standard: bool,
                                                          chunk: int) -> None:
    e = ProcessMiningEngine()
    e.record_events(events)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.xes"
        e.write_xes(path, standard=standard)
        with mock.patch.object(_xes_import, "_CHUNK", chunk):
            small = import_xes(path)
        whole = import_xes(path)
    if standard:
        assert small == whole == e.get_events()
    else:  # the compact layout carries no event ids: each read draws new ones
        assert [replace(a, event_id="") for a in small] == [replace(b, event_id="") for b in whole]


@pytest.mark.parametrize("encoding", ["utf-16", "iso-8859-1", "utf-8-sig"])
def test_files_in_other_encodings_are_read(tmp_path: Path, encoding: str) -> None:
    e = ProcessMiningEngine()
    stamp = datetime(2024, 1, 1, tzinfo=timezone.utc)
    e.record_event(ProcessEvent("x", stamp, "café", "r", "c", attributes={"k": "é"}))
    text = e.export_xes(standard=True)
    if encoding == "iso-8859-1":
        text = text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    path = tmp_path / "log.xes"
    path.write_bytes(text.encode(encoding))
    assert import_xes(path) == e.get_events()


def test_bytes_that_are_not_the_declared_encoding_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_bytes(b"<log><trace>\xff\xfe</trace></log>")
    with pytest.raises(XESImportError, match="not valid utf-8 text"):
        import_xes(path)


def test_a_lone_surrogate_in_text_is_a_clear_error() -> None:
    with pytest.raises(XESImportError, match="not a Unicode character"):
        import_xes("<log><trace>\ud800</trace></log>")


def test_the_extra_attributes_remembered_stay_within_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_xes_import, "_MAX_EXTRAS", 5)
    e = ProcessMiningEngine()
    stamp = datetime(2024, 1, 1, tzinfo=timezone.utc)
    e.record_events(ProcessEvent(f"e{i}", stamp, "a", "r", "c", attributes={"n": i}) for i in range(50))
    reader = _xes_import._Reader()
    events = reader.feed(e.export_xes(standard=True), final=True)
    assert [ev.attributes for ev in events] == [{"n": i} for i in range(50)] and len(reader._extras) == 5


def _one_value(value: str) -> str:
    return ('<log><trace><event><date key="time:timestamp" value="2024-01-01T00:00:00"/>'
            f'<string key="blob" value="{value}"/></event></trace></log>')


def test_a_value_past_the_token_limit_is_refused_naming_its_element_and_key(tmp_path: Path) -> None:
    # the attack: one huge attribute value, kept whole and re-scanned on every read (200 MiB cost ~1 GiB RSS and
    # 30 s before); now the reader stops once the unfinished tag passes MAX_TOKEN_CHARS
    path = tmp_path / "huge.xes"
    path.write_text(_one_value("A" * (_xes_import.MAX_TOKEN_CHARS + 1)), encoding="utf-8")
    with pytest.raises(XESImportError, match=r"<string> element with key 'blob'.* 16,777,216 characters"):
        import_xes(path)


@pytest.mark.parametrize("token, named", [
    ('<string key="blob" value="{}"/>', "<string> element with key 'blob'"),
    ('<x:junk a="{}"/>', "<x:junk> element"),
    ("<!--{}-->", "a comment"),
    ("<![CDATA[{}]]>", "a CDATA section"),
    ("<?pi {}?>", "a processing instruction"),
])
@pytest.mark.parametrize("as_file", [True, False])
def test_any_unfinished_token_past_the_limit_is_refused_from_text_or_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str, named: str, as_file: bool) -> None:
    monkeypatch.setattr(_xes_import, "MAX_TOKEN_CHARS", 1000)
    monkeypatch.setattr(_xes_import, "_CHUNK", 64)
    doc = "<log><trace>" + token.format("v" * 2000) + "</trace></log>"
    source: str | Path = doc
    if as_file:
        source = tmp_path / "log.xes"
        source.write_text(doc, encoding="utf-8")
    with pytest.raises(XESImportError, match=re.escape(named) + r".* 1,000 characters"):
        import_xes(source)
    # at the limit (the whole token, markup included) it is read
    doc = "<log><trace>" + token.format("v" * (1000 - len(token.format("")))) + "</trace></log>"
    assert import_xes(doc) == []


@settings(max_examples=20, deadline=None)
@given(st.lists(event, min_size=1, max_size=30), st.booleans(), st.integers(1, 200))
def test_a_file_larger_than_the_token_limit_streams_when_each_tag_is_within_it(
        events: list[ProcessEvent], standard: bool, chunk: int) -> None:
    # the limit is on one unfinished tag, never on the document: many events go through whatever the chunk size
    e = ProcessMiningEngine()
    e.record_events(events)
    text = e.export_xes(standard=standard)
    limit = max(len(m) for m in re.findall("<[^<>]*>", text))
    with mock.patch.object(_xes_import, "MAX_TOKEN_CHARS", limit), mock.patch.object(_xes_import, "_CHUNK", chunk):
        assert len(import_xes(text)) == len(events)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 600), st.integers(60, 400), st.integers(1, 300), st.integers(0, 300))
def test_a_token_is_refused_exactly_when_longer_than_the_limit_however_the_reads_fall(
        n: int, limit: int, chunk: int, padding: int) -> None:
    token = f'<string key="k" value="{"v" * n}"/>'
    doc = (f"<log>{' ' * padding}<trace><event><date key='time:timestamp' value='2024-01-01T00:00:00'/>{token}"
           "</event></trace></log>")
    with mock.patch.object(_xes_import, "MAX_TOKEN_CHARS", limit), mock.patch.object(_xes_import, "_CHUNK", chunk):
        if len(token) > limit:
            with pytest.raises(XESImportError, match="key 'k'"):
                import_xes(doc)
        else:
            (ev,) = import_xes(doc)
            assert ev.attributes == {"k": "v" * n}


def _doc(stamp: str = "2024-01-01T00:00:00+00:00", extra: str = "") -> str:
    return ('<log><trace><string key="concept:name" value="c1"/><event><string key="concept:name" value="a"/>'
            f'<date key="time:timestamp" value="{stamp}"/>{extra}</event></trace></log>')


@pytest.mark.parametrize("extra", [
    '<float key="llmteam:duration_ms" value="1e300"/>',  # the review's move: a 301-digit int before
    '<float key="llmteam:duration_ms" value="1e16"/>',
    '<int key="llmteam:duration_ms" value="10000000000000000"/>',
    '<int key="llmteam:duration_ms" value="-10000000000000000"/>',
    '<int key="llmteam:duration_ms" value="9223372036854775808"/>',
    '<string key="llmteam:duration_ms" value="99999999999999999"/>',
])
def test_a_duration_past_sixteen_digits_of_milliseconds_is_refused(extra: str) -> None:
    with pytest.raises(XESImportError, match=r"'llmteam:duration_ms'.*out of range.* 16 digits"):
        ProcessMiningEngine().import_xes(_doc(extra=extra))


@pytest.mark.parametrize("duration", [9_999_999_999_999_999, -9_999_999_999_999_999, 10**16 - 1, 10**17, -(10**17)])
def test_durations_read_whole_and_tag_by_tag_are_bounded_alike(duration: int) -> None:
    e = ProcessMiningEngine()
    e.record_event(ProcessEvent("x", datetime(2024, 1, 1, tzinfo=timezone.utc), "a", "r", "c", duration_ms=duration))
    doc = e.export_xes(standard=True)
    assert _read(doc, _xes_scan.TOKEN, []) == _read(doc, _xes_scan.token_pattern(whole_events=False), [])
    if abs(duration) < 10**16:
        engine = ProcessMiningEngine()
        engine.import_xes(doc)
        assert engine.get_events()[0].duration_ms == duration
        engine.find_bottlenecks()  # what crashed with OverflowError after a 1e300 duration
        engine.process_map("mermaid")
    else:
        with pytest.raises(XESImportError, match="out of range"):
            import_xes(doc)


@pytest.mark.parametrize("stamp", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
@pytest.mark.parametrize("where", ["time:timestamp", "attribute"])
def test_a_date_whose_utc_time_is_out_of_range_is_refused(stamp: str, where: str) -> None:
    # the review's move: the date was accepted, then export_xes(standard=True) failed with "date value out of range"
    doc = _doc(stamp) if where == "time:timestamp" else _doc(extra=f'<date key="when" value="{stamp}"/>')
    with pytest.raises(XESImportError, match=re.escape(repr(stamp)) + ".*UTC"):
        ProcessMiningEngine().import_xes(doc)


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00Z",
                                   "9999-12-31T00:00:00+23:59", "0001-01-01T01:00:00+01:00"])
def test_dates_at_the_ends_of_the_range_that_convert_are_read_and_export(stamp: str) -> None:
    e = ProcessMiningEngine()
    e.import_xes(_doc(stamp, f'<date key="when" value="{stamp}"/>'))
    assert import_xes(e.export_xes(standard=True)) == e.get_events()


def test_an_encoding_python_cannot_decode_with_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "u.xes"
    path.write_bytes(b'<?xml version="1.0" encoding="undefined"?><log/>')  # the review's move: a raw UnicodeError
    with pytest.raises(XESImportError, match="'undefined'"):
        import_xes(path)
