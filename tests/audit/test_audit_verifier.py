"""The standalone verifier imports nothing from llmteam, works as a script on JSON files, and writes the one
canonical record text (its template equal to the contract's json.dumps form)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import llmteam.audit.verifier as verifier_module
from llmteam.audit import AuditEventType, AuditLedger, AuditTrail, SigningKey
from llmteam.audit.stores import MemoryAuditStore
from llmteam.audit.verifier import (
    RECORD_FIELDS,
    canonical_json,
    canonical_record_json,
    canonical_record_parts,
    canonical_record_values,
)

SRC = Path(verifier_module.__file__)


def test_imports_only_stdlib_and_cryptography(tmp_path: Path) -> None:
    copy = tmp_path / "verifier.py"
    copy.write_text(SRC.read_text())
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import verifier; "
        "bad = [m for m in sys.modules if m.startswith('llmteam')]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=tmp_path)
    imports = [line for line in SRC.read_text().splitlines() if line.startswith(("import", "from"))]
    assert not any("llmteam" in line for line in imports)


async def test_script_accepts_good_and_rejects_tampered(tmp_path: Path) -> None:
    store = MemoryAuditStore()
    await AuditTrail(store, tenant_id="t", use_context_tenant=False).log_many(
        [{"event_type": AuditEventType.DATA_CREATED}] * 9)
    key = SigningKey.generate()
    ledger = AuditLedger(store, key)
    old = await ledger.checkpoint("t")
    await AuditTrail(store, tenant_id="t", use_context_tenant=False).log(AuditEventType.DATA_UPDATED)
    bundle = await ledger.prove_inclusion("t", 4)
    bundle["consistency"] = await ledger.prove_consistency("t", 9, 10)
    (tmp_path / "k.pub").write_text(key.public_key_b64)
    (tmp_path / "p.json").write_text(json.dumps(bundle))
    (tmp_path / "old.json").write_text(json.dumps(old))
    copy = tmp_path / "verifier.py"
    copy.write_text(SRC.read_text())
    run = [sys.executable, str(copy), "--public-key", str(tmp_path / "k.pub"), str(tmp_path / "p.json")]
    assert subprocess.run([*run, str(tmp_path / "old.json")], capture_output=True).returncode == 0
    bundle["record"]["actor_id"] = "mallory"
    (tmp_path / "p.json").write_text(json.dumps(bundle))
    bad = subprocess.run(run, capture_output=True, text=True)
    assert bad.returncode == 1 and "modified" in bad.stderr


async def _bundle_files(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, object], SigningKey]:
    """A 10-record log, a checkpoint at 9, an inclusion proof for #5 with a 9->10 consistency proof."""
    store = MemoryAuditStore()
    trail = AuditTrail(store, tenant_id="t", use_context_tenant=False)
    await trail.log_many([{"event_type": AuditEventType.DATA_CREATED}] * 9)
    key = SigningKey.generate()
    ledger = AuditLedger(store, key)
    old = await ledger.checkpoint("t")
    await trail.log(AuditEventType.DATA_UPDATED)
    bundle = await ledger.prove_inclusion("t", 5)
    bundle["consistency"] = await ledger.prove_consistency("t", 9, 10)
    pub, proof, old_path = tmp_path / "k.pub", tmp_path / "p.json", tmp_path / "old.json"
    pub.write_text(key.public_key_b64)
    proof.write_text(json.dumps(bundle))
    old_path.write_text(json.dumps(old))
    return pub, proof, old_path, bundle, key


async def test_main_in_process_accepts_a_good_bundle_and_consistency(tmp_path: Path, capsys: object) -> None:
    pub, proof, old, _, _ = await _bundle_files(tmp_path)
    assert verifier_module.main(["--public-key", str(pub), str(proof), str(old)]) == 0


async def test_main_rejects_a_wrong_key_a_truncated_log_and_a_moved_leaf(tmp_path: Path) -> None:
    pub, proof, old, bundle, _ = await _bundle_files(tmp_path)
    other = tmp_path / "other.pub"
    other.write_text(SigningKey.generate().public_key_b64)
    assert verifier_module.main(["--public-key", str(other), str(proof)]) == 1
    # a consistency proof for a log that no longer extends the old checkpoint (e.g. after truncation)
    forged = dict(bundle, consistency={"first": 9, "second": 10, "path": ["00" * 32]})
    proof.write_text(json.dumps(forged))
    assert verifier_module.main(["--public-key", str(pub), str(proof), str(old)]) == 1
    # the record claims another position in the tree than the one the proof is for
    moved = json.loads(json.dumps(bundle))
    moved["leaf_index"] = 6
    proof.write_text(json.dumps(moved))
    assert verifier_module.main(["--public-key", str(pub), str(proof)]) == 1


