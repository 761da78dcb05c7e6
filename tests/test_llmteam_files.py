"""``llmteam._files``: atomic replacement never writes through a symlink and leaves the target whole on error."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmteam._files import atomic_text_writer, atomic_write_bytes, atomic_write_text, create_exclusive


@pytest.mark.parametrize("write", [lambda p: atomic_write_text(p, "new"), lambda p: atomic_write_bytes(p, b"new")])
def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path, write: object) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "out"
    target.symlink_to(victim)
    write(target)  # type: ignore[operator]
    assert victim.read_text() == "precious" and not target.is_symlink() and target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_an_error_mid_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_text_writer(target) as fh:
        fh.write("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_exclusive_creation_refuses_anything_already_there(tmp_path: Path) -> None:
    dangling = tmp_path / "key"
    dangling.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        create_exclusive(dangling, "secret")
    assert not (tmp_path / "elsewhere").exists()
