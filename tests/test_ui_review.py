"""The review screen, driven like a user through the real app on real git repositories: the file list and its
counts, viewed marks that lapse when a diff changes, focus mode, comments sent to a running agent, and the finish
(commit, merge, a conflict, a pull request refused, discard with its warning)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import msgspec
import pytest
from nicegui import ui
from nicegui.testing import User

from app.models.projects import Project
from app.models.sessions import Session, SessionSpawn
from app.models.tasks import Task
from app.models.worktrees import Worktree
from app.services import timeline
from app.services.worktrees import actions
from app.services.worktrees.records import create_worktree, get_worktree
from app.web import MaestroApp
from tests.ui_support import ACTOR, eventually, make_project, make_task
from ui.pages import review  # noqa: F401  (registers /worktrees/{id}; redundant once ui/pages/__init__.py imports it)

HTML = "<img src=x onerror=alert(1)>"
WAIT = 50  # should_see retries (0.1 s each): dialogs that ask git first may take a while on a busy machine


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No global or system git config of the machine leaks in (signing, hooks paths, identities)."""
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(cwd: Path | str, *args: str) -> str:
    """A git command for setting the scene or checking the result (the code under test runs its own)."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on main with a README and a small source file."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "--quiet", "-b", "main")
    git(path, "config", "user.name", "Test Person")
    git(path, "config", "user.email", "test@example.com")
    (path / "README.md").write_text("# Demo\n\nhello\n")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("def main():\n    return 1\n")
    (path / "old.txt").write_text("to be removed\n")
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "initial")
    return path


async def worktree_for(app: MaestroApp, repo: Path, title: str = "Parse the logs") -> tuple[Project, Task, Worktree]:
    project = await make_project(app, name="Compiler", working_dir=str(repo))
    task = await make_task(app, project, title)
    worktree = await create_worktree(
        app.runtime.writer, app.settings.home, project, task_id=task.id, base_ref=None, actor=ACTOR
    )
    return project, task, worktree


def edit(worktree: Worktree) -> Path:
    """An agent's work: one file changed, one added, one deleted, one binary."""
    root = Path(worktree.path)
    (root / "src" / "app.py").write_text("def main():\n    return 2\n\n\ndef helper():\n    return 3\n")
    (root / "src" / "new.py").write_text(f"# {HTML}\nVALUE = 1\n")
    (root / "old.txt").unlink()
    (root / "logo.bin").write_bytes(bytes(range(256)))
    return root


async def open_review(user: User, worktree: Worktree) -> None:
    """Open the review page and wait for its diffs, which are read and drawn after the page is shown."""
    await user.open(f"/worktrees/{worktree.id}")
    await user.should_not_see(marker="review-diffs-loading", retries=WAIT)


def only(user: User, marker: str) -> ui.element:
    (element,) = user.find(marker=marker).elements
    return element


def in_order(user: User, marker: str) -> list[ui.element]:
    """The elements with `marker` in the order they were drawn (User.find gives a set)."""
    return sorted(user.find(marker=marker).elements, key=lambda e: e.id)


def texts(user: User, marker: str) -> list[str]:
    return [getattr(e, "text", "") for e in in_order(user, marker)]


def paths(user: User, marker: str) -> list[str]:
    return [e.props["data-path"] for e in in_order(user, marker)]


def on(user: User, marker: str, element: ui.element):
    """Act on one particular element among those with `marker` (User.find acts on all of them)."""
    found = user.find(marker=marker)
    assert element in found.elements
    found.elements = {element}
    return found


def listed(user: User) -> list[dict]:
    """The file list's rows as the page holds them: one element draws them all in the browser (static/review.js),
    each with the test ids review-file, review-file-open, review-file-name and review-viewed there."""
    with user.scope(marker="review-files"):
        return list(only(user, "review-file-list").props["rows"])


def listed_paths(user: User) -> list[str]:
    return [r["path"] for r in listed(user)]


def row(user: User, path: str) -> dict:
    (found,) = [r for r in listed(user) if r["path"] == path]
    return found


def tick(user: User, path: str, viewed: bool = True) -> None:
    """Click a row's viewed box (the browser sends what the box now says)."""
    user.find(marker="review-file-list").trigger("viewed", {"path": path, "viewed": viewed})


