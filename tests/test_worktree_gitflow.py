"""The git side of worktrees on real repositories: make, copy, inspect, commit, merge, remove, PR refusals."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from app.errors import Conflict, InvalidInput
from app.services.worktrees import gitflow
from app.services.worktrees.gitflow import (
    add_worktree,
    branch_name,
    commit_all,
    copy_files,
    current_branch,
    delete_branch,
    inspect,
    remove_worktree,
    repo_root,
    resolve_commit,
)
from app.services.worktrees.merging import MergeOutcome, merge_into_base
from app.services.worktrees.pulls import gh_pull_request


def run(cwd: Path, *args: str) -> str:
    """A git command for setting the scene (the code under test runs its own)."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def commit_file(cwd: Path, name: str, text: str, message: str = "change") -> str:
    write(cwd / name, text)
    run(cwd, "add", "--", name)
    run(cwd, "commit", "--quiet", "-m", message)
    return run(cwd, "rev-parse", "HEAD")


def tip(repo: Path, branch: str = "main") -> str:
    return run(repo, "rev-parse", f"refs/heads/{branch}")


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No global or system git config of the machine leaks in (signing, hooks paths, identities)."""
    empty = write(tmp_path / "gitconfig", "")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def init_repo(path: Path, *, identity: bool = True) -> Path:
    path.mkdir(parents=True)
    run(path, "init", "--quiet", "-b", "main")
    if identity:
        run(path, "config", "user.name", "Test Person")
        run(path, "config", "user.email", "test@example.com")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = init_repo(tmp_path / "repo")
    commit_file(path, "README.md", "hello\n", "initial")
    return path


@pytest.fixture
async def wt(repo: Path, tmp_path: Path) -> Path:
    """A worktree on maestro/feature made from main."""
    path = tmp_path / "worktrees" / "feature"
    await add_worktree(repo, path, "maestro/feature", "main")
    return path


# --- the repository and its refs -------------------------------------------------------------------------------


async def test_repo_root_finds_the_top_and_refuses_a_plain_folder(repo: Path, tmp_path: Path):
    (repo / "src" / "deep").mkdir(parents=True)
    assert await repo_root(repo / "src" / "deep") == repo.resolve()
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(InvalidInput, match="not a git repository; worktree mode needs one"):
        await repo_root(plain)
    with pytest.raises(InvalidInput, match="not a git repository"):
        await repo_root(tmp_path / "does-not-exist")


async def test_missing_git_says_so(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    with pytest.raises(InvalidInput, match="git is not installed"):
        await repo_root(repo)


async def test_current_branch_and_detached_head(repo: Path):
    assert await current_branch(repo) == "main"
    run(repo, "checkout", "--quiet", "--detach")
    with pytest.raises(InvalidInput, match="choose a base branch"):
        await current_branch(repo)


async def test_resolve_commit_names_unknown_refs_and_refuses_options(repo: Path):
    assert await resolve_commit(repo, "main") == tip(repo)
    assert await resolve_commit(repo, "HEAD~0") == tip(repo)
    with pytest.raises(InvalidInput, match="nope"):
        await resolve_commit(repo, "nope")
    with pytest.raises(InvalidInput):
        await resolve_commit(repo, "--output=/tmp/x")


NASTY_TITLES = [
    None,
    "",
    "..",
    "a..b",
    "ünïcödé",
    "x.lock",
    "@{",
    "@",
    "   spaces   everywhere   ",
    "slashes/and\\back/slashes//",
    "emoji 🚀🔥 only",
    "🚀",
    "x" * 500,
    "-leading-dash",
    "trailing.",
    ".hidden",
    "a~b^c:d?e*f[g",
    "tab\tnew\nline\x7f\x00nul",
    "refs/heads/main",
    "Ünïcödé " * 20,
    "a" * 39 + "-b",
]


async def test_branch_names_always_pass_git_check_ref_format(repo: Path):
    seen = set()
    for title in NASTY_TITLES:
        name = branch_name(title, "01jd8n")
        done = subprocess.run(["git", "check-ref-format", "--branch", name], cwd=repo, capture_output=True)
        assert done.returncode == 0, (title, name)
        slug = name.removeprefix("maestro/").removesuffix("-01jd8n")
        assert name.startswith("maestro/") and 1 <= len(slug) <= 40, name
        seen.add(name)
    assert branch_name("Fix the Login bug!", "ab12") == "maestro/fix-the-login-bug-ab12"
    assert branch_name("ünïcödé", "ab12") == "maestro/unicode-ab12"
    assert branch_name("", "ab12") == branch_name(None, "ab12") == "maestro/task-ab12"
    assert branch_name("🚀", "ab12") == "maestro/task-ab12"


# --- making worktrees -------------------------------------------------------------------------------------------


async def test_add_worktree_isolates_files_from_the_main_checkout(repo: Path, tmp_path: Path):
    path = tmp_path / "deep" / "nested" / "wt"
    base = await add_worktree(repo, path, "maestro/one", "main")
    assert base == tip(repo)
    assert (path / "README.md").read_text() == "hello\n"
    assert run(path, "symbolic-ref", "--short", "HEAD") == "maestro/one"
    write(path / "new.txt", "only here\n")
    assert not (repo / "new.txt").exists()
    assert run(repo, "status", "--porcelain") == ""


async def test_two_worktrees_side_by_side(repo: Path, tmp_path: Path):
    one, two = tmp_path / "wts" / "one", tmp_path / "wts" / "two"
    await add_worktree(repo, one, "maestro/one", "main")
    await add_worktree(repo, two, "maestro/two", "main")
    write(one / "a.txt", "one\n")
    write(two / "a.txt", "two\n")
    await commit_all(one, "one's work")
    await commit_all(two, "two's work")
    assert run(repo, "show", "maestro/one:a.txt") == "one"
    assert run(repo, "show", "maestro/two:a.txt") == "two"
    assert await gitflow.worktree_of_branch(repo, "maestro/two") == two.resolve()
    assert await gitflow.worktree_of_branch(repo, "main") == repo.resolve()
    assert await gitflow.worktree_of_branch(repo, "nobody") is None


async def test_add_worktree_refuses_an_existing_branch_or_path(repo: Path, tmp_path: Path, wt: Path):
    with pytest.raises(Conflict, match="already exists"):
        await add_worktree(repo, tmp_path / "other", "maestro/feature", "main")
    taken = tmp_path / "taken"
    taken.mkdir()
    with pytest.raises(Conflict, match="already exists"):
        await add_worktree(repo, taken, "maestro/fresh", "main")
    assert run(repo, "branch", "--list", "maestro/fresh") == ""
    with pytest.raises(InvalidInput):
        await add_worktree(repo, tmp_path / "bad", "bad..name", "main")
    with pytest.raises(InvalidInput, match="no-such-base"):
        await add_worktree(repo, tmp_path / "bad", "maestro/ok", "no-such-base")


async def test_copy_files_copies_local_files_and_refuses_escapes(repo: Path, tmp_path: Path, wt: Path):
    env = write(repo / ".env", "SECRET=1\n")
    env.chmod(0o600)
    write(repo / "config" / "local" / "settings.toml", "debug = true\n")
    write(repo / "config" / "local" / "nested" / "more.toml", "x = 1\n")
    script = write(repo / "tools" / "run.sh", "#!/bin/sh\n")
    script.chmod(0o755)
    outside = write(tmp_path / "outside" / "secret.txt", "do not copy\n")
    (repo / "link-out").symlink_to(outside)
    (repo / "dir-out").symlink_to(outside.parent, target_is_directory=True)
    write(repo / "README.md", "edited locally\n")  # tracked: the worktree's own copy must win

    copied = await copy_files(
        repo,
        wt,
        [".env", "config/local", "tools/run.sh", "missing.txt", "link-out", "dir-out/secret.txt", "README.md"],
    )

    assert copied == [".env", "config/local", "tools/run.sh"]
    assert (wt / ".env").read_text() == "SECRET=1\n"
    assert stat.S_IMODE((wt / ".env").stat().st_mode) == 0o600
    assert stat.S_IMODE((wt / "tools" / "run.sh").stat().st_mode) == 0o755
    assert (wt / "config" / "local" / "nested" / "more.toml").read_text() == "x = 1\n"
    assert not os.path.lexists(wt / "link-out")
    assert not os.path.lexists(wt / "dir-out")
    assert (wt / "README.md").read_text() == "hello\n"

    for bad in ["../x", "config/../../x", str(outside), "/etc/passwd", ".git/config", ""]:
        with pytest.raises(InvalidInput, match="cannot copy"):
            await copy_files(repo, wt, [".env", bad])
    assert not (tmp_path / "worktrees" / "x").exists()


# --- inspecting -------------------------------------------------------------------------------------------------


async def test_inspect_clean_dirty_ahead_merged_missing(repo: Path, wt: Path):
    start = tip(repo)
    fresh = await inspect(repo, wt, "maestro/feature", "main", base_commit=start)
    assert (fresh.exists, fresh.dirty, fresh.ahead, fresh.behind, fresh.head) == (True, False, 0, 0, start)
    assert fresh.merged and not fresh.new_commits and fresh.state == "clean"

    write(wt / "README.md", "changed\n")
    write(wt / "new" / "a.txt", "a\n")
    write(wt / "new" / "b.txt", "b\n")
    dirty = await inspect(repo, wt, "maestro/feature", "main", base_commit=start)
    assert dirty.dirty and dirty.uncommitted_files == 3 and dirty.state == "dirty"

    head = await commit_all(wt, "work")
    commit_file(repo, "other.txt", "base moved\n")
    ahead = await inspect(repo, wt, "maestro/feature", "main", base_commit=start)
    assert (ahead.dirty, ahead.uncommitted_files, ahead.ahead, ahead.behind, ahead.head) == (False, 0, 1, 1, head)
    assert not ahead.merged and ahead.state == "unmerged"

    await merge_into_base(repo, "maestro/feature", "main", "merge_commit", "Merge feature")
    merged = await inspect(repo, wt, "maestro/feature", "main", base_commit=start)
    assert merged.merged and merged.ahead == 0 and merged.new_commits and merged.state == "merged"

    await remove_worktree(repo, wt, force=False)
    missing = await inspect(repo, wt, "maestro/feature", "main", base_commit=start)
    assert (missing.exists, missing.dirty, missing.head, missing.merged) == (False, False, head, True)
    assert missing.state == "missing"
    run(repo, "branch", "-D", "maestro/feature")
    gone = await inspect(repo, wt, "maestro/feature", "main", base_commit=start)
    assert (gone.exists, gone.head, gone.ahead, gone.merged) == (False, None, 0, False)


async def test_a_fresh_branch_behind_its_base_is_clean_not_merged(repo: Path, wt: Path):
    start = tip(repo)
    commit_file(repo, "other.txt", "base moved\n")
    state = await inspect(repo, wt, "maestro/feature", "main", base_commit=start)
    assert state.merged and state.behind == 1 and state.state == "clean"


# --- committing -------------------------------------------------------------------------------------------------


async def test_commit_all_commits_everything_and_refuses_when_clean(repo: Path, wt: Path):
    with pytest.raises(Conflict, match="nothing to commit: the worktree has no changes"):
        await commit_all(wt, "empty")
    write(wt / "README.md", "changed\n")
    write(wt / "brand-new.txt", "new\n")
    sha = await commit_all(wt, "Agent's work", author="Agent Smith <agent@example.com>")
    assert sha == run(wt, "rev-parse", "HEAD") == tip(repo, "maestro/feature")
    assert run(wt, "status", "--porcelain") == ""
    assert run(wt, "log", "-1", "--format=%s|%an|%cn") == "Agent's work|Agent Smith|Test Person"
    assert sorted(run(wt, "show", "--name-only", "--format=", "HEAD").splitlines()) == ["README.md", "brand-new.txt"]


async def test_commit_all_falls_back_to_maestro_identity(tmp_path: Path):
    bare = init_repo(tmp_path / "anon", identity=False)
    write(bare / "a.txt", "a\n")
    await commit_all(bare, "first")
    assert run(bare, "log", "-1", "--format=%an <%ae>") == "Maestro <maestro@localhost>"


async def test_commit_all_runs_the_repositorys_hooks(repo: Path, wt: Path):
    hook = write(repo / ".git" / "hooks" / "pre-commit", "#!/bin/sh\necho 'lint failed' >&2\nexit 1\n")
    hook.chmod(0o755)
    write(wt / "x.txt", "x\n")
    with pytest.raises(Conflict, match="the commit was refused: lint failed"):
        await commit_all(wt, "blocked")
    assert tip(repo, "maestro/feature") == tip(repo)


# --- merging ----------------------------------------------------------------------------------------------------


async def test_fast_forward_updates_the_checked_out_base(repo: Path, wt: Path):
    write(wt / "feature.txt", "feature\n")
    head = await commit_all(wt, "feature")
    outcome = await merge_into_base(repo, "maestro/feature", "main", "fast_forward", "unused")
    assert outcome == MergeOutcome(commit=head, fast_forward=True)
    assert tip(repo) == head
    assert (repo / "feature.txt").read_text() == "feature\n"
    assert run(repo, "status", "--porcelain") == ""
    with pytest.raises(Conflict, match="nothing to merge"):
        await merge_into_base(repo, "maestro/feature", "main", "fast_forward", "again")


async def test_nothing_to_merge_on_a_fresh_branch(repo: Path, wt: Path):
    with pytest.raises(Conflict, match="nothing to merge"):
        await merge_into_base(repo, "maestro/feature", "main", "merge_commit", "m")


async def test_merge_commit_when_the_base_moved_on(repo: Path, wt: Path):
    write(wt / "feature.txt", "feature\n")
    head = await commit_all(wt, "feature")
    moved = commit_file(repo, "base.txt", "base\n", "base work")
    outcome = await merge_into_base(repo, "maestro/feature", "main", "merge_commit", "Merge the feature")
    assert not outcome.fast_forward and outcome.commit == tip(repo)
    assert run(repo, "log", "-1", "--format=%P|%s") == f"{moved} {head}|Merge the feature"
    assert (repo / "feature.txt").read_text() == "feature\n" and (repo / "base.txt").exists()
    assert run(repo, "status", "--porcelain") == ""


async def test_fast_forward_strategy_refuses_when_the_base_moved(repo: Path, wt: Path):
    write(wt / "feature.txt", "feature\n")
    await commit_all(wt, "feature")
    moved = commit_file(repo, "base.txt", "base\n")
    with pytest.raises(Conflict, match="the base branch has moved on"):
        await merge_into_base(repo, "maestro/feature", "main", "fast_forward", "m")
    assert tip(repo) == moved and not (repo / "feature.txt").exists()


async def test_a_conflict_lists_the_files_and_changes_nothing(repo: Path, wt: Path):
    write(wt / "README.md", "feature version\n")
    write(wt / "clean.txt", "merges fine\n")
    await commit_all(wt, "feature")
    moved = commit_file(repo, "README.md", "base version\n")
    status_before = run(repo, "status", "--porcelain=v1", "--untracked-files=all")
    with pytest.raises(Conflict, match=r"README\.md") as caught:
        await merge_into_base(repo, "maestro/feature", "main", "merge_commit", "m")
    assert caught.value.extra == {"files": ["README.md"]}
    assert tip(repo) == moved
    assert (repo / "README.md").read_text() == "base version\n" and not (repo / "clean.txt").exists()
    assert run(repo, "status", "--porcelain=v1", "--untracked-files=all") == status_before == ""


async def test_a_dirty_base_checkout_refuses_the_merge(repo: Path, wt: Path):
    write(wt / "feature.txt", "feature\n")
    await commit_all(wt, "feature")
    before = tip(repo)
    write(repo / "README.md", "work in progress\n")
    with pytest.raises(Conflict, match="your checkout of main has uncommitted changes; commit or stash them"):
        await merge_into_base(repo, "maestro/feature", "main", "fast_forward", "m")
    assert tip(repo) == before
    assert (repo / "README.md").read_text() == "work in progress\n" and not (repo / "feature.txt").exists()
    write(repo / "untracked-notes.txt", "mine\n")  # untracked files alone do not block
    run(repo, "checkout", "--quiet", "--", "README.md")
    outcome = await merge_into_base(repo, "maestro/feature", "main", "fast_forward", "m")
    assert tip(repo) == outcome.commit and (repo / "feature.txt").exists()


async def test_an_untracked_file_in_the_way_changes_nothing(repo: Path, wt: Path):
    write(wt / "feature.txt", "feature\n")
    await commit_all(wt, "feature")
    before = tip(repo)
    write(repo / "feature.txt", "mine, untracked\n")
    with pytest.raises(Conflict, match="could not update your checkout of main"):
        await merge_into_base(repo, "maestro/feature", "main", "fast_forward", "m")
    assert tip(repo) == before and (repo / "feature.txt").read_text() == "mine, untracked\n"


async def test_a_base_checked_out_nowhere_moves_by_update_ref(repo: Path, wt: Path):
    write(wt / "feature.txt", "feature\n")
    await commit_all(wt, "feature")
    run(repo, "switch", "--quiet", "-c", "elsewhere")
    moved = commit_file(repo, "base.txt", "base\n")
    run(repo, "branch", "--quiet", "-f", "main", moved)
    run(repo, "switch", "--quiet", "-c", "parked", "HEAD~1")
    outcome = await merge_into_base(repo, "maestro/feature", "main", "merge_commit", "Merge it")
    assert tip(repo) == outcome.commit and not outcome.fast_forward
    assert run(repo, "symbolic-ref", "--short", "HEAD") == "parked"
    assert not (repo / "feature.txt").exists() and run(repo, "status", "--porcelain") == ""
    assert run(repo, "show", "main:feature.txt") == "feature"


async def test_a_base_checked_out_in_another_worktree_updates_there(repo: Path, tmp_path: Path):
    release = tmp_path / "release"
    await add_worktree(repo, release, "release", "main")
    feature = tmp_path / "feature"
    await add_worktree(repo, feature, "maestro/feature", "release")
    write(feature / "f.txt", "f\n")
    head = await commit_all(feature, "f")
    outcome = await merge_into_base(repo, "maestro/feature", "release", "fast_forward", "m")
    assert outcome.commit == head == tip(repo, "release")
    assert (release / "f.txt").read_text() == "f\n" and not (repo / "f.txt").exists()


async def test_merge_needs_a_local_base_branch(repo: Path, wt: Path):
    write(wt / "f.txt", "f\n")
    await commit_all(wt, "f")
    run(repo, "tag", "v1")
    for base in ["v1", tip(repo), "origin/main", "-main"]:
        with pytest.raises(InvalidInput):
            await merge_into_base(repo, "maestro/feature", base, "merge_commit", "m")
    with pytest.raises(InvalidInput, match="strategy"):
        await merge_into_base(repo, "maestro/feature", "main", "octopus", "m")


# --- removing ---------------------------------------------------------------------------------------------------


async def test_remove_worktree_refuses_a_dirty_one_unless_forced(repo: Path, wt: Path):
    write(wt / "a.txt", "a\n")
    write(wt / "README.md", "changed\n")
    with pytest.raises(Conflict, match="2 uncommitted file"):
        await remove_worktree(repo, wt, force=False)
    assert (wt / "a.txt").exists()
    await remove_worktree(repo, wt, force=True)
    assert not wt.exists()
    assert str(wt) not in run(repo, "worktree", "list")
    assert tip(repo, "maestro/feature")  # the branch stays


async def test_remove_worktree_of_a_vanished_directory_prunes(repo: Path, wt: Path):
    subprocess.run(["rm", "-rf", str(wt)], check=True)
    await remove_worktree(repo, wt, force=False)
    assert str(wt) not in run(repo, "worktree", "list")


async def test_delete_branch_refuses_unmerged_work_unless_forced(repo: Path, wt: Path):
    write(wt / "a.txt", "a\n")
    await commit_all(wt, "a")
    await remove_worktree(repo, wt, force=False)
    with pytest.raises(Conflict, match="1 commit"):
        await delete_branch(repo, "maestro/feature", "main", force=False)
    assert tip(repo, "maestro/feature")
    await delete_branch(repo, "maestro/feature", "main", force=True)
    assert run(repo, "branch", "--list", "maestro/feature") == ""
    await delete_branch(repo, "maestro/feature", "main", force=False)  # already gone: fine


async def test_delete_branch_of_merged_work_needs_no_force(repo: Path, wt: Path):
    write(wt / "a.txt", "a\n")
    await commit_all(wt, "a")
    await merge_into_base(repo, "maestro/feature", "main", "fast_forward", "m")
    await remove_worktree(repo, wt, force=False)
    await delete_branch(repo, "maestro/feature", "main", force=False)
    assert run(repo, "branch", "--list", "maestro/feature") == ""


# --- pull requests ----------------------------------------------------------------------------------------------


def path_with(tmp_path: Path, *, gh: bool) -> tuple[str, Path]:
    """A PATH holding git (and a stand-in gh that records being run); returns it and the record file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real_git = subprocess.run(["which", "git"], capture_output=True, text=True, check=True).stdout.strip()
    (bin_dir / "git").symlink_to(real_git)
    record = tmp_path / "gh-was-run"
    if gh:
        fake = write(bin_dir / "gh", f"#!/bin/sh\ntouch {record}\nexit 1\n")
        fake.chmod(0o755)
    return str(bin_dir), record


async def test_pull_request_needs_gh(repo: Path, wt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path, _ = path_with(tmp_path, gh=False)
    monkeypatch.setenv("PATH", path)
    with pytest.raises(Conflict, match="install GitHub's gh CLI to open pull requests"):
        await gh_pull_request(wt, "maestro/feature", "main", "title", "body")


async def test_pull_request_needs_a_remote(repo: Path, wt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path, record = path_with(tmp_path, gh=True)
    monkeypatch.setenv("PATH", path)
    with pytest.raises(Conflict, match="this repository has no remote to push to"):
        await gh_pull_request(wt, "maestro/feature", "main", "title", "body")
    assert not record.exists()
