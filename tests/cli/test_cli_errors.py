"""No traceback from the real ``llmteam`` command, whatever the input: one line naming the error, and a hint.

Every subcommand is driven with bad input (exit 2 usage errors, 1 failures); with ``--json`` errors are JSON on
stderr; an unexpected exception says how to see its traceback (``LLMTEAM_DEBUG=1``); corrupted, read-only and
missing paths get a message instead of a stack.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from llmteam.cli import app
from llmteam.cli._errors import describe

from .conftest import Done, read_only_prefix, run_llmteam

TEAM = """team: t
llm: {provider: scripted, default: fine}
agents:
  - {name: greeter, prompt: "hello {name}"}
"""


def leaf_commands() -> list[list[str]]:
    """Every runnable command path of the app (``["tenants", "create"]``, ``["demo"]``, ...)."""
    out: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            out.append(path)

    walk(typer.main.get_command(app), [])
    return out


def no_traceback(done: Done) -> None:
    assert "Traceback" not in done.text, done.text
    assert 'File "' not in done.text, done.text


def json_error(done: Done) -> dict[str, object]:
    lines = [line for line in done.err.splitlines() if line.strip()]
    assert len(lines) == 1, done.err
    body = json.loads(lines[0])["error"]
    assert body["exit_code"] == done.code and body["message"]
    return body


COMMANDS = leaf_commands()


def test_the_sweep_sees_every_subcommand() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"demo", "run", "tenants create", "tenants list", "tenants show", "tenants update", "audit verify",
            "audit export", "audit prove", "audit checkpoint", "audit public-key", "mine map", "mine export",
            "mine metrics", "license keygen", "license issue", "license status"} <= names


@pytest.mark.parametrize("command", [["demo"], ["tenants", "create"], ["mine", "map"]], ids=lambda c: "-".join(c))
def test_an_unknown_option_is_a_usage_error(command: list[str], llmteam) -> None:
    text = llmteam(*command, "--no-such-option")
    assert text.code == 2, text.text
    no_traceback(text)
    assert "--no-such-option" in text.err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c))
def test_every_subcommand_rejects_an_unknown_option_with_exit_2_and_json(command: list[str], llmteam) -> None:
    as_json = llmteam(*command, "--no-such-option", "--json")
    assert as_json.code == 2 and as_json.out == ""
    body = json_error(as_json)
    assert "--no-such-option" in str(body["message"]) and "--help" in str(body["hint"])


BAD_INPUT: list[tuple[list[str], int, str]] = [
    (["demo", "--db", "bogus://x"], 2, "bogus"),
    (["demo", "--out-dir", "/proc/nope/x"], 2, "--out-dir"),
    (["run", "missing.yaml", "--tenant", "a"], 2, "missing.yaml"),
    (["run", "team.yaml", "--tenant", "a", "--input", "[1"], 2, "not valid JSON"),
    (["run", "team.yaml", "--tenant", "a", "--input", "@deep.json"], 2, "nested too deeply"),
    (["run", "team.yaml", "--tenant", "a", "--input", '{"name": ' + "9" * 5000 + "}"], 2, "digits"),
    (["run", "team.yaml", "--tenant", "a", "--input", '{"greeter": "x", "name": "n"}'], 2, "clash"),
    (["run", "team.yaml", "--tenant", "a", "--input", '{"name": "n"}', "--db", "postgresql://nobody@127.0.0.1:1/x"],
     1, "cannot connect"),
    (["tenants", "create", " "], 2, "tenant id"),
    (["tenants", "create", "acme", "--enable", "bogus_feature"], 2, "bogus_feature"),
    (["tenants", "create", "acme", "--max-agents", "-1"], 2, "--max-agents must be >= 0"),
    (["tenants", "create", "acme", "--tier", "platinum"], 2, "platinum"),
    (["tenants", "show", "nosuch"], 1, "nosuch"),
    (["tenants", "update", "nosuch", "--name", "x"], 1, "nosuch"),
    (["tenants", "update", "acme"], 2, "nothing to update"),
    (["tenants", "list", "--db", "bogus://x"], 2, "bogus"),
    (["tenants", "list", "--limit", "0"], 2, "--limit"),
    (["audit", "verify", "--db", "bogus://x"], 2, "bogus"),
    (["audit", "export", "--format", "xml"], 2, "xml"),
    (["audit", "prove", "abc"], 2, "abc"),
    (["audit", "checkpoint", "--db", "bogus://x"], 2, "bogus"),
    (["audit", "public-key", "--db", "bogus://x"], 2, "bogus"),
    (["mine", "map"], 2, "--out"),
    (["mine", "map", "-f", "png", "-o", "/nonexistent/x.png"], 2, "/nonexistent"),
    (["mine", "map", "-f", "gif"], 2, "gif"),
    (["mine", "export", "-o", "/nonexistent/x.xes"], 2, "/nonexistent"),
    (["mine", "metrics", "--input", "nope.xes"], 1, "nope.xes"),
    (["license", "keygen", "--out", "/proc/nope"], 1, "/proc/nope"),
    (["license", "issue", "--tier", "PRO", "--owner", "ACME", "--expires", "someday", "--private-key", "k.pem"],
     1, "someday"),
]


@pytest.mark.parametrize(("args", "code", "needle"), BAD_INPUT, ids=lambda v: " ".join(v) if isinstance(v, list)
                         else None)
def test_bad_input_gets_a_message_and_the_right_exit_code(args: list[str], code: int, needle: str, llmteam,
                                                          tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM)
    (tmp_path / "deep.json").write_text("[" * 100_000)
    done = llmteam(*args)
    no_traceback(done)
    assert done.code == code, done.text
    assert needle in done.err, done.err
    assert done.err.lower().startswith(("error:", "usage:", "\n", " ", "╭")), done.err


def test_output_paths_in_missing_directories(llmteam) -> None:
    assert llmteam("demo", "--json").code == 0
    for args in (["audit", "export", "--out", "/nonexistent/dir/a.jsonl"],
                 ["mine", "export", "-o", "/nonexistent/dir/log.xes"],
                 ["mine", "map", "-f", "png", "-o", "/nonexistent/dir/map.png"]):
        done = llmteam(*args)
        no_traceback(done)
        assert done.code in (1, 2) and "/nonexistent" in done.err, (args, done.err)


def test_json_errors_are_json_on_stderr(llmteam, tmp_path: Path) -> None:
    done = llmteam("tenants", "create", " ", "--json")
    assert done.code == 2 and done.out == ""
    body = json_error(done)
    assert "tenant id" in str(body["message"]) and body["hint"]
    done = llmteam("tenants", "show", "nosuch", "--json")
    assert done.code == 1 and "nosuch" in str(json_error(done)["message"])
    (tmp_path / "team.yaml").write_text(TEAM)
    done = llmteam("run", "team.yaml", "--tenant", "a", "--input", "[1", "--json")
    assert done.code == 2 and "not valid JSON" in str(json_error(done)["message"])


def test_audit_and_license_errors_are_json_too(llmteam, tmp_path: Path) -> None:
    done = llmteam("audit", "verify", "--db", f"sqlite:///{tmp_path / 'typo.db'}", "--json")
    assert done.code == 1 and "typo.db" in str(json_error(done)["message"])
    done = llmteam("audit", "verify", "--db", "bogus://x", "--json")
    assert done.code == 2 and "bogus" in str(json_error(done)["message"])
    done = llmteam("license", "status", "--public-key", str(tmp_path / "nope.pub"), "--json")
    assert done.code == 1 and "--public-key" in str(json_error(done)["message"])


def test_input_file_content_is_never_echoed(llmteam, tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM)
    secret = tmp_path / "notes.txt"
    secret.write_text("root-password=hunter2 SECRET-LINE\n" * 3)
    done = llmteam("run", "team.yaml", "--tenant", "a", "--input", f"@{secret}")
    assert done.code == 2 and "notes.txt" in done.err and "not valid JSON" in done.err
    assert "hunter2" not in done.text and "SECRET" not in done.text


def corrupt_db(tmp_path: Path) -> Path:
    db = tmp_path / ".llmteam" / "llmteam.db"
    db.parent.mkdir()
    db.write_bytes(b"this is not a database, just some text that fills a page. " * 100)
    return db


@pytest.mark.parametrize("args", [["demo"], ["run", "team.yaml", "--tenant", "a", "--input", '{"name": "n"}'],
                                  ["tenants", "list"],
                                  ["tenants", "create", "acme"], ["audit", "verify"], ["mine", "metrics"]],
                         ids=lambda a: "-".join(a))
def test_a_corrupted_sqlite_file_is_named_not_a_traceback(args: list[str], llmteam, tmp_path: Path) -> None:
    corrupt_db(tmp_path)
    (tmp_path / "team.yaml").write_text(TEAM)
    done = llmteam(*args)
    no_traceback(done)
    assert done.code == 1, done.text
    assert "not a database" in done.err


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(llmteam, tmp_path: Path) -> None:
    corrupt_db(tmp_path)
    done = llmteam("tenants", "list")
    lines = done.err.strip().splitlines()
    assert done.code == 1 and lines[0].startswith("error: DatabaseError")
    assert "LLMTEAM_DEBUG=1" in done.err and "Traceback" not in done.err
    debug = llmteam("tenants", "list", env={"LLMTEAM_DEBUG": "1"})
    assert debug.code == 1 and "Traceback" in debug.err and "DatabaseError" in debug.err


def test_describe_names_any_exception_and_asks_for_a_report() -> None:
    message, code, hint = describe(RuntimeError("boom"))
    assert message == "RuntimeError: boom" and code == 1 and "report" in hint
    message, code, hint = describe(RecursionError())
    assert code == 2 and "deeply" in message


def ro_prefix_or_skip(directory: Path) -> tuple[str, ...]:
    prefix = read_only_prefix(directory)
    if prefix is None:
        pytest.skip("cannot make a directory read-only here (root without mount namespaces)")
    if prefix == ():
        directory.chmod(0o555)
    return prefix


def test_read_only_working_directory(tmp_path: Path) -> None:
    work = tmp_path / "ro"
    work.mkdir()
    prefix = ro_prefix_or_skip(work)
    try:
        for args in (["demo"], ["tenants", "list"], ["tenants", "create", "acme"]):
            done = run_llmteam(*args, cwd=work, prefix=prefix)
            no_traceback(done)
            assert done.code == 1, done.text
            assert "writable" in done.err or "no database" in done.err  # reading commands never create one
    finally:
        work.chmod(0o755)


def test_an_auditors_read_only_copy_can_be_verified_exported_and_listed(tmp_path: Path) -> None:
    work = tmp_path / "copy"
    work.mkdir()
    made = run_llmteam("demo", "--json", cwd=work)
    assert made.code == 0, made.text
    prefix = ro_prefix_or_skip(work)
    try:
        verify = run_llmteam("audit", "verify", "--json", cwd=work, prefix=prefix)
        assert verify.code == 0, verify.text
        assert json.loads(verify.out)[0]["ok"] is True
        export = run_llmteam("audit", "export", cwd=work, prefix=prefix)
        assert export.code == 0 and len(export.out.splitlines()) >= 7, export.text
        listed = run_llmteam("tenants", "list", "--json", cwd=work, prefix=prefix)
        assert listed.code == 0 and [t["tenant_id"] for t in json.loads(listed.out)] == ["demo"], listed.text
        refused = run_llmteam("tenants", "create", "acme", cwd=work, prefix=prefix)
        no_traceback(refused)
        assert refused.code == 1 and "readonly" in refused.err
    finally:
        work.chmod(0o755)


def test_mine_export_never_names_its_temporary_file(tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    assert run_llmteam("demo", "--json", cwd=work).code == 0
    out_dir = work / "out"
    out_dir.mkdir()
    prefix = ro_prefix_or_skip(out_dir)
    try:
        done = run_llmteam("mine", "export", "-o", "out/log.xes", cwd=work, prefix=prefix)
        no_traceback(done)
        assert done.code == 1 and "out/log.xes" in done.err and ".tmp" not in done.err, done.err
    finally:
        out_dir.chmod(0o755)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="no unshare")
def test_read_only_prefix_really_makes_the_directory_read_only(tmp_path: Path) -> None:
    prefix = ro_prefix_or_skip(tmp_path)
    try:
        proc = subprocess.run([*prefix, "touch", str(tmp_path / "x")], capture_output=True)
        assert proc.returncode != 0 and not (tmp_path / "x").exists()
    finally:
        tmp_path.chmod(0o755)
