"""Bounded team-file YAML: same result as yaml.safe_load for ordinary documents, refusals for bombs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.team import TeamConfigError
from llmteam.team._yaml import MAX_DEPTH, MAX_TEAM_FILE_BYTES, MIN_EXPANDED, parse_team_yaml, read_team_text

plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.text("abc xyz", max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text("kqz", min_size=1, max_size=4),
                                                                          inner, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(plain)
def test_ordinary_documents_parse_like_safe_load(value: Any) -> None:
    text = yaml.safe_dump(value)
    assert parse_team_yaml(text, "t") == yaml.safe_load(text)


def test_aliases_are_fine_within_the_expansion_budget() -> None:
    text = "m: &m {provider: scripted, default: ok}\n" + "".join(f"a{i}: *m\n" for i in range(50))
    assert parse_team_yaml(text, "t")["a49"] == {"provider": "scripted", "default": "ok"}


def test_expansion_budget_boundary() -> None:
    leaf = "x" * 1000
    ok_refs = MIN_EXPANDED // 1100  # each reference costs its 1000 characters plus a node
    text = f"s: &s {leaf}\nl: [" + ", ".join(["*s"] * ok_refs) + "]\n"
    assert len(parse_team_yaml(text, "t")["l"]) == ok_refs
    text = f"s: &s {leaf}\nl: [" + ", ".join(["*s"] * (ok_refs * 2)) + "]\n"
    with pytest.raises(TeamConfigError, match="alias"):
        parse_team_yaml(text, "t")


def test_depth_limit_and_recursion() -> None:
    assert parse_team_yaml("a: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2), "t")
    with pytest.raises(TeamConfigError, match="nested too deeply"):
        parse_team_yaml("a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "t")
    with pytest.raises(TeamConfigError, match="recursive"):
        parse_team_yaml("a: &a {b: *a}\n", "t")


def test_bad_scalars_and_syntax_are_config_errors() -> None:
    with pytest.raises(TeamConfigError, match="cannot be read"):
        parse_team_yaml("n: " + "9" * 5000 + "\n", "t")
    with pytest.raises(TeamConfigError, match="not valid YAML"):
        parse_team_yaml("a: [\n", "t")
    assert parse_team_yaml("", "t") is None


def test_reading_files_is_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_TEAM_FILE_BYTES + 1))
    with pytest.raises(TeamConfigError, match="larger than"):
        read_team_text(big, "big.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"team: \xff\n")
    with pytest.raises(TeamConfigError, match="not UTF-8"):
        read_team_text(binary, "bin.yaml")
    with pytest.raises(TeamConfigError, match="cannot read"):
        read_team_text(tmp_path / "missing.yaml", "missing.yaml")
