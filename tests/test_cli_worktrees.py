"""`maestro worktree …` and the worktree options of `session spawn` and `project update`, as a user runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_support import api, as_json, cli, failed, new_project, ok
from tests.helpers import LiveServer, live_server, wait_for
from tests.test_worktrees_api import git, make_repo


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("cli-worktrees") / "home") as running:
        yield running


def agent_writing(server: LiveServer, folder: Path, name: str, text: str) -> None:
    """A profile `writer` whose program writes one file in its working directory and exits."""
    script = folder / "agent.py"
    script.write_text(f"import pathlib\npathlib.Path({name!r}).write_text({text!r})\n")
    with api(server) as client:
        response = client.put("/api/v1/profiles/writer", json={"argv": ["python3", str(script)]})
        assert response.status_code in (200, 201), response.text


def test_review_commit_merge_from_the_command_line(server: LiveServer, tmp_path: Path):
    repo = make_repo(tmp_path / "repo")
    project = new_project(server, repo, "cli-git")
    updated = as_json(
        cli(server, "project", "update", project["id"], "--isolation", "worktree", "--copy", ".env", "--json")
    )
    assert updated["git"]["isolation"] == "worktree" and updated["git"]["copy_files"] == [".env"]
    task = as_json(cli(server, "task", "create", "Add a greeting", "--project", project["id"], "--json"))
    agent_writing(server, tmp_path, "hello.txt", "hi\n")

    session = as_json(cli(server, "session", "spawn", "--task", task["id"], "--profile", "writer", "--json"))
    assert session["isolation"] == "worktree"
    wait_for(lambda: (Path(session["cwd"]) / "hello.txt").exists())

    listed = as_json(cli(server, "worktree", "list", "--project", project["id"], "--json"))
    assert [w["id"] for w in listed] == [session["worktree_id"]]
    assert "A  hello.txt  +1 −0" in ok(cli(server, "worktree", "changes", session["id"]))
    assert "+hi" in ok(cli(server, "worktree", "diff", task["id"]))

    assert "committed on maestro/add-a-greeting-" in ok(cli(server, "worktree", "commit", session["id"]))
    assert "nothing to commit" in failed(cli(server, "worktree", "commit", session["id"], "-m", "again"), 1)
    merged = ok(cli(server, "worktree", "merge", session["worktree_id"]))
    assert "fast-forward" in merged and (repo / "hello.txt").read_text() == "hi\n"
    assert git(repo, "log", "-1", "--format=%s") == "Add a greeting"  # the prefilled message: the task's title

    shown = ok(cli(server, "worktree", "show", session["worktree_id"]))
    assert "merged" in shown
    assert ok(cli(server, "worktree", "cleanup", "--project", project["id"])).startswith("removed 1 worktree(s)")


def test_refusals_are_words_and_exit_1(server: LiveServer, tmp_path: Path):
    plain = tmp_path / "plain"
    project = new_project(server, plain, "cli-plain")
    line = failed(cli(server, "session", "spawn", "--project", project["id"], "--profile", "shell", "--worktree"), 1)
    assert "not a git repository" in line
    assert "is not a worktree, session or task id" in failed(cli(server, "worktree", "show", "nope"), 2)

    repo = make_repo(tmp_path / "repo2")
    project = new_project(server, repo, "cli-dirty")
    agent_writing(server, tmp_path, "draft.txt", "wip\n")
    session = as_json(
        cli(server, "session", "spawn", "--project", project["id"], "--profile", "writer", "--worktree", "--json")
    )
    wait_for(lambda: (Path(session["cwd"]) / "draft.txt").exists())
    wait_for(lambda: as_json(cli(server, "session", "show", session["id"], "--json"))["status"] == "completed")
    line = failed(cli(server, "worktree", "discard", session["id"]), 1)
    assert "uncommitted" in line and "(add --force)" in line
    assert "discarded the worktree" in ok(cli(server, "worktree", "discard", session["id"], "--force"))
