"""The root of every llmteam error, and the errors of the storage layer (httpx-style: shallow, one line each).

Each module keeps its own errors in its ``_errors.py`` and roots them here, so ``except llmteam.LLMTeamError``
catches anything llmteam raises on purpose::

    LLMTeamError
    ├── StoreURLError           (also ValueError)    a store URL that cannot be used
    ├── StoreConnectionError    (also ConnectionError) a database or Redis server that does not answer
    ├── SchemaVersionError      (also RuntimeError)  a database written by a newer llmteam
    ├── TenantError, AuditError, ContextAccessError, RateLimitError, LicenseValidationError, ...
    └── LLMError, RolesError, TeamError, ...        (one root per module, see each module's ``__all__``)
"""

from __future__ import annotations

__all__ = ["LLMTeamError", "SchemaVersionError", "StoreConnectionError", "StoreURLError"]


class LLMTeamError(Exception):
    """Base class of every error llmteam raises on purpose."""


class StoreURLError(LLMTeamError, ValueError):
    """A store URL that cannot be used, with the reason and the accepted forms."""


class StoreConnectionError(LLMTeamError, ConnectionError):
    """A database or Redis server that does not answer at the URL given."""


class SchemaVersionError(LLMTeamError, RuntimeError):
    """A database holds a schema newer than this llmteam knows; upgrade llmteam."""
