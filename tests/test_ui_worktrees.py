"""Worktrees in the browser (User driver over the real app, real git in tmp_path, real ptys): the Run agent dialog's
isolation choice (own worktree, a shared one, a folder that is not a repository), the project's Git settings, the
branch on the board card and the worktrees page with its clean-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from nicegui import ui
from nicegui.testing import User

import ui.pages.worktrees  # noqa: F401  (registers the page until ui/pages/__init__.py lists it)
from app.models.projects import Project, ProjectUpdate
from app.models.sessions import SessionSpawn
from app.models.tasks import Task
from app.models.worktrees import Worktree
from app.services import projects, sessions
from app.services.worktrees import actions, records
from app.web import MaestroApp
from tests.ui_support import ACTOR, eventually, make_project, make_task

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def git(cwd: Path, *args: str) -> str:
    """A git command for setting the scene (the code under test runs its own)."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No global or system git config of the machine leaks in (signing, hook paths, identities)."""
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on main with one commit."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "--quiet", "-b", "main")
    git(path, "config", "user.name", "Test Person")
    git(path, "config", "user.email", "test@example.com")
    (path / "README.md").write_text("hello\n")
    git(path, "add", "README.md")
    git(path, "commit", "--quiet", "-m", "initial")
    return path


@pytest.fixture(autouse=True)
def sleeper_profile(app: MaestroApp) -> None:
    """An agent whose program exists and waits (the dialog's choice in these tests)."""
    (app.settings.home / "config.toml").write_text(
        f'[profiles.sleeper]\nargv = {json.dumps(SLEEPER)}\nprompt_via = "none"\n'
    )


def only(user: User, marker: str) -> ui.element:
    """The one element with this marker."""
    (element,) = user.find(marker=marker).elements
    return element


async def open_dialog(user: User, task: Task) -> None:
    """Open Run agent from the task's page, with the sleeper chosen."""
    await user.open(f"/tasks/{task.id}")
    user.find(marker="run-agent").click()
    await eventually(lambda: any(d.value for d in user.find(marker="run-agent-dialog").elements))
    user.find(marker="run-agent-profile").click()
    user.find("sleeper").click()


async def started(user: User) -> str:
    """The session the dialog started (its page is where the browser went)."""
    await eventually(lambda: user.back_history[-1].startswith("/sessions/ses_"))
    return user.back_history[-1].removeprefix("/sessions/")


async def worktree_for(app: MaestroApp, project: Project, task: Task | None) -> Worktree:
    return await records.create_worktree(
        app.runtime.writer, app.settings.home, project, task_id=task.id if task else None, base_ref=None, actor=ACTOR
    )


def commit_in(worktree: Worktree, name: str, text: str) -> None:
    path = Path(worktree.path)
    (path / name).write_text(text)
    git(path, "add", name)
    git(path, "commit", "--quiet", "-m", f"add {name}")


# --- the Run agent dialog ----------------------------------------------------------------------------------------


async def test_the_dialog_starts_an_agent_in_a_worktree_of_its_own(user: User, app: MaestroApp, repo: Path) -> None:
    project = await make_project(app, working_dir=str(repo))
    task = await make_task(app, project, "Parse logs")
    await open_dialog(user, task)
    isolation = only(user, "run-agent-isolation")
    assert isolation.value == "in_place" and isolation.enabled  # the project's default
    assert str(repo) in only(user, "run-agent-isolation-note").text
    isolation.value = "worktree"  # a toggle: the User driver sets it through its value
    await user.should_see("A new branch in a checkout of its own, so parallel agents never collide.")
    base = only(user, "run-agent-base-ref")
    assert base.props["placeholder"] == "main (checked out now)"
    await user.should_not_see(marker="run-agent-share-worktree")  # the task has no worktree yet
    user.find(marker="run-agent-start").click()

    session = await sessions.get_session(await started(user))
    assert session.isolation == "worktree" and session.worktree_id is not None
    worktree = await records.get_worktree(session.worktree_id)
    assert session.cwd == worktree.path != str(repo)
    assert (worktree.task_id, worktree.base_ref, worktree.status) == (task.id, "main", "active")
    assert worktree.branch.startswith("maestro/parse-logs-")
    assert git(Path(worktree.path), "branch", "--show-current") == worktree.branch
    assert git(repo, "branch", "--show-current") == "main"  # the person's checkout is untouched


async def test_an_unknown_base_branch_is_said_beside_the_field(user: User, app: MaestroApp, repo: Path) -> None:
    project = await make_project(app, working_dir=str(repo))
    task = await make_task(app, project, "Parse logs")
    await open_dialog(user, task)
    only(user, "run-agent-isolation").value = "worktree"
    user.find(marker="run-agent-base-ref").type("release-9")
    user.find(marker="run-agent-start").click()
    base = only(user, "run-agent-base-ref")
    await eventually(lambda: base.props.get("error"))
    assert "git does not know 'release-9'" in base.props["error-message"]
    assert only(user, "run-agent-dialog").value  # still open, nothing made
    assert await sessions.list_sessions() == [] and await records.list_worktrees() == []


