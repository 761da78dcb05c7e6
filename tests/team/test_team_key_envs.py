"""The operator's allow-list of environment variables a team file may name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmteam.team import TeamConfigError
from llmteam.team._key_envs import DEFAULT_API_KEY_ENVS, allowed, fallback_key, key_env_patterns, resolve_key

names = st.from_regex(r"[A-Z_][A-Z0-9_]{0,30}", fullmatch=True)


@pytest.mark.parametrize("name, ok", [
    ("LLMTEAM_API_KEY", True), ("OPENAI_API_KEY", True), ("X_API_KEY", True), ("API_KEY", False),
    ("openai_api_key", False), ("LLMTEAM_AUDIT_HMAC_KEY", False), ("LLMTEAM_LICENSE_API_KEY", False),
    ("LLMTEAM_AUDIT_API_KEY", False), ("HOME", False), ("OPENAI_API_KEY_2", False),
])
def test_default_list(name: str, ok: bool) -> None:
    assert allowed(name, DEFAULT_API_KEY_ENVS) is ok


@given(name=names, patterns=st.lists(st.sampled_from(["*", "LLMTEAM_*", "*_KEY", "LLMTEAM_AUDIT_*"]), max_size=3))
def test_audit_and_licence_secrets_are_never_allowed(name: str, patterns: list[str]) -> None:
    if name.startswith(("LLMTEAM_AUDIT_", "LLMTEAM_LICENSE_")):
        assert not allowed(name, tuple(patterns))


def test_patterns_are_validated() -> None:
    assert key_env_patterns(None) == DEFAULT_API_KEY_ENVS
    assert key_env_patterns(["CORP_TOKEN", "*_KEY"]) == ("CORP_TOKEN", "*_KEY")
    for bad in (["a b"], ["x" * 200], [3], "CORP_TOKEN"):
        with pytest.raises(TeamConfigError, match="api_key_envs"):
            key_env_patterns(bad)  # type: ignore[arg-type]


def test_resolve_and_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORP_TOKEN", "corp")
    monkeypatch.setenv("OPENAI_API_KEY", "sk")
    monkeypatch.delenv("LLMTEAM_API_KEY", raising=False)
    assert resolve_key("CORP_TOKEN", "llm", ("CORP_*",)) == "corp"
    with pytest.raises(TeamConfigError, match="not an environment variable name"):
        resolve_key("A-B", "llm", ("*",))
    assert fallback_key(DEFAULT_API_KEY_ENVS) == "sk"
    assert fallback_key(("CORP_TOKEN",)) == ""