def open_row(user: User, path: str) -> None:
    """Click a row of the file list."""
    user.find(marker="review-file-list").trigger("open", {"path": path})


async def test_the_file_list_shows_every_change_with_its_counts(user: User, app: MaestroApp, repo: Path) -> None:
    _, task, worktree = await worktree_for(app, repo)
    edit(worktree)
    await open_review(user, worktree)

    assert only(user, "review-branch").text == worktree.branch
    assert only(user, "review-state").text == "dirty"
    assert only(user, "review-task").props["href"] == f"/tasks/{task.id}"
    with user.scope(marker="review-base"):
        await user.should_see("main")
    assert listed_paths(user) == ["logo.bin", "old.txt", "src/app.py", "src/new.py"]
    assert [r["name"] for r in listed(user)] == ["logo.bin", "old.txt", "app.py", "new.py"]
    assert [r["folder"] for r in listed(user)] == ["", "", "src/", "src/"]
    assert (row(user, "src/app.py")["added"], row(user, "src/app.py")["removed"]) == (5, 1)
    assert row(user, "logo.bin")["added"] is None  # drawn as "binary"
    assert [r["current"] for r in listed(user)] == [True, False, False, False]
    assert only(user, "review-viewed-count").text == "0/4 viewed"
    assert paths(user, "review-diff") == ["logo.bin", "old.txt", "src/app.py", "src/new.py"]
    await user.should_see("Binary file: there are no lines to show.")
    bodies = user.find(marker="review-diff-body").elements
    assert len(bodies) == 3  # the binary file has none
    new_py = next(b for b in bodies if "src/new.py" in b.props["diff"])
    assert f"+# {HTML}" in new_py.props["diff"]  # the diff travels as data; diff2html escapes it in the browser
    assert new_py.props["layout"] == "line-by-line"
    assert "Commit the changes first" in _tooltip(user, "review-merge")
    assert not only(user, "review-merge").enabled
    assert only(user, "review-commit").enabled


def _tooltip(user: User, marker: str) -> str:
    """The reason shown on the wrapper of a disabled action."""
    button = only(user, marker)
    tips = [child for child in button.parent_slot.parent.descendants() if isinstance(child, ui.tooltip)]
    return tips[0].text if tips else ""


async def test_viewed_marks_are_remembered_and_lapse_when_the_diff_changes(
    user: User, app: MaestroApp, repo: Path
) -> None:
    _, _, worktree = await worktree_for(app, repo)
    root = edit(worktree)
    await open_review(user, worktree)

    tick(user, "src/new.py")
    await eventually(lambda: only(user, "review-viewed-count").text == "1/4 viewed")
    # Every file block has its own box: the one of new.py is ticked and its diff folded away.
    assert [b.value for b in user.find(marker="review-diff-viewed").elements].count(True) == 1
    assert len(user.find(marker="review-diff-body").elements) == 2

    await open_review(user, worktree)  # remembered for this browser
    assert only(user, "review-viewed-count").text == "1/4 viewed"
    assert row(user, "src/new.py")["viewed"] is True

    (root / "src" / "new.py").write_text("VALUE = 2\n")  # the agent changed it again: it needs a new look
    await open_review(user, worktree)
    assert only(user, "review-viewed-count").text == "0/4 viewed"
    assert row(user, "src/new.py")["viewed"] is False

    tick(user, "old.txt")
    await eventually(lambda: only(user, "review-viewed-count").text == "1/4 viewed")
    assert row(user, "old.txt")["viewed"] is True
    tick(user, "old.txt", False)
    await eventually(lambda: only(user, "review-viewed-count").text == "0/4 viewed")


