"""`maestro export`, `maestro import FILE` and `maestro import --from-maestro DIR` against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import as_json, cli, failed, new_project, ok
from tests.helpers import LiveServer, live_server

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_maestro"
TABLES = ("projects", "tasks", "dependencies", "sessions", "task_sessions", "timeline")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("cli-transfer") / "home") as running:
        yield running


def test_export_then_import_restores_everything(server: LiveServer, tmp_path: Path):
    new_project(server, tmp_path / "alpha", "Alpha")
    root = as_json(cli(server, "task", "create", "Root", "--project", "Alpha", "--json"))
    child = as_json(cli(server, "task", "create", "Child", "--parent", root["id"], "--json"))
    ok(cli(server, "task", "dep", "add", root["id"], child["id"]))

    summary = as_json(cli(server, "export", str(tmp_path / "all.json"), "--json"))
    document = json.loads((tmp_path / "all.json").read_text())
    assert document["format"] == "maestro-export" and summary["path"] == str(tmp_path / "all.json")
    assert summary["counts"] == {table: len(document[table]) for table in TABLES}
    assert summary["counts"]["tasks"] == 2 and summary["counts"]["dependencies"] == 1
    assert summary["bytes"] == (tmp_path / "all.json").stat().st_size
    streamed = json.loads(ok(cli(server, "export", "-")))
    assert {k: v for k, v in streamed.items() if k != "exported_at"} == {
        k: v for k, v in document.items() if k != "exported_at"
    }
    assert "exported 1 projects, 2 tasks, 1 dependencies" in ok(cli(server, "export", str(tmp_path / "again.json")))
    assert not list(tmp_path.glob("*.part"))
    assert "no such folder" in failed(cli(server, "export", str(tmp_path / "nope" / "all.json")), 2)

    ok(cli(server, "project", "delete", "Alpha", "--cascade"))
    assert as_json(cli(server, "task", "list", "--json")) == []
    result = as_json(cli(server, "import", str(tmp_path / "all.json"), "--json"))
    assert result["counts"] == summary["counts"]
    tasks = {t["id"]: t for t in as_json(cli(server, "task", "list", "--json"))}
    assert tasks[child["id"]]["parent_id"] == root["id"] and tasks[root["id"]]["dependencies"] == [child["id"]]

    twice = failed(cli(server, "import", str(tmp_path / "all.json")), 1)
    assert "nothing was imported" in twice and "409" in twice
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**document, "tasks": [{**document["tasks"][0], "id": "tsk_nope"}]}))
    bad = failed(cli(server, "import", str(broken)), 1)
    assert "tasks[0].id must be a task id" in bad
    assert "one of them" in failed(cli(server, "import"), 2)
    assert "one of them" in failed(cli(server, "import", str(broken), "--from-maestro", str(FIXTURE)), 2)


def test_import_from_the_original_maestro(server: LiveServer):
    report = as_json(cli(server, "import", "--from-maestro", str(FIXTURE), "--json"))
    assert report["counts"] == {
        "projects": 2, "tasks": 8, "dependencies": 1, "sessions": 3, "task_sessions": 4, "timeline": 14
    }  # fmt: skip
    assert report["data_dir"] == str(FIXTURE) and report["secrets_dropped"] > 0
    names = {p["name"] for p in as_json(cli(server, "project", "list", "--json"))}
    assert {"Website", "Bench"} <= names
    tree = as_json(cli(server, "task", "list", "--project", "Website", "--tree", "--json"))
    assert tree and all(node["task"]["parent_id"] is None for node in tree)

    again = failed(cli(server, "import", "--from-maestro", str(FIXTURE)), 1)
    assert "nothing was imported" in again
    missing = failed(cli(server, "import", "--from-maestro", str(FIXTURE / "nope")), 2)
    assert "does not exist" in missing
