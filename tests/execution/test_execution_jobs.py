from __future__ import annotations

import pytest

from llmteam.execution._jobs import prepare_agents


class Good:
    name = "good"

    async def process(self, data: dict) -> dict:
        return data


class Nameless:
    async def process(self, data: dict) -> None:
        return None


class NoProcess:
    name = "np"

    def __repr__(self) -> str:
        return "<NoProcess np>"


class NotCallable:
    process = 5


def test_names_default_to_unknown() -> None:
    specs = prepare_agents([Good(), Nameless()])
    assert [name for name, _ in specs] == ["good", "unknown"]


@pytest.mark.parametrize("bad", [NoProcess(), NotCallable(), None, "agent"])
def test_missing_process_names_index_and_repr(bad: object) -> None:
    with pytest.raises(TypeError) as info:
        prepare_agents([Good(), bad])
    msg = str(info.value)
    assert "agents[1]" in msg and repr(bad)[:15] in msg and "process" in msg


@pytest.mark.parametrize("agents", [None, 5, "abc"])
def test_agents_must_be_a_list(agents: object) -> None:
    with pytest.raises(TypeError, match="list of agent objects"):
        prepare_agents(agents)  # type: ignore[arg-type]