async def test_focus_mode_shows_one_file_and_keys_move_through_them(user: User, app: MaestroApp, repo: Path) -> None:
    _, _, worktree = await worktree_for(app, repo)
    edit(worktree)
    await open_review(user, worktree)

    only(user, "review-focus").value = True
    await eventually(lambda: paths(user, "review-diff") == ["logo.bin"])
    assert only(user, "review-focus-position").text == "File 1 of 4"
    user.find("Next").click()
    await eventually(lambda: paths(user, "review-diff") == ["old.txt"])
    user.find("Next").click()
    await eventually(lambda: only(user, "review-focus-position").text == "File 3 of 4")
    user.find("Previous").click()
    await eventually(lambda: paths(user, "review-diff") == ["old.txt"])

    only(user, "review-focus").value = False
    await eventually(lambda: len(paths(user, "review-diff")) == 4)


async def test_diffs_come_a_page_at_a_time_and_a_huge_one_says_it_was_cut(
    user: User, app: MaestroApp, repo: Path
) -> None:
    _, _, worktree = await worktree_for(app, repo)
    root = Path(worktree.path)
    for number in range(24):
        (root / f"file{number:02}.txt").write_text(f"line {number}\n")
    (root / "huge.txt").write_text("".join(f"row {n}\n" for n in range(6000)))
    await open_review(user, worktree)

    assert len(listed(user)) == 25
    assert len(user.find(marker="review-diff").elements) == 20  # the first page
    more = only(user, "review-more")
    assert more.text == "Load 5 more (20 of 25 files shown)"
    user.find(marker="review-more").click()
    await eventually(lambda: len(user.find(marker="review-diff").elements) == 25)
    await user.should_not_see(marker="review-more")
    assert only(user, "review-truncated").text.startswith("Truncated at 5,000 lines: the whole diff has 6,")
    assert only(user, "review-large").text == "Large diff: 5,000 lines"  # and not drawn until asked for

    await user.open(f"/worktrees/{worktree.id}")  # choosing a file past the first page (loaded or not) draws up to it
    open_row(user, "file22.txt")
    await eventually(lambda: len(user.find(marker="review-diff").elements) == 25)
    assert row(user, "file22.txt")["current"] and not row(user, "file00.txt")["current"]

    await open_review(user, worktree)
    only(user, "review-focus").value = True  # focus on a file past the first page: it is loaded on its own
    await eventually(lambda: only(user, "review-focus-position").text == "File 1 of 25")
    for _ in range(22):
        user.find("Next").click()
    await eventually(lambda: paths(user, "review-diff") == ["file22.txt"])


async def test_the_page_comes_first_and_its_diffs_after_it(user: User, app: MaestroApp, repo: Path) -> None:
    _, _, worktree = await worktree_for(app, repo)
    edit(worktree)
    served = await user.http_client.get(f"/worktrees/{worktree.id}")  # the page as the browser first gets it
    assert served.status_code == 200
    assert served.text.count('"path":"') == 4  # the file list's rows
    assert '"data-testid":"review-diffs-loading"' in served.text
    assert '"data-testid":"review-diff"' not in served.text and "+VALUE = 1" not in served.text

    await user.open(f"/worktrees/{worktree.id}")
    await eventually(lambda: len(paths(user, "review-diff")) == 4)  # the diffs follow on their own
    await user.should_not_see(marker="review-diffs-loading")
    assert len(user.find(marker="review-diff-body").elements) == 3


async def test_a_large_diff_waits_until_it_is_asked_for(user: User, app: MaestroApp, repo: Path) -> None:
    _, _, worktree = await worktree_for(app, repo)
    root = Path(worktree.path)
    (root / "big.txt").write_text("".join(f"row {n}\n" for n in range(1500)))
    (root / "small.txt").write_text("one\n")
    await open_review(user, worktree)

    assert only(user, "review-large").text == "Large diff: 1,506 lines"
    (body,) = user.find(marker="review-diff-body").elements  # only the small file's diff is drawn
    assert "+one" in body.props["diff"]
    user.find(marker="review-show-diff").click()
    await user.should_not_see(marker="review-large")
    big = next(b for b in user.find(marker="review-diff-body").elements if "+row 1499" in b.props["diff"])
    big_block = next(e for e in user.find(marker="review-diff").elements if e.props["data-path"] == "big.txt")
    assert big_block in big.ancestors()

    await open_review(user, worktree)  # collapsed again on the next visit
    await user.should_see(marker="review-show-diff")
    only(user, "review-focus").value = True  # focus mode draws the one file it shows, large or not
    await eventually(lambda: paths(user, "review-diff") == ["big.txt"])
    await user.should_not_see(marker="review-show-diff")
    (body,) = user.find(marker="review-diff-body").elements
    assert "+row 1499" in body.props["diff"]


