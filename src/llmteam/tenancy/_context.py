"""The current tenant: a ContextVar, a re-entrant context manager that sets it, and a push/pop stack.

``current_tenant`` is a :class:`contextvars.ContextVar`, so a value set in one task never leaks into
another, and tasks created inside a context inherit the tenant (asyncio copies the context at task
creation). Restore tokens live in one module-level ContextVar holding a stack of ``(context, token)``
pairs: each task keeps its own stack, so one :class:`TenantContext` may be entered re-entrantly and from
several tasks at once. (A module-level variable rather than one ContextVar per instance: contexts keep
every variable ever set in them alive, so per-instance variables would accumulate in long-lived contexts.)
"""

from __future__ import annotations

import contextvars
from types import TracebackType

from llmteam.tenancy._config import TenantConfig
from llmteam.tenancy._errors import TenantContextError
from llmteam.tenancy._validation import validate_tenant_id

current_tenant: contextvars.ContextVar[str] = contextvars.ContextVar("current_tenant", default="")

_Frame = tuple["TenantContext", contextvars.Token[str]]
_restore_stack: contextvars.ContextVar[tuple[_Frame, ...]] = contextvars.ContextVar(
    "llmteam_tenant_restore_stack", default=()
)


def get_current_tenant() -> str:
    """The tenant id of the current context, or ``""`` when none is set."""
    return current_tenant.get()


def require_tenant_context() -> str:
    """The current tenant id; raise TenantContextError when none is set."""
    tenant = current_tenant.get()
    if not tenant:
        raise TenantContextError("no tenant context is set; wrap the call in `with TenantContext(tenant_id):`")
    return tenant


class TenantContext:
    """Sets ``current_tenant`` for a ``with`` / ``async with`` block and restores the previous value on exit."""

    def __init__(self, tenant_id: str, config: TenantConfig | None = None) -> None:
        validate_tenant_id(tenant_id)
        self.tenant_id = tenant_id
        self.config = config

    def get_config(self) -> TenantConfig | None:
        """The config given at construction (None if none)."""
        return self.config

    def is_active(self) -> bool:
        """True while the current context's tenant is this one."""
        return current_tenant.get() == self.tenant_id

    def __enter__(self) -> TenantContext:
        token = current_tenant.set(self.tenant_id)
        _restore_stack.set((*_restore_stack.get(), (self, token)))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack = _restore_stack.get()
        if not stack or stack[-1][0] is not self:
            raise TenantContextError(
                f"TenantContext({self.tenant_id!r}) exited in a task where it is not the innermost entered "
                "tenant context; exit contexts in the reverse order of entry, in the task that entered them"
            )
        _restore_stack.set(stack[:-1])
        try:
            current_tenant.reset(stack[-1][1])
        except ValueError as err:  # token from another Context: the frame was inherited, not entered here
            raise TenantContextError(
                f"TenantContext({self.tenant_id!r}) exited in a task that did not enter it"
            ) from err

    async def __aenter__(self) -> TenantContext:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"TenantContext({self.tenant_id!r})"


class TenantContextStack:
    """Imperative push/pop of tenant contexts (for code that cannot use ``with``); bounded depth."""

    def __init__(self, max_depth: int = 1024) -> None:
        self._stack: list[TenantContext] = []
        self.max_depth = max_depth

    def push(self, tenant_id: str, config: TenantConfig | None = None) -> TenantContext:
        """Enter a new TenantContext for ``tenant_id`` and return it."""
        if len(self._stack) >= self.max_depth:
            raise TenantContextError(
                f"tenant context stack is {self.max_depth} deep; pop() what you pushed (pushing {tenant_id!r})"
            )
        ctx = TenantContext(tenant_id, config)
        ctx.__enter__()
        self._stack.append(ctx)
        return ctx

    def pop(self) -> TenantContext | None:
        """Exit the innermost pushed context and return it; None if the stack is empty."""
        if not self._stack:
            return None
        ctx = self._stack.pop()
        ctx.__exit__(None, None, None)
        return ctx

    def current(self) -> TenantContext | None:
        """The innermost pushed context, or None."""
        return self._stack[-1] if self._stack else None

    def depth(self) -> int:
        """How many contexts are pushed."""
        return len(self._stack)

    def clear(self) -> None:
        """Pop every pushed context, restoring the tenant that was current before the first push."""
        while self._stack:
            self.pop()
