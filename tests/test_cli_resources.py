"""`maestro project …` and `maestro task …` against a real server: every command, --json parsed, human output read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import api, as_json, cli, failed, new_project, ok
from tests.helpers import LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module: each test makes its own project."""
    with live_server(tmp_path_factory.mktemp("cli-resources") / "home") as running:
        yield running


def test_project_commands(server: LiveServer, tmp_path: Path):
    created = new_project(server, tmp_path / "site", "Web site")
    assert created["name"] == "Web site" and created["working_dir"] == str(tmp_path / "site")
    here = as_json(cli(server, "project", "create", "Here", "--json", cwd=tmp_path))  # --dir defaults to "."
    assert here["working_dir"] == str(tmp_path)

    listed = as_json(cli(server, "project", "list", "--json"))
    assert {"Web site", "Here"} <= {p["name"] for p in listed}
    table = ok(cli(server, "project", "list"))
    assert "Web site" in table and created["id"] in table and str(tmp_path / "site") in table

    # A project is named by its id or by its name (in any letter case).
    assert as_json(cli(server, "project", "show", "web SITE", "--json"))["id"] == created["id"]
    as_json(cli(server, "task", "create", "Landing page", "--project", "Web site", "--json"))
    shown = ok(cli(server, "project", "show", created["id"]))
    assert "Web site" in shown and "1 (1 todo)" in shown and str(tmp_path / "site") in shown

    renamed = as_json(
        cli(server, "project", "update", "Web site", "--name", "Site", "--description", "# Ours", "--json")
    )
    assert (renamed["name"], renamed["description"]) == ("Site", "# Ours")
    assert "updated project Site" in ok(cli(server, "project", "update", "Site", "--dir", str(tmp_path)))

    taken = failed(cli(server, "project", "create", "Here", "--dir", str(tmp_path)), 1)
    assert "Here" in taken and "409" in taken
    unknown = failed(cli(server, "project", "show", "Nowhere"), 1)
    assert "no project named 'Nowhere'" in unknown and "'Here'" in unknown
    missing_dir = failed(cli(server, "project", "create", "Ghost", "--dir", str(tmp_path / "nope")), 1)
    assert "existing directory" in missing_dir

    busy = failed(cli(server, "project", "delete", "Site"), 1)
    assert "still has 1 task(s)" in busy and "--cascade" in busy and "cascade=true" not in busy
    assert as_json(cli(server, "project", "delete", "Site", "--cascade", "--json")) == {"deleted": created["id"]}
    assert f"deleted project Here {here['id']}" in ok(cli(server, "project", "delete", here["id"]))
    names = {p["name"] for p in as_json(cli(server, "project", "list", "--json"))}
    assert not names & {"Site", "Here"}


