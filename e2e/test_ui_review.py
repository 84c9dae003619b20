"""Reviewing an agent's worktree in a real browser against a real `maestro serve`: a shell session gets its own
worktree, a file is edited there, and the review page draws the diff with diff2html (the agent's text as text),
takes a viewed mark, a line comment from a click on a line number, a commit and a merge that ends "merged"."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.test_ui_shell import live
from tests.helpers import LiveServer, live_server, maestro_env

HTML = "<img src=x onerror=alert(1)>"


def git(cwd: Path | str, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def git_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An empty git config for this test and for the server it starts (no signing, hooks or identity leaks in)."""
    config = tmp_path / "gitconfig"
    config.write_text("")
    isolated = {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"}
    for key, value in isolated.items():
        monkeypatch.setenv(key, value)
    return isolated


@pytest.fixture
def git_server(tmp_path: Path, git_home: dict[str, str]) -> Iterator[LiveServer]:
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home, **git_home)) as server:
        yield server


@pytest.fixture
def repo(tmp_path: Path, git_home: dict[str, str]) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "--quiet", "-b", "main")
    git(path, "config", "user.name", "Test Person")
    git(path, "config", "user.email", "test@example.com")
    (path / "app.py").write_text("def main():\n    return 1\n")
    (path / "README.md").write_text("# Demo\n")
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "initial")
    return path


def agent_worktree(server: LiveServer, repo: Path) -> dict:
    """A shell session in a worktree of its own, with the files it "wrote"."""
    with server.client() as api:
        project = api.post("/api/v1/projects", json={"name": "Shop", "working_dir": str(repo)}).json()
        task = api.post("/api/v1/tasks", json={"project_id": project["id"], "title": "Return two"}).json()
        spawn = {"project_id": project["id"], "profile": "shell", "isolation": "worktree", "task_ids": [task["id"]]}
        session = api.post("/api/v1/sessions", json=spawn)
        assert session.status_code == 201, session.text
        worktree = api.get(f"/api/v1/sessions/{session.json()['id']}/worktree").json()
    root = Path(worktree["path"])
    (root / "app.py").write_text(f"def main():\n    return 2  # {HTML}\n")
    (root / "notes.md").write_text("Two is the answer.\n")
    return worktree


def open_review(browser: Browser, server: LiveServer, worktree: dict) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{server.url}worktrees/{worktree['id']}?token={server.token}")
    return live(page)


def test_review_comment_commit_and_merge(browser: Browser, git_server: LiveServer, repo: Path):
    worktree = agent_worktree(git_server, repo)
    page = open_review(browser, git_server, worktree)
    expect(page.get_by_test_id("review-branch")).to_have_text(worktree["branch"])
    expect(page.get_by_test_id("review-state")).to_have_text("dirty")

    app_py = page.locator('[data-testid="review-diff"][data-path="app.py"]')
    table = app_py.locator("table.d2h-diff-table")
    expect(table).to_be_visible()  # diff2html drew it
    expect(table).to_contain_text(f"return 2  # {HTML}")  # the agent's text, as text
    expect(app_py.locator("img")).to_have_count(0)
    expect(app_py.locator(".d2h-ins")).not_to_have_count(0)

    counter = page.get_by_test_id("review-viewed-count")
    expect(counter).to_have_text("0/2 viewed")
    notes_row = page.locator('[data-testid="review-file"][data-path="notes.md"]')
    notes_row.get_by_test_id("review-viewed").click()
    expect(counter).to_have_text("1/2 viewed")
    expect(page.locator('[data-testid="review-diff"][data-path="notes.md"] table.d2h-diff-table')).to_have_count(0)

    page.get_by_test_id("review-layout").get_by_text("Side by side").click()
    sides = app_py.locator(".d2h-file-side-diff")
    expect(sides).to_have_count(2)
    new_line = sides.nth(1).locator("td.d2h-code-side-linenumber.d2h-ins")
    expect(new_line).to_have_text(re.compile(r"^\s*2\s*$"))
    new_line.click()  # a line number opens the comment box
    dialog = page.get_by_test_id("review-comment-dialog")
    expect(dialog).to_contain_text("app.py:2")
    dialog.get_by_test_id("review-comment-text").fill("Explain why two")
    dialog.get_by_test_id("review-comment-add").click()
    expect(page.get_by_test_id("review-pending-where")).to_have_text("app.py:2")
    expect(page.get_by_test_id("review-send")).to_have_text(re.compile(r"Send to agent \(1\)"))
    expect(page.get_by_test_id("review-send")).to_be_enabled()  # the shell session runs in this worktree

    page.keyboard.press("v")  # the current file (the first, app.py) is viewed now
    expect(counter).to_have_text("2/2 viewed")

    page.get_by_test_id("review-commit").click()
    message = page.get_by_test_id("review-commit-message")
    expect(message).to_have_value(re.compile(r"^Return two"))
    page.get_by_test_id("review-commit-confirm").click()
    expect(page.get_by_test_id("review-state")).to_have_text("unmerged")

    page.get_by_test_id("review-merge").click()
    page.get_by_test_id("review-merge-confirm").click()
    expect(page.get_by_test_id("review-state")).to_have_text("merged")
    expect(page.get_by_test_id("review-empty")).to_have_text("Merged into main: nothing is left to review.")
    assert git(repo, "rev-parse", "main") == git(repo, "rev-parse", worktree["branch"])
    assert "return 2" in (repo / "app.py").read_text()
    page.context.close()


