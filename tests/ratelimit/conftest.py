"""Fixtures of the rate-limit tests: a relay in front of the test Redis that a test can cut or hold up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ._redis_hops import Proxy


@pytest.fixture
async def proxy_url(redis_url: str) -> AsyncIterator[tuple[Proxy, str]]:
    """A :class:`Proxy` to the test Redis and the URL that goes through it (cut at the end)."""
    proxy = Proxy(redis_url)
    url = await proxy.start()
    yield proxy, url
    await proxy.cut()
