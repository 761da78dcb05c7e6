"""JSON and JUnit reports, rewritten atomically (temp file + rename) so a reader never sees half a file."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ._state import CaseResult, ModuleState, totals

TYPE_CHECKING = False
if TYPE_CHECKING:
    import xml.etree.ElementTree as ET
    from typing import Any

_ILLEGAL_XML = {c: None for c in range(32) if c not in (9, 10, 13)}


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename; readers see the old or the new file, never a mix."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.urandom(6).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def json_report(states: list[ModuleState], meta: dict[str, Any], exit_code: int | None) -> dict[str, Any]:
    """The JSON document: modules, totals, exit_code (None while running) and run metadata."""
    return {
        "modules": [s.to_json() for s in states],
        "totals": totals(states),
        "exit_code": exit_code,
        "status": "running" if exit_code is None else "finished",
        "updated_at": time.time(),
        **meta,
    }


def _clean(text: str) -> str:
    return text.translate(_ILLEGAL_XML)


def junit_names(nodeid: str) -> tuple[str, str]:
    """(classname, name) of a node id exactly as pytest's JUnit writer derives them.

    The parametrize id (from the first ``[``) is kept whole, so ``::`` inside it (``[::1]``) never splits.
    """
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = names[0].replace("/", ".")
    if names[0].endswith(".py"):
        names[0] = names[0][:-3]
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def _case(suite: ET.Element, res: CaseResult) -> None:
    import xml.etree.ElementTree as ET  # imported on first use: the supervisor stays small without --junitxml

    classname, name = junit_names(res.nodeid)
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{res.duration:.3f}")
    first = _clean(res.text.strip().splitlines()[0][:500]) if res.text.strip() else ""
    if res.outcome == "failed":
        kind = f"culprit:{res.cause}" if res.cause else "failure"
        msg = f"worker killed: {res.cause}" if res.cause else (first or "test failed")
        ET.SubElement(case, "failure", type=kind, message=msg).text = _clean(res.text)
    elif res.outcome == "error":
        kind = f"culprit:{res.cause}" if res.cause else "error"
        msg = f"worker killed: {res.cause}" if res.cause else (first or "error in setup or teardown")
        ET.SubElement(case, "error", type=kind, message=msg).text = _clean(res.text)
    elif res.outcome == "skipped":
        ET.SubElement(case, "skipped", type="pytest.skip", message=_clean(res.text[:500]))
    elif res.outcome == "xfailed":
        ET.SubElement(case, "skipped", type="pytest.xfail", message=_clean(res.text[:500]))


def junit_xml(states: list[ModuleState]) -> bytes:
    """JUnit XML with one <testsuite> per module, cases named as pytest's own writer names them.

    Failures are ``<failure>``, setup/teardown and collection errors ``<error>``, skips and xfails
    ``<skipped type="pytest.skip|pytest.xfail">``; a culprit's element has type ``culprit:<cause>``.
    """
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites")
    for st in states:
        suite = ET.SubElement(
            root, "testsuite", name=st.name, tests=str(st.tests), failures=str(st.failed_total()),
            skipped=str(st.count("skipped") + st.count("xfailed")), errors=str(st.count("error")),
            time=f"{st.wall:.3f}",
        )
        for res in st.results.values():
            _case(suite, res)
        if st.status == "done":
            for nodeid in st.collected:
                if nodeid not in st.results:
                    classname, name = junit_names(nodeid)
                    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
                    ET.SubElement(case, "failure", type="not_run", message="never ran: its worker could not resume")
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


class Reporter:
    """Keeps the report files current during the run, throttled, and writes them finally at the end."""

    def __init__(self, json_path: str | None, junit_path: str | None, interval: float = 0.25) -> None:
        self._json = json_path
        self._junit = junit_path
        self._interval = interval
        self._last = 0.0
        self._dirty = True

    def touch(self) -> None:
        """Note that something changed."""
        self._dirty = True

    def maybe_write(self, states: list[ModuleState], meta: dict[str, Any], force: bool = False) -> None:
        """Rewrite the files if something changed and the throttle interval passed (or ``force``)."""
        now = time.monotonic()
        if not force and (not self._dirty or now - self._last < self._interval):
            return
        self.write(states, meta, None)

    def write(self, states: list[ModuleState], meta: dict[str, Any], exit_code: int | None) -> None:
        """Rewrite both files now, from one snapshot: JUnit first, then JSON.

        Each file is replaced in one rename, so a runner killed at any moment leaves both valid; killed between
        the two renames, the JUnit file is at most one snapshot ahead, never behind, of the JSON totals.
        """
        self._last, self._dirty = time.monotonic(), False
        junit = junit_xml(states) if self._junit else None
        doc = json.dumps(json_report(states, meta, exit_code), indent=1).encode() if self._json else None
        if self._junit and junit is not None:
            atomic_write(self._junit, junit)
        if self._json and doc is not None:
            atomic_write(self._json, doc)