async def test_a_rename_without_edits_says_so(user: User, app: MaestroApp, repo: Path) -> None:
    _, _, worktree = await worktree_for(app, repo)
    git(worktree.path, "mv", "README.md", "GUIDE.md")
    await open_review(user, worktree)

    assert listed_paths(user) == ["GUIDE.md"]
    assert only(user, "review-diff-empty").text == "Renamed from README.md; the content is unchanged."
    await user.should_not_see(marker="review-diff-body")


async def test_a_change_made_elsewhere_shows_live(user: User, app: MaestroApp, repo: Path) -> None:
    _, _, worktree = await worktree_for(app, repo)
    edit(worktree)
    await open_review(user, worktree)
    assert only(user, "review-state").text == "dirty"

    await actions.commit(app.runtime.writer, worktree.id, "Done elsewhere", ACTOR)  # as the API or CLI would
    await eventually(lambda: only(user, "review-state").text == "unmerged")
    assert only(user, "review-merge").enabled
    await actions.merge(app.runtime.writer, worktree.id, ACTOR)
    await eventually(lambda: only(user, "review-state").text == "merged")
    await user.should_see("Merged into main: nothing is left to review.")


async def test_the_layout_choice_is_remembered(user: User, app: MaestroApp, repo: Path) -> None:
    _, _, worktree = await worktree_for(app, repo)
    edit(worktree)
    await open_review(user, worktree)

    only(user, "review-layout").value = "side-by-side"
    await eventually(
        lambda: {b.props["layout"] for b in user.find(marker="review-diff-body").elements} == {"side-by-side"}
    )
    await open_review(user, worktree)
    assert only(user, "review-layout").value == "side-by-side"
    assert {b.props["layout"] for b in user.find(marker="review-diff-body").elements} == {"side-by-side"}


async def test_commit_then_merge_by_fast_forward(user: User, app: MaestroApp, repo: Path) -> None:
    _, _, worktree = await worktree_for(app, repo, title="Teach the parser")
    edit(worktree)
    await open_review(user, worktree)

    user.find(marker="review-commit").click()
    await user.should_see(marker="review-commit-dialog", retries=WAIT)
    message = only(user, "review-commit-message")
    assert message.value.startswith("Teach the parser")  # prefilled from the task
    message.value = "Teach the parser about logs"
    user.find(marker="review-commit-confirm").click()
    await eventually(lambda: only(user, "review-state").text == "unmerged")
    assert git(worktree.path, "log", "-1", "--format=%s") == "Teach the parser about logs"
    assert git(worktree.path, "status", "--porcelain") == ""
    assert not only(user, "review-commit").enabled
    assert "Nothing to commit" in _tooltip(user, "review-commit")

    branch_tip = git(repo, "rev-parse", worktree.branch)
    assert git(repo, "rev-parse", "main") != branch_tip
    with user.scope(marker="review-finish"):
        await user.should_see("Merge into main (fast-forward)")
    user.find(marker="review-merge").click()
    await user.should_see(marker="review-merge-dialog", retries=WAIT)
    assert only(user, "review-merge-strategy").value == "fast_forward"
    user.find(marker="review-merge-confirm").click()
    await eventually(lambda: only(user, "review-state").text == "merged")
    assert git(repo, "rev-parse", "main") == branch_tip  # the base moved to the branch, files and all
    assert (repo / "src" / "new.py").exists()
    await user.should_see("Merged into main: nothing is left to review.")
    assert (await get_worktree(worktree.id)).status == "merged"
    assert not only(user, "review-merge").enabled


