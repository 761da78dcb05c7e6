"""Team-file YAML parsing with bounds: document size, alias expansion and nesting depth (no YAML bombs).

PyYAML shares the object behind an alias, so a 550-byte file of nested aliases is tiny in memory until something
walks it (a repr in an error message, JSON for a model request) and visits 9**9 leaves. We therefore measure the
composed node graph *as if expanded* before constructing any Python object, and refuse a file that would grow
beyond ``EXPANSION_FACTOR`` times its own size (at least ``MIN_EXPANDED`` characters), nests deeper than
``MAX_DEPTH``, or is recursive.
"""

from __future__ import annotations

from typing import Any

from llmteam.team._errors import TeamConfigError

MAX_TEAM_FILE_BYTES = 1 << 20
EXPANSION_FACTOR = 4
MIN_EXPANDED = 64 << 10
MAX_DEPTH = 64


def read_team_text(path: Any, label: str) -> str:
    """The UTF-8 text of a team file, refusing files over ``MAX_TEAM_FILE_BYTES`` without reading them whole."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TEAM_FILE_BYTES + 1)
    except OSError as exc:
        raise TeamConfigError(f"cannot read team file {label!r}: {exc.strerror or exc}") from None
    if len(data) > MAX_TEAM_FILE_BYTES:
        raise _too_large(f"team file {label!r}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TeamConfigError(f"team file {label!r} is not UTF-8 text (byte {exc.start})") from None


def parse_team_yaml(text: str, label: str) -> Any:
    """``yaml.safe_load(text)`` within the bounds above; every failure is a TeamConfigError naming ``label``."""
    import yaml

    if len(text) > MAX_TEAM_FILE_BYTES:
        raise _too_large(label)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, label, max(MIN_EXPANDED, EXPANSION_FACTOR * len(text)))
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise TeamConfigError(f"{label} is not valid YAML: {exc}") from None
    except RecursionError:
        raise TeamConfigError(f"{label}: YAML nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError as exc:  # a scalar PyYAML cannot convert, e.g. an integer of more than 4300 digits
        raise TeamConfigError(f"{label}: a YAML value cannot be read: {str(exc)[:200]}") from None
    finally:
        loader.dispose()


def _too_large(what: str) -> TeamConfigError:
    return TeamConfigError(f"{what} is larger than {MAX_TEAM_FILE_BYTES} bytes; a team definition is a few kilobytes")


def _children(node: Any) -> list[Any]:
    value = node.value
    if isinstance(value, str):
        return []
    return [part for item in value for part in (item if isinstance(item, tuple) else (item,))]


def _check_expansion(root: Any, label: str, limit: int) -> None:
    """Refuse a node graph whose expansion exceeds ``limit`` characters, MAX_DEPTH levels, or that has a cycle."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: meeting one again is a recursive alias
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            kids = _children(node)
            size = 1 + (len(node.value) if isinstance(node.value, str) else sum(sizes[id(k)] for k in kids))
            depth = 1 + max((depths[id(k)] for k in kids), default=0)
            if size > limit:
                raise TeamConfigError(
                    f"{label}: YAML aliases expand the document beyond {limit} characters (alias bomb?); "
                    "write the repeated parts out or use fewer aliases"
                )
            if depth > MAX_DEPTH:
                raise TeamConfigError(f"{label}: YAML nested too deeply (at most {MAX_DEPTH} levels)")
            sizes[key], depths[key] = size, depth
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise TeamConfigError(f"{label}: a YAML alias refers to a node that contains it (recursive alias)")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in sizes)
