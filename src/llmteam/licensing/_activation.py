"""From a key to a ``License``: where a configured key is found, and how a key is parsed, authenticated and
date-checked. ``LicenseManager`` (``_manager``) keeps the result; ``llmteam license status`` uses the same steps
to say why a key was ignored.
"""

from __future__ import annotations

import logging
import math
import os
import stat
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from llmteam.licensing._errors import LicenseExpiredError, LicenseValidationError
from llmteam.licensing._keys import VERIFIER, ParsedKey, parse_key
from llmteam.licensing._license import License
from llmteam.licensing._tiers import LICENSE_FEATURES, LicenseTier

logger = logging.getLogger(__name__)

KEY_ENV = "LLMTEAM_LICENSE_KEY"
_MAX_KEY_FILE_BYTES = 4096


def _key_file_candidates() -> list[Path]:
    return [Path.home() / ".llmteam" / "license.key", Path(".llmteam") / "license.key", Path("license.key")]


def find_configured_key() -> tuple[str, str] | None:
    """(key, source) from env LLMTEAM_LICENSE_KEY, else the first readable key file; None if there is none."""
    key = os.environ.get(KEY_ENV, "").strip()
    if key:
        return key, KEY_ENV
    for path in _key_file_candidates():
        text = read_key_file(path)
        if text:
            return text, str(path)
    return None


def read_key_file(path: Path) -> str | None:
    """The first 4096 bytes of the regular file ``path`` as stripped text; None if it is absent or unreadable.

    Key files sit in shared places (the working directory), so the open never blocks and never follows a link
    (``O_NONBLOCK | O_NOFOLLOW``): a FIFO there used to hang the first licence lookup for good, and a symlink lets
    whoever planted it choose what is read. Anything that is not a regular file is skipped with a warning.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if path.is_symlink():
            _skip(path, "a symlink")
        return None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            _skip(path, "a directory" if stat.S_ISDIR(mode) else "a FIFO, socket or device")
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(_MAX_KEY_FILE_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


def _skip(path: Path, what: str) -> None:
    logger.warning(
        "ignoring the licence key file %s: it is %s, not a regular file; put the key in a regular file there "
        "(or in env %s)", path, what, KEY_ENV,
    )


def end_of_day_timestamp(day: date) -> float:
    """Local-time epoch seconds at which ``day`` has ended.

    The last representable date (9999-12-31, which the issuer accepts for a perpetual licence) has no next day to
    start: its end is ``math.inf`` rather than an overflow that would break every tier query.
    """
    if day >= date.max:
        return math.inf
    return datetime.fromordinal(day.toordinal() + 1).timestamp()


@dataclass(frozen=True)
class Grant:
    """What an activated key vouches for: the normalised key, its owner, tier and last valid day, and whether its
    signature was verified. ``LicenseManager`` decides from this, never from the ``License`` it hands out: that
    object is an assignable dataclass (the contract), so editing it must not be able to widen the licence."""

    key: str
    owner: str
    tier: LicenseTier
    expires: date
    verified: bool


def authenticate(parsed: ParsedKey) -> tuple[LicenseTier, bool]:
    """(tier granted, signature verified) for a key under the trust anchor now in force; LicenseValidationError if
    the anchor rejects it. An unsigned key is accepted only in legacy mode, and then only as COMMUNITY."""
    if parsed.signature is not None:
        VERIFIER.verify(parsed)
        return parsed.tier, True
    if VERIFIER.unsigned_allowed():
        return LicenseTier.COMMUNITY, False  # nobody vouches for an unsigned key: never more than the free tier
    raise LicenseValidationError(
        f"the licence key for owner {parsed.owner!r} has no signature; a signed key "
        "(LLMT-<TIER>-<OWNER>-<YYYYMMDD>-<SIG>) is required. Unsigned legacy keys are accepted, as community "
        "keys only, with LicenseManager.configure(allow_unsigned=True)"
    )


def grant_for(key: str) -> Grant:
    """Parse, authenticate and date-check a key; return what it grants or raise the matching error."""
    parsed = parse_key(key)
    tier, verified = authenticate(parsed)
    if not verified:
        logger.warning(
            "activating an UNSIGNED legacy licence key for owner %r as %s (legacy mode is on; it claims %s but is "
            "not authenticated, and unsigned keys never grant more than %s)",
            parsed.owner, tier.value, parsed.tier.value, tier.value,
        )
    if date.today() > parsed.expires:
        raise LicenseExpiredError(
            f"the licence for owner {parsed.owner!r} expired at the end of {parsed.expires.isoformat()}; "
            "obtain a renewed key"
        )
    return Grant(parsed.key, parsed.owner, tier, parsed.expires, verified)


def license_for(grant: Grant) -> License:
    """A fresh ``License`` describing ``grant`` (issued now, with the tier's licence features)."""
    return License(
        key=grant.key,
        tier=grant.tier,
        owner=grant.owner,
        owner_email="",
        expires_at=datetime(grant.expires.year, grant.expires.month, grant.expires.day),
        issued_at=datetime.now(),
        features=list(LICENSE_FEATURES[grant.tier]),
        limits={},
        verified=grant.verified,
    )


def build_license(key: str) -> License:
    """Parse, authenticate and date-check a key; return its License or raise the matching error."""
    return license_for(grant_for(key))
