"""The licence trust anchor: issuer public keys pinned in the distribution, and the audited record of overrides.

Nothing here reads the environment. The anchor changes only through ``LicenseManager.configure(...)`` (or a CLI
argument that calls it); each change that widens trust is logged as a WARNING carrying a structured
``llmteam_event`` and kept in a bounded list that the team runtime writes into every run's audit record.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

logger = logging.getLogger("llmteam.licensing")

#: The llmteam issuer's Ed25519 public keys (base64), generated with ``llmteam license keygen``; only the public
#: half is in the repository (the signing half stays with the issuer). Append a key to rotate; remove one to
#: revoke every licence it signed.
PINNED_ISSUER_KEYS: tuple[str, ...] = ("pe0YtbRXoLW9ZS3Atj6LUHO5XMV0R5uMT5Mpg261yDY=",)

#: Environment variables that earlier versions trusted; they are now ignored (with a warning) because whoever
#: sets a process's environment could otherwise mint any licence.
IGNORED_ENV = ("LLMTEAM_LICENSE_PUBLIC_KEY", "LLMTEAM_LICENSE_ALLOW_UNSIGNED")
OVERRIDE_EVENT = "licence.trust_override"
MAX_OVERRIDES = 32


def fingerprint(public_key: bytes) -> str:
    """``sha256:`` plus the first 16 hex digits of the key's SHA-256: how logs and audit records name a key."""
    return "sha256:" + hashlib.sha256(public_key).hexdigest()[:16]


def pinned_keys() -> tuple[bytes, ...]:
    """The pinned issuer keys as raw 32-byte values."""
    return tuple(base64.b64decode(key, validate=True) for key in PINNED_ISSUER_KEYS)


@dataclass(frozen=True)
class TrustOverride:
    """One explicit change of the trust anchor: what changed, to what, by which entry point, and when (UTC)."""

    setting: str
    value: str
    source: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Plain data for logs and audit records."""
        return {"setting": self.setting, "value": self.value, "source": self.source, "at": self.at.isoformat()}


class TrustLog:
    """The bounded, thread-safe list of overrides made in this process (the newest ``MAX_OVERRIDES``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: deque[TrustOverride] = deque(maxlen=MAX_OVERRIDES)
        self._env_seen: tuple[tuple[str, str], ...] = ()

    def record(self, setting: str, value: str, source: str) -> TrustOverride:
        """Keep one override and log it as a WARNING with ``extra={"llmteam_event": OVERRIDE_EVENT, ...}``."""
        entry = TrustOverride(setting, value, source, datetime.now(timezone.utc))
        with self._lock:
            self._records.append(entry)
        logger.warning(
            "licence trust anchor overridden through %s: %s=%s; licences are no longer checked against the pinned "
            "llmteam issuer keys only (audited in every run's pipeline.started record)",
            source, setting, value,
            extra={"llmteam_event": OVERRIDE_EVENT, "llmteam_override": entry.to_dict()},
        )
        return entry

    def records(self) -> list[TrustOverride]:
        """The overrides kept, oldest first."""
        with self._lock:
            return list(self._records)

    def warn_ignored_env(self) -> None:
        """Warn (once per distinct setting) when an environment variable that used to widen trust is set."""
        present = tuple((name, os.environ[name]) for name in IGNORED_ENV if os.environ.get(name, "").strip())
        if present and present != self._env_seen:
            self._env_seen = present
            logger.warning(
                "ignoring %s: the licence trust anchor is pinned in the distribution; an operator who runs "
                "their own issuer passes its key explicitly (LicenseManager.configure(public_key=...) or "
                "`llmteam license status --public-key`)", ", ".join(name for name, _ in present),
            )