async def test_main_reports_missing_files_and_malformed_input(tmp_path: Path) -> None:
    pub, proof, _, _, _ = await _bundle_files(tmp_path)
    assert verifier_module.main(["--public-key", str(tmp_path / "absent.pub"), str(proof)]) == 1
    proof.write_text(json.dumps({"record": {}, "checkpoint": {}}))
    assert verifier_module.main(["--public-key", str(pub), str(proof)]) == 1


async def test_checkpoint_only_bundle_and_pem_public_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    pub, _, old, _, key = await _bundle_files(tmp_path)
    pem = Ed25519PublicKey.from_public_bytes(verifier_module.load_public_key(key.public_key_b64)).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem_path = tmp_path / "k.pem"
    pem_path.write_bytes(pem)
    only_cp = tmp_path / "cp.json"
    only_cp.write_text(json.dumps({"checkpoint": json.loads(old.read_text())}))
    assert verifier_module.main(["--public-key", str(pem_path), str(only_cp)]) == 0
    import pytest

    with pytest.raises(verifier_module.VerificationError, match="32 bytes"):
        verifier_module.load_public_key("AAAA")


async def test_main_explains_a_json_array_and_refuses_version_1(tmp_path: Path, capsys: Any) -> None:
    pub, _, old, _, _ = await _bundle_files(tmp_path)
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps([{"checkpoint": json.loads(old.read_text())}]))
    assert verifier_module.main(["--public-key", str(pub), str(listing)]) == 1
    assert "JSON array" in capsys.readouterr().err
    v1 = tmp_path / "v1.json"
    v1.write_text(json.dumps({**json.loads(old.read_text()), "version": 1}))
    assert verifier_module.main(["--public-key", str(pub), str(v1)]) == 1
    assert "version 1" in capsys.readouterr().err


async def test_a_proof_from_another_base_size_cannot_be_checked_but_is_no_tamper_alarm(
    tmp_path: Path, capsys: Any
) -> None:
    pub, proof, old, bundle, _ = await _bundle_files(tmp_path)
    proof.write_text(json.dumps({**bundle, "consistency": {"first": 3, "second": 10, "path": []}}))
    assert verifier_module.main(["--public-key", str(pub), str(proof), str(old)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("CANNOT CHECK") and "--consistency-from 9" in err


def test_python_dash_m_prints_no_runpy_warning() -> None:
    res = subprocess.run([sys.executable, "-W", "error", "-m", "llmteam.audit.verifier", "--help"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0 and res.stderr == "", res.stderr


# -- the canonical record text: the template against the contract's json.dumps form, on the same values ----------
_any_scalar = (st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text()
               | st.text(st.characters(max_codepoint=0x3F)) | st.sampled_from(["\ud800", "\u2028", '"', "\\", "\x7f"]))
_any_json = st.recursive(_any_scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c,
                                                                                            max_size=3), max_leaves=8)
_plain_text = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters='"\\'), max_size=12)


@st.composite
def _record_values(draw: st.DrawFn) -> tuple[object, ...]:
    """The 24 values of a record: each field usually of its usual type (so the template serves it), any one of
    them, often, anything at all (a string needing an escape, a number, None, a nested value...)."""
    usual: dict[str, st.SearchStrategy[object]] = {
        "metadata": st.dictionaries(st.text(max_size=4), _any_json, max_size=3),
        "tags": st.lists(st.text(), max_size=3),
        "new_value": st.none() | st.dictionaries(st.text(max_size=4), _any_json, max_size=2),
        "old_value": st.none() | st.just({}), "sequence_number": st.integers(-(2**70), 2**70),
        "success": st.booleans(),
    }
    values = {name: draw(usual.get(name, _plain_text)) for name in RECORD_FIELDS}
    for name in draw(st.lists(st.sampled_from(RECORD_FIELDS), max_size=2)):
        values[name] = draw(_any_json)
    return tuple(values[name] for name in RECORD_FIELDS)


@settings(max_examples=400, deadline=None)
@given(_record_values())
def test_canonical_record_values_is_the_contract_json(values: tuple[object, ...]) -> None:
    body = dict(zip(RECORD_FIELDS, values, strict=True))
    expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert canonical_record_values(values) == expected
    assert canonical_record_json({**body, "checksum": "x"}) == expected  # the verifier's own entry point


def test_the_template_serves_the_usual_record() -> None:
    values = tuple({"sequence_number": 7, "success": True, "metadata": {"k": [1, "é"]}, "tags": ["t"],
                    "new_value": None, "old_value": {}}.get(name, f"v-{name}") for name in RECORD_FIELDS)
    text = canonical_record_values(values)
    assert text == json.dumps(dict(zip(RECORD_FIELDS, values, strict=True)), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False)
    with pytest.raises(ValueError, match="expected the 24 values"):
        canonical_record_values(values[:-1])
    assert canonical_record_json({"extra": 1}) == '{"extra":1}'  # not a record's fields: the encoder as it is


def test_the_template_escapes_nothing_the_encoder_escapes_and_serves_what_it_writes_as_it_is() -> None:
    # with ensure_ascii=False the encoder escapes '"', '\\' and U+0000..U+001F only: those go to the encoder, any
    # other character (DEL, a line separator, a lone surrogate, any letter) is written by the template as it is
    def values(action: str) -> tuple[object, ...]:
        return tuple({"sequence_number": 1, "success": True, "metadata": {}, "tags": [], "new_value": None,
                      "old_value": None, "action": action}.get(name, "v") for name in RECORD_FIELDS)

    for text in ("\x7f", "\u2028", "\x85", "\ud800", "é中🙂", " ~"):
        parts = canonical_record_parts(values(text))
        assert parts is not None and "".join(parts) == _contract_json(dict(zip(RECORD_FIELDS, values(text))))
    for text in [chr(c) for c in range(0x20)] + ['"', "\\", "ok\n", 'é"']:
        assert canonical_record_parts(values(text)) is None, repr(text)
        assert canonical_record_values(values(text)) == _contract_json(dict(zip(RECORD_FIELDS, values(text))))


# -- a nested field's text (a tool call's flat metadata...) against the contract's json.dumps form ----------------
class _Text(str):
    def __str__(self) -> str:
        return "not the text"


class _Number(int):
    def __repr__(self) -> str:
        return "not the number"


_flat_key = st.text(max_size=6) | st.sampled_from(['"k', "k\\", "\n", "\u2028", "\ud800", "\x7f", "é中", ""])
_flat_value = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
               | st.sampled_from(['"', "\\", "\x7f", "\u2028", "\ud800", "é中🙂", "-0"])
               | st.builds(_Text, st.text(max_size=3)) | st.builds(_Number, st.integers()) | st.just(-0.0))
