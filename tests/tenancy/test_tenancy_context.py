from __future__ import annotations

import asyncio
import contextvars
import re

import pytest

from llmteam.tenancy import (
    TenantConfig,
    TenantContext,
    TenantContextError,
    TenantContextStack,
    current_tenant,
    get_current_tenant,
    require_tenant_context,
)


def test_default_is_empty() -> None:
    assert isinstance(current_tenant, contextvars.ContextVar)
    assert get_current_tenant() == ""
    with pytest.raises(TenantContextError):
        require_tenant_context()


@pytest.mark.parametrize("bad", ["", "  ", "\t"])
def test_empty_ids_rejected_at_construction(bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        TenantContext(bad)


def test_sync_nesting_restores_previous_values() -> None:
    config = TenantConfig("a", "A")
    with TenantContext("a", config) as outer:
        assert outer.get_config() is config and outer.is_active()
        assert require_tenant_context() == "a"
        with TenantContext("b") as inner:
            assert get_current_tenant() == "b" and inner.is_active() and not outer.is_active()
        assert get_current_tenant() == "a"
    assert get_current_tenant() == ""


def test_restores_on_exception() -> None:
    with pytest.raises(RuntimeError), TenantContext("a"):
        raise RuntimeError("boom")
    assert get_current_tenant() == ""


async def test_async_with() -> None:
    async with TenantContext("a") as ctx:
        assert ctx.is_active()
        async with TenantContext("b"):
            assert get_current_tenant() == "b"
        assert get_current_tenant() == "a"
    assert get_current_tenant() == ""


def test_one_instance_is_reentrant() -> None:
    a, b = TenantContext("a"), TenantContext("b")
    with a:
        with b:
            with a:
                assert get_current_tenant() == "a"
            assert get_current_tenant() == "b"
        assert get_current_tenant() == "a"
    assert get_current_tenant() == ""


async def test_one_instance_shared_by_concurrent_tasks() -> None:
    shared = TenantContext("shared")
    seen: list[str] = []

    async def worker(i: int) -> None:
        async with shared:
            await asyncio.sleep(0.001 * (i % 3))
            seen.append(get_current_tenant())
            with TenantContext(f"inner{i}"):
                await asyncio.sleep(0)
                assert get_current_tenant() == f"inner{i}"
            assert get_current_tenant() == "shared"
        assert get_current_tenant() == ""

    await asyncio.gather(*(worker(i) for i in range(20)))
    assert seen == ["shared"] * 20
    assert get_current_tenant() == ""


async def test_context_propagates_into_tasks_created_inside_and_not_out() -> None:
    async def child() -> str:
        return get_current_tenant()

    async with TenantContext("acme"):
        task = asyncio.create_task(child())
        group = await asyncio.gather(child(), child())
    assert await task == "acme" and group == ["acme", "acme"]

    async def setter() -> None:
        async with TenantContext("inside-task"):
            await asyncio.sleep(0)

    with TenantContext("outer"):
        await asyncio.create_task(setter())
        assert get_current_tenant() == "outer"


async def test_child_task_may_reenter_parents_instance() -> None:
    ctx = TenantContext("a")

    async def child() -> str:
        with TenantContext("b"), ctx:
            return get_current_tenant()

    with ctx:
        assert await asyncio.create_task(child()) == "a"
        assert get_current_tenant() == "a"


async def test_exit_in_a_task_that_did_not_enter_is_an_error() -> None:
    ctx = TenantContext("a")

    async def wrong_exit() -> None:
        ctx.__exit__(None, None, None)

    with ctx:
        with pytest.raises(TenantContextError, match="did not enter"):
            await asyncio.create_task(wrong_exit())
        assert get_current_tenant() == "a"
    assert get_current_tenant() == ""


def test_out_of_order_exit_is_an_error() -> None:
    a, b = TenantContext("a"), TenantContext("b")
    a.__enter__()
    b.__enter__()
    with pytest.raises(TenantContextError, match="reverse order"):
        a.__exit__(None, None, None)
    b.__exit__(None, None, None)
    a.__exit__(None, None, None)
    assert get_current_tenant() == ""
    with pytest.raises(TenantContextError):
        a.__exit__(None, None, None)


def test_stack() -> None:
    stack = TenantContextStack()
    assert stack.current() is None and stack.pop() is None and stack.depth() == 0
    config = TenantConfig("a", "A")
    first = stack.push("a", config)
    assert isinstance(first, TenantContext) and first.get_config() is config
    stack.push("b")
    assert stack.depth() == 2 and get_current_tenant() == "b"
    current = stack.current()
    assert current is not None and current.tenant_id == "b"
    popped = stack.pop()
    assert popped is not None and popped.tenant_id == "b" and get_current_tenant() == "a"
    stack.push("c")
    stack.clear()
    assert stack.depth() == 0 and get_current_tenant() == ""
    with pytest.raises(ValueError):
        stack.push(" ")
    assert stack.depth() == 0


def test_stack_depth_is_bounded() -> None:
    stack = TenantContextStack(max_depth=3)
    for i in range(3):
        stack.push(f"t{i}")
    with pytest.raises(TenantContextError, match="3 deep"):
        stack.push("t3")
    stack.clear()
    assert get_current_tenant() == ""