async def test_a_second_agent_shares_the_tasks_worktree(user: User, app: MaestroApp, repo: Path) -> None:
    project = await make_project(app, working_dir=str(repo))
    task = await make_task(app, project, "Parse logs")
    body = SessionSpawn(
        project_id=project.id, task_ids=[task.id], profile="sleeper", name="coder", isolation="worktree"
    )
    coder = await app.runtime.runner.spawn(body, actor=ACTOR)
    await open_dialog(user, task)
    only(user, "run-agent-isolation").value = "worktree"
    worktree = await records.get_worktree(coder.worktree_id or "")
    await user.should_see(f"Share the task's worktree (branch {worktree.branch})")
    user.find(marker="run-agent-share-worktree").click()
    await user.should_not_see(marker="run-agent-base-ref")  # a shared worktree already has its base
    await user.should_see("Works in the same checkout and branch as the 1 session before it")
    user.find(marker="run-agent-start").click()

    reviewer = await sessions.get_session(await started(user))
    assert reviewer.id != coder.id
    assert (reviewer.worktree_id, reviewer.cwd) == (worktree.id, worktree.path)
    assert len(await records.list_worktrees()) == 1
    assert (await records.get_worktree(worktree.id)).session_ids == [coder.id, reviewer.id]


async def test_a_folder_that_is_not_a_repository_offers_in_place_only(
    user: User, app: MaestroApp, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    project = await make_project(app, working_dir=str(plain))
    task = await make_task(app, project, "Parse logs")
    await open_dialog(user, task)
    isolation = only(user, "run-agent-isolation")
    assert (isolation.value, isolation.enabled) == ("in_place", False)
    note = only(user, "run-agent-isolation-note").text
    assert note.startswith("Own worktree is unavailable: ") and "is not a git repository" in note
    user.find(marker="run-agent-start").click()  # in place still works
    session = await sessions.get_session(await started(user))
    assert (session.isolation, session.cwd, session.worktree_id) == ("in_place", str(plain), None)


async def test_a_project_defaulting_to_worktrees_preselects_it(user: User, app: MaestroApp, repo: Path) -> None:
    project = await make_project(app, working_dir=str(repo))
    body = msgspec.convert(
        {"git": {"isolation": "worktree", "base_ref": "main", "setup_command": "true"}}, ProjectUpdate
    )
    await projects.update_project(app.runtime.writer, project.id, body, ACTOR)
    task = await make_task(app, project, "Parse logs")
    await open_dialog(user, task)
    assert only(user, "run-agent-isolation").value == "worktree"
    assert only(user, "run-agent-base-ref").props["placeholder"] == "main (the project's base)"
    await user.should_see("Runs `true` there first.", retries=20)


# --- the project's Git settings -----------------------------------------------------------------------------------


async def test_the_project_form_saves_git_settings_and_refuses_beside_the_field(
    user: User, app: MaestroApp, repo: Path
) -> None:
    project = await make_project(app, working_dir=str(repo))
    await user.open(f"/projects/{project.id}")
    user.find(marker="edit-project").click()
    await user.should_see(marker="project-form")
    only(user, "project-git-isolation").value = "worktree"
    user.find(marker="project-git-base").type("nope")
    user.find(marker="project-git-setup").type("npm ci")
    user.find(marker="project-git-copy-files").type(".env, config/local.toml\n../secrets")
    only(user, "project-git-merge-strategy").value = "merge_commit"

    user.find(marker="project-save").click()
    copy = only(user, "project-git-copy-files")
    await eventually(lambda: copy.props.get("error"))
    assert copy.props["error-message"].startswith("cannot copy '../secrets': give a path inside the repository")
    copy.value = ".env, config/local.toml"
    user.find(marker="project-save").click()
    base = only(user, "project-git-base")
    await eventually(lambda: base.props.get("error"))
    assert "git does not know 'nope'" in base.props["error-message"]
    assert not copy.props.get("error")  # only the field at fault is marked
    assert (await projects.get_project(project.id)).git.isolation == "in_place"  # nothing saved yet

    base.value = "main"
    user.find(marker="project-save").click()
    await user.should_not_see(marker="project-form", retries=20)
    git_settings = (await projects.get_project(project.id)).git
    assert msgspec.to_builtins(git_settings) == {
        "isolation": "worktree",
        "base_ref": "main",
        "setup_command": "npm ci",
        "copy_files": [".env", "config/local.toml"],
        "merge_strategy": "merge_commit",
    }
    await user.open(f"/projects/{project.id}")
    user.find(marker="edit-project").click()  # the form opens with what was saved
    await user.should_see(marker="project-form")
    assert only(user, "project-git-copy-files").value == ".env\nconfig/local.toml"
    assert only(user, "project-git-isolation").value == "worktree"


# --- the board card -----------------------------------------------------------------------------------------------


async def test_the_board_card_shows_the_branch_and_when_it_is_merged(user: User, app: MaestroApp, repo: Path) -> None:
    project = await make_project(app, working_dir=str(repo))
    task = await make_task(app, project, "Parse logs", status="in_progress")
    await make_task(app, project, "Write report")
    worktree = await worktree_for(app, project, task)
    await user.open(f"/projects/{project.id}/board")
    with user.scope(marker="board-column-in_progress"):
        await user.should_see(worktree.branch.removeprefix("maestro/"))
        await user.should_not_see(marker="card-merged")
    assert len(user.find(marker="card-branch").elements) == 1  # the other task has none

    commit_in(worktree, "parse.py", "print('parsed')\n")
    await actions.merge(app.runtime.writer, worktree.id, ACTOR)
    with user.scope(marker="board-column-in_progress"):
        await user.should_see(marker="card-merged", retries=40)  # live: the merge event redraws the card


# --- the worktrees page -------------------------------------------------------------------------------------------


async def test_the_worktrees_page_teaches_when_empty(user: User, app: MaestroApp, repo: Path) -> None:
    project = await make_project(app, working_dir=str(repo))
    await user.open(f"/projects/{project.id}/worktrees")
    await user.should_see(marker="worktrees-empty")
    await user.should_see("Agents started with isolation 'Own worktree' get their own branch here", retries=1)


async def test_the_worktrees_page_lists_filters_and_cleans_up(user: User, app: MaestroApp, repo: Path) -> None:
    project = await make_project(app, working_dir=str(repo))
    clean = await worktree_for(app, project, await make_task(app, project, "Idea"))
    dirty = await worktree_for(app, project, await make_task(app, project, "Half done"))
    (Path(dirty.path) / "draft.txt").write_text("not saved yet\n")
    unmerged = await worktree_for(app, project, await make_task(app, project, "Ready for review"))
    commit_in(unmerged, "feature.py", "print('new')\n")
    merged = await worktree_for(app, project, None)
    commit_in(merged, "done.py", "print('done')\n")
    await actions.merge(app.runtime.writer, merged.id, ACTOR)

    await user.open(f"/projects/{project.id}/worktrees")
    await user.should_see(marker="worktrees-table")
    states = {}
    for worktree in (clean, dirty, unmerged, merged):
        with user.scope(marker=f"worktree-row-{worktree.id}"):
            states[worktree.id] = only(user, "worktree-state").text
    assert states == {clean.id: "clean", dirty.id: "dirty", unmerged.id: "unmerged", merged.id: "merged"}
    assert len(user.find(marker="worktree-row").elements) == 4
    await user.should_see("Ready for review")
    await user.should_see("no task")
    with user.scope(marker=f"worktree-row-{dirty.id}"):
        assert only(user, "worktree-review").props["href"] == f"/worktrees/{dirty.id}"  # the review page

    await user.open(f"/projects/{project.id}/worktrees?status=merged")  # the filter lives in the URL
    await user.should_see(marker="worktrees-table")
    assert [r.props["data-worktree-id"] for r in user.find(marker="worktree-row").elements] == [merged.id]
    assert only(user, "worktrees-filter").options["merged"] == "Merged · 1"
    only(user, "worktrees-filter").value = ""
    await eventually(lambda: len(user.find(marker="worktree-row").elements) == 4)

    user.find(marker="worktrees-cleanup").click()
    await user.should_see(marker="worktrees-cleanup-dialog")
    await user.should_see("Their branches are kept.")
    user.find(marker="worktrees-cleanup-confirm").click()
    await user.should_see(
        "Removed 2 worktrees; kept 2: 1 with uncommitted changes, 1 with unmerged commits", retries=40
    )
    statuses = {w.id: w.status for w in await records.list_worktrees(project_id=project.id)}
    assert statuses == {clean.id: "discarded", merged.id: "discarded", dirty.id: "active", unmerged.id: "active"}
    assert not Path(clean.path).exists() and Path(dirty.path).exists()
    assert unmerged.branch in git(repo, "branch", "--list", unmerged.branch)
    await eventually(lambda: only(user, "worktrees-filter").options["discarded"] == "Discarded · 2")


async def test_every_projects_worktrees_at_worktrees(user: User, app: MaestroApp, repo: Path) -> None:
    project = await make_project(app, "Log analyzer", working_dir=str(repo))
    worktree = await worktree_for(app, project, await make_task(app, project, "Parse logs"))
    await user.open("/worktrees")
    await user.should_see(marker="worktree-row")
    await user.should_see(worktree.branch)
    await user.should_see("Log analyzer")
