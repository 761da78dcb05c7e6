"""Module-level helpers, tier decorators and the opt-in gate used by built-in classes."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar, cast, overload

from llmteam.licensing._errors import FeatureNotLicensedError
from llmteam.licensing._license import License
from llmteam.licensing._manager import LicenseManager
from llmteam.licensing._tiers import LicenseTier

ENFORCE_ENV = "LLMTEAM_LICENSE_ENFORCE"

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


def get_license_manager() -> LicenseManager:
    """The current process-wide manager (``LicenseManager.instance()``), looked up on every call."""
    return LicenseManager.instance()


def activate(key: str) -> License:
    """Activate ``key`` on the current process-wide manager."""
    return get_license_manager().activate(key)


def get_tier() -> LicenseTier:
    """The process-wide manager's current tier."""
    return get_license_manager().get_tier()


def has_feature(feature: str) -> bool:
    """Whether the process-wide manager grants ``feature``."""
    return get_license_manager().has_feature(feature)


def print_license_status() -> None:
    """Print the process-wide manager's status."""
    get_license_manager().print_status()


_IN_FORCE: ContextVar[LicenseManager | None] = ContextVar("llmteam_licence_in_force", default=None)


@contextlib.contextmanager
def licensed_by(manager: LicenseManager) -> Iterator[None]:
    """Built-in gates checked inside (in this context) ask ``manager``, not the process-wide one: a runtime
    given its own licence builds its TenantManager and AuditTrail under it."""
    token = _IN_FORCE.set(manager)
    try:
        yield
    finally:
        _IN_FORCE.reset(token)


def check_builtin_gate(name: str, required: LicenseTier) -> None:
    """Opt-in gate for built-in classes: raise FeatureNotLicensedError(name, required) only when
    LLMTEAM_LICENSE_ENFORCE=1 and the tier in force (:func:`licensed_by`'s, else the process-wide one) is below
    ``required``; otherwise do nothing."""
    if os.environ.get(ENFORCE_ENV, "").strip() != "1":  # licensing reads its own variables
        return
    manager = _IN_FORCE.get()
    if not (get_license_manager() if manager is None else manager).has_tier(required):
        raise FeatureNotLicensedError(name, required)


def _check(name: str, tier: LicenseTier) -> None:
    if not get_license_manager().has_tier(tier):
        raise FeatureNotLicensedError(name, tier)


def require_tier(tier: LicenseTier) -> Callable[[F], F]:
    """Decorate a sync or async function so each call first checks the process-wide tier."""
    if not isinstance(tier, LicenseTier):
        raise TypeError(f"require_tier() needs a LicenseTier, not {tier!r}")

    def decorator(func: F) -> F:
        name = func.__qualname__
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                _check(name, tier)
                return await func(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _check(name, tier)
            return func(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


@overload
def require_professional(func: F) -> F: ...
@overload
def require_professional(func: None = None) -> Callable[[F], F]: ...
def require_professional(func: F | None = None) -> F | Callable[[F], F]:
    """``require_tier(PROFESSIONAL)``; usable as ``@require_professional`` or ``@require_professional()``."""
    decorator: Callable[[F], F] = require_tier(LicenseTier.PROFESSIONAL)
    return decorator if func is None else decorator(func)


@overload
def require_enterprise(func: F) -> F: ...
@overload
def require_enterprise(func: None = None) -> Callable[[F], F]: ...
def require_enterprise(func: F | None = None) -> F | Callable[[F], F]:
    """``require_tier(ENTERPRISE)``; usable as ``@require_enterprise`` or ``@require_enterprise()``."""
    decorator: Callable[[F], F] = require_tier(LicenseTier.ENTERPRISE)
    return decorator if func is None else decorator(func)


def _class_gate(cls: C, tier: LicenseTier) -> C:
    original = cls.__init__  # type: ignore[misc]
    name = cls.__name__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _check(name, tier)
        original(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    cls._requires_tier = tier  # type: ignore[attr-defined]
    return cls


def professional_only(cls: C) -> C:
    """Class decorator: constructing ``cls`` needs PROFESSIONAL; sets ``cls._requires_tier``."""
    return _class_gate(cls, LicenseTier.PROFESSIONAL)


def enterprise_only(cls: C) -> C:
    """Class decorator: constructing ``cls`` needs ENTERPRISE; sets ``cls._requires_tier``."""
    return _class_gate(cls, LicenseTier.ENTERPRISE)
