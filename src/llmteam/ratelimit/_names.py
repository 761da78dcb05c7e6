"""Names of limits: the check every limiter, breaker and key prefix passes, and :class:`NameCache`.

A name must be a non-empty string that UTF-8 can encode (it becomes part of Redis keys): a lone surrogate
(``"\\ud800"``) is refused when the limiter is built, on every backend, rather than failing at its first call.

:class:`NameCache` is a bounded name -> state map for in-process backends that never forgets state that still
matters. States are kept least recently used first. Beyond ``max_states`` names, the oldest states that report
``is_fresh()`` (they would decide exactly like a newly created state) and that no live limiter or breaker uses
(``users``, held weakly) are dropped; any other state is moved to the back and kept. A state in use is never
dropped, because it can stop being fresh at any moment and its users may then let go of it. A dropped state that
something else still references stays reachable through a weak map, so one name can never have two states at
once. Each insertion examines at most ``_SCAN`` states, so the cost per new name is bounded whatever it holds.
:func:`make_room` is that rule on its own, for a map that must stay within its bound (the executor's endpoints).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

from llmteam._repr import bounded_repr
from llmteam._text import is_unicode

from ._errors import RateLimitConfigError

_SCAN = 32


def check_name(what: str, name: Any) -> None:
    """Raise :class:`RateLimitConfigError` unless ``name`` is a non-empty string UTF-8 can encode (Redis keys)."""
    if not isinstance(name, str) or not name:
        raise RateLimitConfigError(f"{what}={bounded_repr(name)} must be a non-empty string")
    if not is_unicode(name):
        raise RateLimitConfigError(
            f"{what}={bounded_repr(name)} cannot be encoded as UTF-8 (it holds a lone surrogate); "
            "use a name of valid Unicode text"
        )


class Evictable(Protocol):
    @property
    def users(self) -> object:
        """Truthy while something uses this state: its live limiters or breakers (a WeakSet), or the number of
        calls running on an executor's endpoint."""

    def is_fresh(self) -> bool:
        """True when dropping this state and creating a new one later changes no decision."""


S = TypeVar("S", bound=Evictable)
K = TypeVar("K", bound=Hashable)


class NameCache(Generic[K, S]):
    """Name (or any key) -> state, at most ``max_states`` of them plus those that are not fresh (see the module
    docstring)."""

    def __init__(self, max_states: int) -> None:
        self.max_states = max_states
        self._states: OrderedDict[K, S] = OrderedDict()
        self._live: weakref.WeakValueDictionary[K, S] = weakref.WeakValueDictionary()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, name: K, create: Callable[[], S]) -> S:
        """The state of ``name``: the kept one, else the one a live user still holds, else ``create()``."""
        states = self._states
        state = states.get(name)
        if state is not None:
            states.move_to_end(name)
            return state
        state = self._live.get(name)
        if state is None:
            state = create()
            self._live[name] = state
        if len(states) >= self.max_states:
            make_room(states, self.max_states - 1)  # a dropped state stays reachable through _live while used
        states[name] = state
        return state


def make_room(states: OrderedDict[K, S], bound: int) -> list[K]:
    """Drop the least recently used states that nothing uses and that are fresh until at most ``bound`` remain,
    examining at most ``_SCAN`` of them (the others move to the back); returns the names dropped."""
    dropped: list[K] = []
    for _ in range(min(_SCAN, len(states))):
        if len(states) <= bound:
            break
        name, state = next(iter(states.items()))
        if not state.users and state.is_fresh():
            del states[name]
            dropped.append(name)
        else:
            states.move_to_end(name)
    return dropped
