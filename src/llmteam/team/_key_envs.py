"""Which environment variables a team file may name as ``api_key_env`` (and so send to the host it names).

A team file chooses both ``base_url`` and ``api_key_env``, so whatever variable it may name, it can send to any
host. The operator decides the allow-list: names or ``*`` globs, default ``LLMTEAM_API_KEY`` and ``*_API_KEY``.
``LLMTEAM_AUDIT_*`` and ``LLMTEAM_LICENSE_*`` are never allowed, whatever the list says.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable

from llmteam._repr import bounded_repr
from llmteam.llm._openai import ENV_API_KEY
from llmteam.team._errors import TeamConfigError

DEFAULT_API_KEY_ENVS: tuple[str, ...] = ("LLMTEAM_API_KEY", "*_API_KEY")
NEVER_API_KEY_ENVS: tuple[str, ...] = ("LLMTEAM_AUDIT_*", "LLMTEAM_LICENSE_*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_PATTERN = re.compile(r"[A-Za-z0-9_*]{1,128}")


def key_env_patterns(api_key_envs: Iterable[str] | None) -> tuple[str, ...]:
    """The operator's allow-list, validated (None: the default); TeamConfigError names a bad entry."""
    if api_key_envs is None:
        return DEFAULT_API_KEY_ENVS
    if isinstance(api_key_envs, str):
        raise TeamConfigError(
            f"api_key_envs must be a list of names or globs, not the string {bounded_repr(api_key_envs)}"
        )
    patterns = tuple(api_key_envs)
    for pattern in patterns:
        if not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern):
            raise TeamConfigError(
                f"api_key_envs entry {bounded_repr(pattern)} is not an environment variable name or a glob of "
                "letters, digits, '_' and '*' (e.g. CORP_TOKEN or *_API_KEY)"
            )
    return patterns


def allowed(name: str, patterns: tuple[str, ...]) -> bool:
    """True if ``name`` matches the allow-list and none of the never-allowed globs."""
    if any(fnmatch.fnmatchcase(name, never) for never in NEVER_API_KEY_ENVS):
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def resolve_key(name: object, where: str, patterns: tuple[str, ...]) -> str:
    """The value of the team file's ``api_key_env`` if the operator allows that name; TeamConfigError otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise TeamConfigError(f"{where}.api_key_env {bounded_repr(name)} is not an environment variable name")
    if any(fnmatch.fnmatchcase(name, never) for never in NEVER_API_KEY_ENVS):
        raise TeamConfigError(
            f"{where}.api_key_env {name!r}: LLMTEAM_AUDIT_* and LLMTEAM_LICENSE_* are never sent to a model endpoint"
        )
    if not allowed(name, patterns):
        raise TeamConfigError(
            f"{where}.api_key_env {name!r} is not allowed for team files (allowed: {', '.join(patterns)}); the "
            "operator widens the list with load_team(..., api_key_envs=[...]) or `llmteam run --allow-key-env NAME`"
        )
    value = os.environ.get(name)
    if not value:
        raise TeamConfigError(f"{where}.api_key_env: environment variable {name!r} is not set")
    return value


def fallback_key(patterns: tuple[str, ...]) -> str:
    """The key OpenAICompatible would take from the environment when no api_key_env is named, if allowed, else ""."""
    return next((os.environ[n] for n in ENV_API_KEY if allowed(n, patterns) and os.environ.get(n)), "")