async def test_a_merge_conflict_lists_the_files_and_changes_nothing(user: User, app: MaestroApp, repo: Path) -> None:
    _, _, worktree = await worktree_for(app, repo)
    (Path(worktree.path) / "README.md").write_text("# Demo\n\nfrom the agent\n")
    git(worktree.path, "commit", "--quiet", "-am", "agent's readme")
    (repo / "README.md").write_text("# Demo\n\nfrom the person\n")
    git(repo, "commit", "--quiet", "-am", "person's readme")
    main_before = git(repo, "rev-parse", "main")
    await open_review(user, worktree)
    await user.should_not_see(marker="review-conflict-file")

    user.find(marker="review-merge").click()
    await user.should_see(marker="review-merge-dialog", retries=WAIT)
    only(user, "review-merge-strategy").value = "merge_commit"
    user.find(marker="review-merge-confirm").click()
    await eventually(lambda: texts(user, "review-conflict-file") == ["README.md"])
    await user.should_see("conflicts with main in 1 file(s)")  # the toast
    assert git(repo, "rev-parse", "main") == main_before
    assert only(user, "review-state").text == "unmerged"


async def test_a_pull_request_without_gh_or_remote_says_why(user: User, app: MaestroApp, repo: Path) -> None:
    _, _, worktree = await worktree_for(app, repo)
    edit(worktree)
    git(worktree.path, "add", "-A")
    git(worktree.path, "commit", "--quiet", "-m", "work")
    await open_review(user, worktree)

    user.find(marker="review-pr").click()
    await user.should_see(marker="review-pr-dialog", retries=WAIT)
    user.find(marker="review-pr-confirm").click()
    await eventually(lambda: any(("gh" in m or "remote" in m) for m in user.notify.messages))
    assert (await get_worktree(worktree.id)).pr_url is None


async def test_discard_warns_about_uncommitted_work_and_can_delete_the_branch(
    user: User, app: MaestroApp, repo: Path
) -> None:
    _, _, worktree = await worktree_for(app, repo)
    edit(worktree)
    await open_review(user, worktree)

    user.find(marker="review-discard").click()
    await user.should_see(marker="review-discard-dialog", retries=WAIT)
    assert "uncommitted changes" in only(user, "review-discard-warning").text
    user.find("Keep it").click()
    assert Path(worktree.path).is_dir()

    user.find(marker="review-discard").click()
    await user.should_see(marker="review-discard-dialog", retries=WAIT)
    with user.scope(marker="review-discard-dialog"):
        await user.should_see("Discard anyway")
    only(user, "review-discard-branch").value = True
    user.find(marker="review-discard-confirm").click()
    await eventually(lambda: only(user, "review-state").text == "discarded")
    assert not Path(worktree.path).exists()
    assert git(repo, "branch", "--list", worktree.branch) == ""
    await user.should_see(marker="review-problem")
    for action in ("review-commit", "review-merge", "review-pr", "review-discard"):
        assert not only(user, action).enabled


async def test_a_clean_discard_keeps_the_branch_without_asking_for_force(
    user: User, app: MaestroApp, repo: Path
) -> None:
    _, _, worktree = await worktree_for(app, repo)
    await open_review(user, worktree)

    user.find(marker="review-discard").click()
    await user.should_see(marker="review-discard-dialog", retries=WAIT)
    await user.should_not_see(marker="review-discard-warning")
    with user.scope(marker="review-discard-dialog"):
        await user.should_not_see("Discard anyway")
    user.find(marker="review-discard-confirm").click()
    await eventually(lambda: only(user, "review-state").text == "discarded")
    assert git(repo, "branch", "--list", worktree.branch) != ""  # kept


async def test_an_empty_worktree_explains_itself(user: User, app: MaestroApp, repo: Path) -> None:
    _, _, worktree = await worktree_for(app, repo)
    await open_review(user, worktree)

    assert only(user, "review-state").text == "clean"
    assert only(user, "review-empty").text == (
        "No changes yet against main: the agent has not written anything in this worktree."
    )
    assert only(user, "review-viewed-count").text == ""
    await user.should_see("No file differs from the base.")
    assert not only(user, "review-commit").enabled
    assert not only(user, "review-merge").enabled
    assert only(user, "review-discard").enabled

    (Path(worktree.path) / "notes.md").write_text("first words\n")
    user.find(marker="review-refresh").click()
    await eventually(lambda: listed_paths(user) == ["notes.md"])
    assert only(user, "review-state").text == "dirty"


