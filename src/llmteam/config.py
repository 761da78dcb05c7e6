"""The one place that reads ``LLMTEAM_*`` environment variables.

:func:`settings` returns a :class:`Settings` snapshot of the environment as it is now (so a variable set
after import is seen), parsed one way for everyone. Library code asks it instead of ``os.environ``. The
licensing module, which imports no other llmteam module, reads its own: ``LLMTEAM_LICENSE_KEY`` (the key) and
``LLMTEAM_LICENSE_ENFORCE`` (built-in gates). Its trust anchor is not in the environment: the issuer keys are
pinned in the distribution, and ``LLMTEAM_LICENSE_PUBLIC_KEY`` / ``LLMTEAM_LICENSE_ALLOW_UNSIGNED``, which earlier
versions honoured, are ignored with a warning (``LicenseManager.configure`` overrides the anchor explicitly).
The README's "Configuration" table lists every variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["VARIABLES", "Settings", "audit_hmac_key", "settings"]

VARIABLES: dict[str, tuple[str, str]] = {
    "LLMTEAM_BASE_URL": ("OpenAI-compatible server for OpenAICompatible() (fallback OPENAI_BASE_URL)", "unset"),
    "LLMTEAM_MODEL": ("model name for OpenAICompatible() (fallback OPENAI_MODEL)", "unset"),
    "LLMTEAM_API_KEY": ("API key for OpenAICompatible() (fallback OPENAI_API_KEY)", "unset"),
    "LLMTEAM_AUDIT_HMAC_KEY": ("key for HMAC-SHA256 audit checksums (UTF-8 text)", "unset: plain SHA-256"),
    "LLMTEAM_AUDIT_SIGNING_KEY": ("path of the audit checkpoint signing key", "<db>.audit-signing.key"),
    "LLMTEAM_LICENSE_ENFORCE": ("'1': refuse unlicensed features instead of warning", "unset: warn"),
    "LLMTEAM_DEBUG": ("'1': the llmteam command shows the traceback of an unexpected error", "unset: one line"),
}
"""Every variable :class:`Settings` reads: name -> (meaning, default)."""

_FALLBACKS = {
    "LLMTEAM_BASE_URL": "OPENAI_BASE_URL", "LLMTEAM_MODEL": "OPENAI_MODEL", "LLMTEAM_API_KEY": "OPENAI_API_KEY"
}


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip() or env.get(_FALLBACKS.get(name, ""), "").strip()
    return value or None


@dataclass(frozen=True)
class Settings:
    """The ``LLMTEAM_*`` configuration, parsed: ``None`` means unset (or empty)."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    audit_hmac_key: bytes | None = None
    audit_signing_key: Path | None = None
    license_enforce: bool = False
    debug: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse ``env`` (a mapping like ``os.environ``)."""
        hmac_key = env.get("LLMTEAM_AUDIT_HMAC_KEY", "")
        signing = _get(env, "LLMTEAM_AUDIT_SIGNING_KEY")
        return cls(
            base_url=_get(env, "LLMTEAM_BASE_URL"),
            model=_get(env, "LLMTEAM_MODEL"),
            api_key=_get(env, "LLMTEAM_API_KEY"),
            audit_hmac_key=hmac_key.encode("utf-8") if hmac_key else None,
            audit_signing_key=Path(signing).expanduser() if signing else None,
            license_enforce=env.get("LLMTEAM_LICENSE_ENFORCE", "").strip() == "1",
            debug=env.get("LLMTEAM_DEBUG", "").strip() not in ("", "0"),
        )


def settings() -> Settings:
    """The configuration as the environment says now."""
    return Settings.from_env(os.environ)


_hmac_cache: tuple[str | None, bytes | None] = (None, None)


def audit_hmac_key() -> bytes | None:
    """``settings().audit_hmac_key`` without parsing the rest: the audit chain asks once per record."""
    global _hmac_cache
    raw = os.environ.get("LLMTEAM_AUDIT_HMAC_KEY")
    if raw != _hmac_cache[0]:
        _hmac_cache = (raw, raw.encode("utf-8") if raw else None)
    return _hmac_cache[1]
