"""Attacks on the XES importer (issue 11, item 13): a huge attribute value must parse in linear time, and bad
number fields must end in the module's XESImportError (never ValueError/OverflowError or a CLI traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmteam.cli import app
from llmteam.roles import XESImportError, _xes_import, import_xes

EVENT = """<event><string key="concept:name" value="a"/><date key="time:timestamp" value="2024-01-01T00:00:00+00:00"/>
{extra}</event>"""


def document(extra: str) -> str:
    return f'<log xmlns="http://www.xes-standard.org/"><trace><string key="concept:name" value="c"/>' \
           f"{EVENT.format(extra=extra)}</trace></log>"


@pytest.mark.parametrize("field, tag, raw", [
    ("llmteam:duration_ms", "float", "nan"),
    ("llmteam:duration_ms", "float", "inf"),
    ("llmteam:duration_ms", "float", "-Infinity"),
    ("llmteam:duration_ms", "float", "1e400"),
    ("llmteam:duration_ms", "string", "soon"),
    ("llmteam:duration_ms", "int", "9" * 5000),
    ("cost:total", "float", "nan"),
    ("cost:total", "float", "inf"),
    ("cost:total", "string", "cheap"),
    ("some:count", "int", "12.5"),
    ("some:count", "int", "9" * 5000),
    ("some:ratio", "float", "half"),
])
def test_bad_number_fields_raise_the_import_error(field: str, tag: str, raw: str) -> None:
    text = document(f'<{tag} key="{field}" value="{raw}"/>')
    with pytest.raises(XESImportError, match=field) as info:
        import_xes(text)
    assert len(str(info.value)) < 400  # the offending value is quoted, bounded


def test_mine_metrics_reports_a_bad_number_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.xes"
    path.write_text(document('<float key="llmteam:duration_ms" value="inf"/>'), encoding="utf-8")
    result = CliRunner().invoke(app, ["mine", "metrics", "--input", str(path)])
    assert result.exit_code == 1, result.output
    assert "llmteam:duration_ms" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def _parse_calls(path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    calls = 0
    real = _xes_import._Reader.feed

    def counting(self: _xes_import._Reader, data: str | bytes, final: bool = False) -> list:  # type: ignore[type-arg]
        nonlocal calls
        calls += 1
        return real(self, data, final)

    monkeypatch.setattr(_xes_import._Reader, "feed", counting)
    (event,) = import_xes(path)
    assert len(event.attributes["blob"]) > 0
    return calls


def test_one_huge_attribute_value_is_fed_to_expat_a_logarithmic_number_of_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # expat re-scans an unfinished token from its start at every feed, so feeding a value that spans k chunks
    # costs O(k * size): quadratic. The reader must grow its reads while a token stays unfinished.
    monkeypatch.setattr(_xes_import, "_CHUNK", 1024)
    counts = {}
    for factor in (1, 8):
        path = tmp_path / f"huge{factor}.xes"
        path.write_text(document(f'<string key="blob" value="{"x" * (128 * 1024 * factor)}"/>'), encoding="utf-8")
        counts[factor] = _parse_calls(path, monkeypatch)
    # fixed 1 KiB reads would take ~130 and ~1030 feeds; geometric growth adds about log2(8) = 3
    assert counts[8] <= counts[1] + 4, counts
    assert counts[1] <= 20, counts