def test_the_page_comes_first_and_diffs_draw_when_needed(browser: Browser, git_server: LiveServer, repo: Path):
    worktree = agent_worktree(git_server, repo)
    root = Path(worktree["path"])
    (root / "big.txt").write_text("".join(f"row {n}\n" for n in range(1500)))
    for part in range(1, 13):
        (root / f"part{part:02}.txt").write_text("".join(f"line {n} of part {part}\n" for n in range(80)))
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    served = page.goto(f"{git_server.url}worktrees/{worktree['id']}?token={git_server.token}").text()
    assert "review-diffs-loading" in served and "review-file-list" in served  # the list first, the diffs later
    assert "line 0 of part 1" not in served and "row 1499" not in served
    live(page)

    app_py = page.locator('[data-testid="review-diff"][data-path="app.py"]')
    expect(app_py.locator("table.d2h-diff-table")).to_be_visible()  # on screen: drawn once it arrived
    expect(page.get_by_test_id("review-diffs-loading")).to_have_count(0)

    big = page.locator('[data-testid="review-diff"][data-path="big.txt"]')
    expect(big.get_by_test_id("review-large")).to_have_text("Large diff: 1,506 lines")
    expect(big.get_by_test_id("review-diff-body")).to_have_count(0)  # not even sent yet
    big.get_by_test_id("review-show-diff").click()
    expect(big.locator("table.d2h-diff-table")).to_contain_text("row 1499")
    expect(big.get_by_test_id("review-large")).to_have_count(0)

    last = page.locator('[data-testid="review-diff"][data-path="part12.txt"]')
    expect(last.get_by_test_id("review-diff-body")).to_have_attribute("data-rendered", "false")  # far below
    expect(last.locator("table.d2h-diff-table")).to_have_count(0)
    row = page.locator('[data-testid="review-file"][data-path="part12.txt"]')
    row.get_by_test_id("review-file-open").click()  # the list scrolls the diff into view: it is drawn then
    expect(row).to_have_class(re.compile(r"\bm-selected\b"))
    expect(last.locator("table.d2h-diff-table")).to_contain_text("line 79 of part 12")
    expect(last.get_by_test_id("review-diff-body")).to_have_attribute("data-rendered", "true")

    page.keyboard.press("k")  # the keys move through the same list
    expect(page.locator('[data-testid="review-file"][data-path="part11.txt"]')).to_have_class(
        re.compile(r"\bm-selected\b")
    )
    expect(row).not_to_have_class(re.compile(r"\bm-selected\b"))
    page.context.close()
