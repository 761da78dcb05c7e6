"""The server's teams: a directory of YAML files, re-read when a file changes, and teams posted by admin keys.

``TeamDirectory.scan`` re-reads what changed since the last scan: an added file adds its team, a removed file
removes it, a changed file replaces it. A file that no longer loads keeps its last good team and is reported in
``problems`` (and the log); it never takes a team down or makes a request fail. A posted team is written
atomically (a new file, then a rename) under a name the server builds from the validated team name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmteam.team import Team, TeamConfigError, load_team, team_from_dict
from llmteam.team._yaml import MAX_TEAM_FILE_BYTES, parse_team_yaml

logger = logging.getLogger(__name__)

MAX_TEAM_FILES = 1000
MAX_PROBLEM_CHARS = 500
RACY_SECONDS = 2.0  # a file modified this recently is re-read even if its stat looks unchanged (coarse mtimes)
TEAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SUFFIXES = (".yaml", ".yml")
# what a team posted over HTTP may not name: endpoints, the server's secrets, programs to start, and Python tools
# (``module:function``: importing the module runs its code, and any typed function becomes a tool)
_POSTED_FORBIDDEN = ("base_url", "api_key_env", "mcp_servers", "tools")


@dataclass
class _Entry:
    signature: tuple[int, int, int]
    digest: str
    team: Team | None  # the last good team of this file
    problem: str | None = None


class TeamDirectory:
    """Teams by name, from the ``*.yaml``/``*.yml`` files of ``root`` (not recursive, symlinks skipped)."""

    def __init__(self, root: str | Path | None, teams: Mapping[str, Team] | None = None) -> None:
        self.root = None if root is None else Path(root)
        self.fixed = dict(teams or {})  # teams given in code: no file, never reloaded
        self.teams: dict[str, Team] = dict(self.fixed)
        self.problems: dict[str, str] = {}
        self._entries: dict[str, _Entry] = {}
        if self.root is not None and not self.root.is_dir():
            raise TeamConfigError(f"--teams {str(self.root)!r} is not a directory; give the folder holding team "
                                  "YAML files")

    def files(self) -> dict[str, str]:
        """Team name -> the file defining it."""
        return {e.team.name: name for name, e in self._entries.items() if e.team is not None}

    def scan(self, *, strict: bool = False) -> bool:
        """Re-read added, changed and removed files; True when the set of teams changed.

        ``strict`` (the first load of ``llmteam serve``) raises on a broken file instead of reporting it.
        """
        if self.root is None:
            return False
        paths = sorted(p for p in self.root.iterdir() if p.suffix in _SUFFIXES)
        if len(paths) > MAX_TEAM_FILES:
            raise TeamConfigError(f"{self.root} holds {len(paths)} team files; the limit is {MAX_TEAM_FILES}")
        seen: set[str] = set()
        changed = False
        for path in paths:
            if path.is_symlink() or not path.is_file():
                continue
            seen.add(path.name)
            changed |= self._load(path, strict)
        for gone in set(self._entries) - seen:
            entry = self._entries.pop(gone)
            self.problems.pop(gone, None)
            changed |= entry.team is not None
            logger.info("team file %s removed", gone)
        if changed:
            self._rebuild(strict)
        return changed

    def _load(self, path: Path, strict: bool) -> bool:
        st = path.lstat()
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        entry = self._entries.get(path.name)
        racy = time.time() - st.st_mtime < RACY_SECONDS
        if entry is not None and entry.signature == signature and not racy:
            return False
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_TEAM_FILE_BYTES + 1)
        except OSError as exc:
            return self._fail(path.name, signature, "", f"cannot read it: {exc.strerror or exc}", strict)
        digest = hashlib.sha256(raw).hexdigest()
        if entry is not None and entry.digest == digest:
            entry.signature = signature
            return False
        try:
            team = load_team(path)
        except TeamConfigError as exc:
            return self._fail(path.name, signature, digest, str(exc), strict)
        except Exception as exc:  # a provider that cannot be built, ...: reported, never a crash of the server
            return self._fail(path.name, signature, digest, f"{type(exc).__name__}: {exc}", strict)
        self._entries[path.name] = _Entry(signature, digest, team)
        self.problems.pop(path.name, None)
        logger.info("team %r loaded from %s", team.name, path.name)
        return True

    def _fail(self, name: str, signature: tuple[int, int, int], digest: str, problem: str, strict: bool) -> bool:
        if strict:
            raise TeamConfigError(f"team file {name}: {problem}")
        previous = self._entries.get(name)
        kept = previous.team if previous is not None else None
        self._entries[name] = _Entry(signature, digest, kept, problem[:MAX_PROBLEM_CHARS])
        self.problems[name] = problem[:MAX_PROBLEM_CHARS] + (f" (serving its last good version of team "
                                                             f"{kept.name!r})" if kept is not None else "")
        logger.warning("team file %s not loaded: %s", name, problem[:MAX_PROBLEM_CHARS])
        return False

    def _rebuild(self, strict: bool) -> None:
        teams = dict(self.fixed)
        owner: dict[str, str] = {}
        for name, entry in sorted(self._entries.items()):
            team = entry.team
            if team is None:
                continue
            if team.name in teams:
                problem = (f"defines team {team.name!r}, which {owner.get(team.name, 'the server')} defines "
                           "already; rename one")
                if strict:
                    raise TeamConfigError(f"two team files in {self.root} define team {team.name!r}; rename one")
                self.problems[name] = problem
                continue
            teams[team.name] = team
            owner[team.name] = name
        self.teams = teams

    # -- posting -----------------------------------------------------------------------------------
    def write(self, text: str) -> tuple[Team, bool]:
        """Validate a posted team file and write it; (the team, True if it replaced a team of that name)."""
        if self.root is None:
            raise TeamConfigError("this server has no --teams directory; start it with --teams DIR to post teams")
        if len(text.encode("utf-8")) > MAX_TEAM_FILE_BYTES:
            raise TeamConfigError(f"the team file is over {MAX_TEAM_FILE_BYTES} bytes")
        data = parse_team_yaml(text, "posted team")
        name = data.get("team") if isinstance(data, dict) else None
        if not isinstance(name, str) or not TEAM_NAME.fullmatch(name):
            raise TeamConfigError(f"team name {str(name)[:64]!r} is not valid; use 1-63 letters, digits and '_', "
                                  "not starting with a digit")
        _check_posted(data, "posted team")
        team = team_from_dict(data, f"team {name}")
        filename = self.files().get(name, f"{name}.yaml")
        target = self.root / filename
        existing = self._entries.get(filename)
        ours = existing is not None and existing.team is not None and existing.team.name == name
        if (target.exists() or target.is_symlink()) and not ours:
            raise TeamConfigError(f"{filename} exists and does not define team {name!r}; fix or remove it first")
        _atomic_write(self.root, filename, text.encode("utf-8"))
        replaced = name in self.teams
        self.scan()
        return team, replaced


def _check_posted(node: Any, where: str) -> None:
    """Refuse what a team posted over HTTP may not name (endpoints, key variables, MCP programs)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _POSTED_FORBIDDEN:
                raise TeamConfigError(f"{where}: {key!r} is not allowed in a team posted over HTTP (it could send "
                                      "the server's keys elsewhere, start programs or import code); put such a "
                                      "file in the --teams directory yourself")
            _check_posted(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_posted(value, f"{where}[{i}]")


def _atomic_write(root: Path, filename: str, data: bytes) -> None:
    """Write ``root/filename`` through a fresh temporary file (O_EXCL, no symlink followed) and a rename."""
    tmp = root / f".{filename}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o640)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / filename)  # replaces a symlink itself, never its target
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
