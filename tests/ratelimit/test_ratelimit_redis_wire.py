"""The Redis wire helpers of the rate-limit backend: packing a script call once, and checking every reply's shape."""

from __future__ import annotations

import struct
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmteam.ratelimit import RateLimitBackendError, RateLimitConfig, RateLimiter, RedisRateLimitBackend
from llmteam.ratelimit.stores._redis_state import limit_parameters
from llmteam.ratelimit.stores._redis_wire import ScriptCall, bulk, redact, reply_items, reply_numbers, reply_text


@given(st.text())
def test_bulk_is_one_resp_bulk_string_of_the_utf8_bytes(text: str) -> None:
    data = text.encode()
    assert bulk(text) == b"$" + str(len(data)).encode() + b"\r\n" + data + b"\r\n"


@given(st.binary())
def test_bulk_of_bytes_sends_them_as_they_are(data: bytes) -> None:
    assert bulk(data) == b"$" + str(len(data)).encode() + b"\r\n" + data + b"\r\n"


def test_a_limit_s_fixed_parameters_are_one_argument_of_twelve_doubles_and_the_lease_as_text() -> None:
    config = RateLimitConfig(requests_per_second=2.5, burst_size=4, requests_per_minute=30, requests_per_hour=1e12)
    packed, lease = limit_parameters(config, 600.0)
    assert isinstance(packed, bytes) and lease == "600.0"
    rate, burst, per_minute, per_hour, lease_seconds = struct.unpack("<12d", packed)[:5]
    assert (rate, burst, per_minute, per_hour, lease_seconds) == (2.5, 4.0, 30.0, -1.0, 600.0)  # hour: untracked


def test_a_script_call_packs_its_key_count_keys_and_leading_arguments_once() -> None:
    call = ScriptCall("acquire.lua", ["k1", "k2"], ["a"])
    assert call.fixed == bulk("2") + bulk("k1") + bulk("k2") + bulk("a")
    assert call.count == 2 + 4  # EVALSHA and the SHA1, then the four packed parts


def test_redact_hides_only_the_password() -> None:
    assert redact("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact("redis://host:6379/0") == "redis://host:6379/0"


def test_reply_numbers_reads_a_status_line_of_the_expected_length() -> None:
    assert reply_numbers(b"1 -1 9.5 1764412345 120", 5, "acquire.lua") == [1.0, -1.0, 9.5, 1764412345.0, 120.0]


@pytest.mark.parametrize("reply", [b"1 0 9.5 1764412345", b"1 0 x 1764412345 120", b"", 3, None, [b"1", b"0"]])
def test_reply_numbers_of_any_other_shape_is_a_backend_error_naming_the_reply(reply: Any) -> None:
    with pytest.raises(RateLimitBackendError, match=r"acquire\.lua .*expected 5 numbers"):
        reply_numbers(reply, 5, "acquire.lua")


def test_a_reply_named_in_an_error_is_cut_short() -> None:
    # a misconfigured or hostile server's reply is named, never copied whole into the message (and the logs)
    for check in (lambda r: reply_numbers(r, 5, "acquire.lua"), lambda r: reply_text(r, "SCRIPT LOAD")):
        with pytest.raises(RateLimitBackendError) as info:
            check([b"x" * 1_000_000])
        assert len(str(info.value)) < 400


def test_reply_text_and_reply_items_name_what_was_sent() -> None:
    assert reply_text(b"abc", "SCRIPT LOAD") == "abc"
    with pytest.raises(RateLimitBackendError, match="SCRIPT LOAD"):
        reply_text(7, "SCRIPT LOAD")
    assert reply_items([b"1", b"2"], 2, "TIME") == [b"1", b"2"]
    with pytest.raises(RateLimitBackendError, match="TIME"):
        reply_items([b"1"], 2, "TIME")


class ShortReplies(RedisRateLimitBackend):
    """A real backend whose admission script answers a status line missing the server's time (and that keeps the
    arguments of every call of it)."""

    def __init__(self, url: str, **kw: Any) -> None:
        super().__init__(url, **kw)
        self.sent: list[list[str]] = []

    def script_source(self, script: str) -> str:
        return "return {ok = '1 0 5'}" if script == "acquire.lua" else super().script_source(script)

    async def run_script(self, call: ScriptCall, args: Sequence[str]) -> Any:
        self.sent.append(list(args))
        return await super().run_script(call, args)


@pytest.fixture
async def short(redis_url: str) -> AsyncIterator[ShortReplies]:
    backend = ShortReplies(redis_url, prefix=f"test_{uuid.uuid4().hex[:12]}")
    yield backend
    await backend.aclose()


async def test_a_decision_answered_in_the_wrong_shape_is_refused_with_a_backend_error(short: ShortReplies) -> None:
    lim = RateLimiter("w", RateLimitConfig(requests_per_second=10, burst_size=2), backend=short)
    with pytest.raises(RateLimitBackendError, match=r"'1 0 5'.*expected 5 numbers"):
        await lim.acquire()
    assert lim.held_permits == 0
    with pytest.raises(RateLimitBackendError):
        await lim.acquire()
    # the server may have admitted the first decision's permit: the next call gives it back
    first, second = short.sent[0][0], short.sent[-1]
    assert first in second[3:]
