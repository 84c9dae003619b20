"""Session tokens are kept hashed in the database: they work on every instance sharing it, and die with the session."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import (
    fresh_postgres_database,
    live_server,
    maestro_env,
    postgres_url_or_skip,
    redis_url_or_skip,
    wait_for,
)

# The agent leaves its token where the test can use it (as an agent would use it), then waits to be stopped.
AGENT = """import os, pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text(os.environ["MAESTRO_TOKEN"])
time.sleep(120)
"""


def report(url: str, session_id: str, token: str, message: str) -> int:
    response = httpx.post(
        f"{url}api/v1/sessions/{session_id}/reports",
        json={"kind": "progress", "message": message},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return response.status_code


@pytest.mark.postgres
def test_a_token_works_on_every_instance_and_is_revoked_everywhere_when_its_session_ends(tmp_path: Path):
    redis_url = redis_url_or_skip()
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    token_file = tmp_path / "token"
    with fresh_postgres_database(postgres_url_or_skip()) as db_url:
        env_a = maestro_env(tmp_path / "a", MAESTRO_DATABASE_URL=db_url, MAESTRO_REDIS_URL=redis_url)
        env_b = maestro_env(tmp_path / "b", MAESTRO_DATABASE_URL=db_url, MAESTRO_REDIS_URL=redis_url)
        with live_server(tmp_path / "a", env=env_a) as a, live_server(tmp_path / "b", env=env_b) as b:
            with a.client() as api:
                project = api.post("/api/v1/projects", json={"name": "p", "working_dir": str(tmp_path)}).json()
                profile = {"argv": [sys.executable, str(script), str(token_file)]}
                assert api.put("/api/v1/profiles/holder", json=profile).status_code in (200, 201)
                session = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "holder"}).json()
                token = wait_for(lambda: token_file.exists() and token_file.read_text())

                assert report(a.url, session["id"], token, "on the instance that runs it") == 201
                assert report(b.url, session["id"], token, "on another instance") == 201  # found in the database
                assert report(b.url, session["id"], token[:-2] + "xx", "a guess") == 401

                assert api.post(f"/api/v1/sessions/{session['id']}/stop").status_code == 200
            assert report(a.url, session["id"], token, "after the end") == 401
            # B had cached the grant: the session.status_changed event revokes it there too.
            wait_for(lambda: report(b.url, session["id"], token, "after the end") == 401, timeout=5)
