"""Key namespaces per tenant: the one place that decides which stored keys belong to which tenant.

A tenant's keys are stored as ``tenant + separator + key``. A tenant id is accepted only if the first
occurrence of the separator in ``tenant + separator`` is the appended one; then the tenant owning a stored
key is recovered uniquely from the key's first separator, and no tenant's namespace is a prefix of
another's (this rules out ids containing the separator and, for multi-character separators, ids ending
in a part of it, e.g. ``"a:"`` with ``"::"``). The anonymous namespace is the bare separator: a stored key
that starts with the separator belongs to no real tenant, whose non-empty id comes first.
"""

from __future__ import annotations

from llmteam.tenancy._errors import TenantContextError
from llmteam.tenancy._validation import validate_tenant_id

_MAX_CACHED = 4096


def validate_separator(separator: object) -> str:
    """A usable separator: a non-empty string."""
    if not isinstance(separator, str) or not separator:
        raise ValueError(f"separator {separator!r} must be a non-empty string such as ':'")
    return separator


def tenant_namespace(tenant_id: str, separator: str) -> str:
    """The key prefix of ``tenant_id``; TenantContextError if the id cannot be a namespace."""
    if not isinstance(tenant_id, str) or not tenant_id:
        raise TenantContextError(f"tenant id {tenant_id!r} is empty; set a tenant with TenantContext(tenant_id)")
    tenant_id = exact_str(tenant_id)  # a subclass's own ``+``, ``len`` or ``find`` never builds a namespace
    try:
        validate_tenant_id(tenant_id)  # the one tenant-id rule, also for ids set on current_tenant directly
    except ValueError as exc:
        raise TenantContextError(str(exc)) from None
    namespace = tenant_id + separator
    if namespace.find(separator) != len(tenant_id):
        raise TenantContextError(
            f"tenant id {tenant_id!r} contains (part of) the key separator {separator!r}, so its keys could "
            "collide with another tenant's; use an id without it or another separator"
        )
    return namespace


def exact_str(text: str) -> str:
    """``text`` as a plain ``str`` (a subclass is copied), so no overridden method of it runs later."""
    return text if type(text) is str else str.__str__(text)


def split_key(stored: str, separator: str) -> tuple[str, str] | None:
    """``(tenant, key)`` for a stored key, ``("", key)`` for the anonymous namespace, None if unnamespaced."""
    index = stored.find(separator)
    if index < 0:
        return None
    return stored[:index], stored[index + len(separator) :]


class NamespaceCache:
    """Validated namespaces per tenant id, so the hot path does one dict lookup (bounded)."""

    __slots__ = ("known", "separator")

    def __init__(self, separator: str) -> None:
        self.separator = validate_separator(separator)
        self.known: dict[str, str] = {}
        """Validated namespaces by tenant id: a hot path may look here first and call ``get`` on a miss."""

    def get(self, tenant_id: str) -> str:
        """The namespace of ``tenant_id`` (validated once, then cached; a str subclass is never a cache key)."""
        if type(tenant_id) is not str:  # its __eq__/__hash__ could match another tenant's cached id
            return tenant_namespace(tenant_id, self.separator)
        try:
            return self.known[tenant_id]
        except KeyError:
            namespace = tenant_namespace(tenant_id, self.separator)
            if len(self.known) >= _MAX_CACHED:
                self.known.clear()
            self.known[tenant_id] = namespace
            return namespace