async def spawn_in(app: MaestroApp, project: Project, worktree: Worktree, task: Task) -> Session:
    body = msgspec.convert(
        {"project_id": project.id, "profile": "shell", "worktree_id": worktree.id, "task_ids": [task.id]},
        SessionSpawn,
    )
    return await app.runtime.runner.spawn(body, actor=ACTOR)


async def test_comments_collect_and_go_to_the_running_agent(user: User, app: MaestroApp, repo: Path) -> None:
    project, task, worktree = await worktree_for(app, repo)
    edit(worktree)
    await open_review(user, worktree)
    assert not only(user, "review-send").enabled
    assert _tooltip(user, "review-send") == "start a session in this worktree to send comments"

    session = await spawn_in(app, project, worktree, task)  # the page hears of it live
    await eventually(lambda: len(user.find(marker="review-session").elements) == 1)
    await eventually(lambda: "Add a comment first" in _tooltip(user, "review-send"))

    body = next(b for b in user.find(marker="review-diff-body").elements if "src/app.py" in b.props["diff"])
    on(user, "review-diff-body", body).trigger("line", {"new": 2, "old": None})  # static/review.js: line 2 clicked
    await user.should_see(marker="review-comment-dialog", retries=WAIT)
    user.find(marker="review-comment-text").type(f"Return the parsed value, not a constant {HTML}")
    user.find(marker="review-comment-add").click()
    await eventually(lambda: texts(user, "review-pending-where") == ["src/app.py:2"])

    block = next(e for e in user.find(marker="review-diff").elements if e.props["data-path"] == "old.txt")
    (button,) = [e for e in user.find(marker="review-comment").elements if block in e.ancestors()]
    on(user, "review-comment", button).click()  # a comment on the whole file
    await user.should_see(marker="review-comment-dialog", retries=WAIT)
    user.find(marker="review-comment-text").type("Why was this removed?")
    user.find(marker="review-comment-add").click()
    await eventually(lambda: texts(user, "review-pending-where") == ["src/app.py:2", "old.txt"])
    assert only(user, "review-send").text == "Send to agent (2)"

    user.find(marker="review-send").click()
    await user.should_not_see(marker="review-pending", retries=WAIT)  # after git is asked again
    (written,) = app.runtime.runner.folder(session.id).glob("review-*.md")
    text = written.read_text()
    assert "## src/app.py:2" in text and f"Return the parsed value, not a constant {HTML}" in text
    assert "## old.txt" in text and "Why was this removed?" in text
    entries = await timeline.session_timeline(session.id, after=0, limit=10)
    assert any("Why was this removed?" in e.message for e in entries)

    user.find(marker="review-discard").click()  # not while the agent still works in it
    await user.should_see(marker="review-discard-running", retries=WAIT)
    assert not only(user, "review-discard-confirm").enabled


async def test_a_removed_line_comment_says_which_line(user: User, app: MaestroApp, repo: Path) -> None:
    project, task, worktree = await worktree_for(app, repo)
    edit(worktree)
    session = await spawn_in(app, project, worktree, task)
    await open_review(user, worktree)

    body = next(b for b in user.find(marker="review-diff-body").elements if "src/app.py" in b.props["diff"])
    on(user, "review-diff-body", body).trigger("line", {"new": None, "old": 2})
    await user.should_see(marker="review-comment-dialog", retries=WAIT)
    user.find(marker="review-comment-text").type("Keep returning 1")
    user.find(marker="review-comment-add").click()
    await eventually(lambda: texts(user, "review-pending-where") == ["src/app.py:−2 (removed line)"])
    user.find(marker="review-send").click()
    await user.should_not_see(marker="review-pending", retries=WAIT)  # after git is asked again
    (written,) = app.runtime.runner.folder(session.id).glob("review-*.md")
    assert "(on line 2 of the old version, which you removed) Keep returning 1" in written.read_text()


async def test_an_unknown_worktree_is_a_friendly_not_found(user: User, app: MaestroApp) -> None:
    await user.open("/worktrees/wtr_01jd8n1r3s5t7v9w2x4y6z")
    await user.should_see(marker="not-found")
    await user.open("/worktrees/not-an-id")
    await user.should_see(marker="not-found")
