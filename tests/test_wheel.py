"""The built wheel carries migrations and static assets, and `maestro serve` starts from a clean virtualenv."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.helpers import REPO, live_server, maestro_env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)], check=True, timeout=300
    )
    (built,) = out.glob("maestro_orchestrator-*.whl")
    return built


def test_wheel_contains_migrations_and_static_assets(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = {REPO / "app/db/migrations" / p.name for p in (REPO / "app/db/migrations").glob("maestro_*.py")}
    assert migrations
    for path in migrations:
        assert f"app/db/migrations/{path.name}" in names
    for asset in ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css", "favicon.svg"):
        assert f"app/static/{asset}" in names
    assert "ui/pages/board.py" in names
    assert not [n for n in names if n.startswith(("tests/", "e2e/"))]


def test_serve_from_a_clean_virtualenv(wheel: Path, tmp_path: Path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=600, env=maestro_env(tmp_path)
    )
    maestro = env_dir / "bin" / "maestro"
    assert maestro.exists()
    home = tmp_path / "home"
    with live_server(home, command=[str(maestro)], env=maestro_env(home)) as server:
        with server.client() as api:
            ready = api.get("/api/v1/ready").json()
            assert ready["status"] == "ready" and ready["migrations"]["pending"] == []
            assert api.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
            assert api.get("/schema/openapi.json").json()["openapi"].startswith("3.1")
        assert httpx.get(f"{server.url}?token={server.token}", follow_redirects=True).status_code == 200
        # It really runs the installed copy, not this checkout.
        assert (
            str(REPO)
            not in subprocess.run(
                [str(python), "-c", "import app; print(app.__file__)"],
                capture_output=True,
                text=True,
                check=True,
                cwd=tmp_path,
            ).stdout
        )