def test_task_tree_show_update_move_and_delete(server: LiveServer, tmp_path: Path):
    project = new_project(server, tmp_path / "work", "Tree")
    p = ["--project", "Tree"]
    root = as_json(cli(server, "task", "create", "Ship", "v1", *p, "--priority", "high", "--json"))
    child = as_json(
        cli(server, "task", "create", "Write docs", "--parent", root["id"], "--due", "2030-01-31", "--json")
    )
    leaf = ok(cli(server, "task", "create", "Proofread", "--parent", child["id"])).strip()  # just the id
    other = as_json(cli(server, "task", "create", "Design", *p, "--status", "in_review", "--skill", "ux", "--json"))
    assert child["project_id"] == project["id"] and child["due_date"] == "2030-01-31" and leaf.startswith("tsk_")
    assert other["status"] == "in_review" and other["skills"] == ["ux"]

    tree = as_json(cli(server, "task", "list", *p, "--tree", "--json"))
    assert [n["task"]["title"] for n in tree] == ["Ship v1", "Design"]
    assert tree[0]["children"][0]["task"]["id"] == child["id"]
    assert tree[0]["children"][0]["children"][0]["task"]["id"] == leaf
    drawn = ok(cli(server, "task", "list", *p, "--tree")).splitlines()
    assert drawn[0].startswith("Tree") and project["id"] in drawn[0]
    depth = {title: next(line for line in drawn if title in line).index(title) for title in ("Ship", "Write", "Proof")}
    assert depth["Ship"] < depth["Write"] < depth["Proof"]  # indented by depth
    # Filters keep what matches and the ancestors that place it in the tree.
    only = as_json(cli(server, "task", "list", *p, "--tree", "--search", "proof", "--json"))
    assert [n["task"]["id"] for n in only] == [root["id"]] and only[0]["children"][0]["children"][0]["task"][
        "id"
    ] == leaf
    flat = as_json(cli(server, "task", "list", *p, "--status", "in_review", "--json"))
    assert [t["id"] for t in flat] == [other["id"]]
    table = ok(cli(server, "task", "list", *p))
    row = next(line for line in table.splitlines() if "Proofread" in line)
    assert "Write docs" in row and leaf in row  # the parent by its title, the task's id to act on it

    updated = as_json(
        cli(server, "task", "update", child["id"], "--status", "in_progress", "--priority", "critical", "--json")
    )
    assert (updated["status"], updated["priority"]) == ("in_progress", "critical") and updated["started_at"]
    said = ok(cli(server, "task", "update", child["id"], "--title", "Write the docs", "--due", "none"))
    assert "updated Write the docs" in said and "due_date (none)" in said
    described = as_json(cli(server, "task", "update", leaf, "--description-file", "-", "--json", stdin="# Steps\n"))
    assert described["description"] == "# Steps\n"
    archived = as_json(cli(server, "task", "update", other["id"], "--archive", "--no-skills", "--json"))
    assert archived["archived_at"] and archived["skills"] == []
    assert other["id"] not in ok(cli(server, "task", "list", *p))
    assert other["id"] in ok(cli(server, "task", "list", *p, "--archived"))

    depends = as_json(cli(server, "task", "dep", "add", root["id"], child["id"], "--json"))
    assert depends["dependencies"] == [child["id"]] and depends["blocked_by"] == [child["id"]]
    shown = as_json(cli(server, "task", "show", root["id"], "--json"))
    assert (
        shown["subtasks"][0]["task"]["id"] == child["id"] and shown["subtasks"][0]["children"][0]["task"]["id"] == leaf
    )
    human = ok(cli(server, "task", "show", root["id"]))
    assert "Write the docs" in human and "Proofread" in human and "(blocks it)" in human and "Tree" in human
    cycle = failed(cli(server, "task", "dep", "add", child["id"], root["id"]), 1)
    assert "409" in cycle
    assert "no longer depends on Write the docs" in ok(cli(server, "task", "dep", "rm", root["id"], child["id"]))

    moved = as_json(cli(server, "task", "move", leaf, "--parent", "root", "--position", "0", "--json"))
    assert (moved["parent_id"], moved["position"]) == (None, 0)
    assert "under Ship v1" in ok(cli(server, "task", "move", leaf, "--parent", root["id"]))

    with api(server) as client:
        note = {"kind": "note", "message": "looked at it"}
        assert client.post(f"/api/v1/tasks/{root['id']}/timeline", json=note).status_code == 201
    entries = as_json(cli(server, "task", "timeline", root["id"], "--json"))
    assert [(e["kind"], e["message"]) for e in entries] == [("note", "looked at it")]
    assert "looked at it" in ok(cli(server, "task", "timeline", root["id"]))

    gone = as_json(cli(server, "task", "delete", root["id"], "--json"))
    assert set(gone["deleted"]) == {root["id"], child["id"], leaf}
    remaining = as_json(cli(server, "task", "list", *p, "--archived", "--json"))
    assert [t["id"] for t in remaining] == [other["id"]]
    assert "deleted Design" in ok(cli(server, "task", "delete", other["id"]))
