"""``llmteam serve`` end to end: a real uvicorn server on a spare 127.0.0.1 port, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("uvicorn", reason="the server extra is not installed: pip install 'llmteam[server]'")

from tests.server.conftest import TEAM_YAML, cli, serving, spare_port  # noqa: E402


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``llmteam serve`` on the embedded defaults (a SQLite file in the working directory)."""
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "support.yaml").write_text(TEAM_YAML)
    with serving(tmp_path, "--teams", "teams") as base:
        yield base, tmp_path


def test_serve_end_to_end_with_a_cli_key(served: tuple[str, Path]) -> None:
    base, cwd = served
    created = cli("keys", "create", "--tenant", "acme", "--scope", "runs:write,runs:read,usage:read,audit:read",
                  cwd=cwd)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=60) as client:
        assert client.get("/readyz").json()["status"] == "ok"
        r = client.post("/v1/runs", json={"team": "support", "input": {"query": "My invoice is wrong"}},
                        headers=auth)
        assert r.status_code == 201, r.text
        run_id = r.json()["run_id"]
        assert client.get(f"/v1/runs/{run_id}", headers=auth).json()["status"] == "completed"
        assert client.get("/v1/usage", headers=auth).json()["runs"] == 1
        assert client.get("/v1/audit/verify", headers=auth).json()["ok"] is True
        assert client.get("/v1/runs", headers={"Authorization": "Bearer " + token[:-1] + "x"}).status_code == 401
        r = client.post("/v1/runs", content=b"x" * (2 << 20), headers={**auth, "Content-Type": "application/json"})
        assert r.status_code == 413
        assert "server" not in {k.lower() for k in r.headers}  # no version banner
        assert client.get("/docs").status_code == 200
    # what the server wrote, the CLI reads: one store URL for both
    listed = cli("tenants", "list", "--json", cwd=cwd)
    assert '"acme"' in listed.stdout


def test_serve_refuses_a_bad_teams_directory(tmp_path: Path) -> None:
    done = cli("serve", "--teams", "does-not-exist", "--port", str(spare_port()), cwd=tmp_path)
    assert done.returncode == 2 and "not a directory" in done.stderr