_odd_key = (st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
            | st.builds(_Text, st.text(max_size=2)))


def _contract_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_flat_key, _flat_value, max_size=8)
       | st.dictionaries(_flat_key | _odd_key, _flat_value | _any_json, max_size=4))
def test_a_flat_dict_is_written_as_the_contract_json(value: dict[object, object]) -> None:
    try:
        expected = _contract_json(value)
    except (TypeError, ValueError) as exc:  # keys that cannot be sorted: the same refusal
        with pytest.raises(type(exc)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_a_tool_calls_metadata_and_odd_dicts_are_written_as_the_contract_json() -> None:
    metadata = {"tool": "lookup_invoice", "decision": "allow", "args_digest": "c3" * 32, "duration_ms": 12.5,
                "attempt": 1, "cached": False, "error": None, "risk": "élevé"}
    for value in (metadata, {}, [], None, {"k": [1]}, {"k": {"a": 1}}, {1: "a"}, {"k": float("nan")},
                  {"k": float("inf")}, {"k": 'say "hi"'}, {'k"': 1}, {"k": "a\\b"}, {"k": "\n"}, {"k": _Text("x")},
                  {_Text("k"): 1}, {"k": _Number(3)}, {"k": b"x"}):
        assert canonical_json(value) == _contract_json(value), value


@settings(max_examples=200, deadline=None)
@given(_record_values())
@example(tuple({"sequence_number": 0, "success": False, "tags": [], "new_value": None, "old_value": None}.get(name, "")
               for name in RECORD_FIELDS))  # found by hypothesis: metadata "" (a nested field holding a str)
def test_the_record_pieces_join_to_the_contract_json_and_hold_each_fields_text(values: tuple[object, ...]) -> None:
    parts = canonical_record_parts(values)
    if parts is None:  # left to the encoder
        return
    assert "".join(parts) == _contract_json(dict(zip(RECORD_FIELDS, values, strict=True)))
    for i, value in enumerate(values):  # a text field's piece is its text; a nested field's, its JSON (also of a str)
        expected = _contract_json(value)
        text = isinstance(value, str) and RECORD_FIELDS[i] not in ("metadata", "new_value", "old_value", "tags")
        assert parts[2 * i + 1] == (expected[1:-1] if text else expected)
