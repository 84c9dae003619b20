"""Changes against the base in a real git worktree: the file list, line counts, diffs, paging and path safety."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from app.errors import InvalidInput, NotFound
from app.services.worktrees.changes import diff_page, file_diff, list_changes, merge_base, safe_path

IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false")


def run(repo: Path, *args: str) -> str:
    """Run git in `repo` (a person's own git, so it may refresh the index as usual)."""
    done = subprocess.run(["git", *IDENTITY, *args], cwd=repo, check=True, capture_output=True)
    return done.stdout.decode()


def write(repo: Path, name: str, text: str | bytes) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on `main` with one commit: a.txt, b.txt, docs/c.md and a .gitignore for *.log."""
    root = tmp_path / "repo"
    root.mkdir()
    run(root, "init", "-q", "-b", "main")
    write(root, "a.txt", "one\ntwo\nthree\n")
    write(root, "b.txt", "bee\n")
    write(root, "docs/c.md", "# c\n")
    write(root, ".gitignore", "*.log\n")
    run(root, "add", "-A")
    run(root, "commit", "-q", "-m", "base")
    return root


def head(repo: Path) -> str:
    return run(repo, "rev-parse", "HEAD").strip()


def kinds(changes) -> dict[str, str]:
    return {f.path: f.kind for f in changes.files}


async def test_edits_deletes_and_untracked_files_are_listed_but_ignored_files_are_not(repo: Path):
    base = head(repo)
    write(repo, "a.txt", "one\n2\nthree\nfour\n")
    (repo / "b.txt").unlink()
    write(repo, "new/d.txt", "d1\nd2\n")  # untracked
    write(repo, "debug.log", "noise\n")  # ignored

    changes = await list_changes(repo, base)

    assert kinds(changes) == {"a.txt": "modified", "b.txt": "deleted", "new/d.txt": "added"}
    counts = {f.path: (f.added, f.removed) for f in changes.files}
    assert counts == {"a.txt": (2, 1), "b.txt": (0, 1), "new/d.txt": (2, 0)}
    assert (changes.total, changes.added, changes.removed) == (3, 4, 2)
    assert changes.base == base and changes.head == base


async def test_renames_are_detected_whether_moved_by_git_or_by_hand(repo: Path):
    base = head(repo)
    (repo / "moved").mkdir()
    run(repo, "mv", "a.txt", "moved/a.txt")
    (repo / "docs/c.md").rename(repo / "docs/c-renamed.md")  # plain mv: a deletion and an untracked file to git

    changes = await list_changes(repo, base)

    assert [(f.path, f.old_path, f.kind) for f in changes.files] == [
        ("docs/c-renamed.md", "docs/c.md", "renamed"),
        ("moved/a.txt", "a.txt", "renamed"),
    ]
    diff = await file_diff(repo, base, "moved/a.txt")
    assert diff.kind == "renamed" and diff.old_path == "a.txt"
    assert "rename from a.txt\nrename to moved/a.txt" in diff.diff


async def test_binary_files_have_no_line_counts_and_an_empty_diff(repo: Path):
    write(repo, "logo.png", b"\x89PNG\x00\x01\x02")
    run(repo, "add", "logo.png")
    run(repo, "commit", "-q", "-m", "logo")
    base = head(repo)
    write(repo, "logo.png", b"\x89PNG\x00\x03\x04\x05")
    write(repo, "data.bin", bytes(range(256)))

    changes = await list_changes(repo, base)

    assert [(f.path, f.kind, f.binary, f.added, f.removed) for f in changes.files] == [
        ("data.bin", "added", True, None, None),
        ("logo.png", "modified", True, None, None),
    ]
    assert (changes.added, changes.removed) == (0, 0)
    diff = await file_diff(repo, base, "logo.png")
    assert (diff.binary, diff.diff, diff.kind) == (True, "", "modified")
    page = await diff_page(repo, base)
    assert [(d.path, d.binary, d.diff) for d in page] == [("data.bin", True, ""), ("logo.png", True, "")]


async def test_committed_staged_unstaged_and_untracked_work_all_count_against_the_merge_base(repo: Path):
    main = head(repo)
    run(repo, "switch", "-q", "-c", "agent")
    write(repo, "committed.txt", "c\n")
    run(repo, "add", "committed.txt")
    run(repo, "commit", "-q", "-m", "agent work")
    write(repo, "staged.txt", "s\n")
    run(repo, "add", "staged.txt")
    write(repo, "b.txt", "bee\nunstaged\n")
    write(repo, "untracked.txt", "u\n")

    base = await merge_base(repo, "main", fallback="unused")
    changes = await list_changes(repo, base)

    assert base == main
    assert changes.head == head(repo) != main
    assert kinds(changes) == {
        "b.txt": "modified",
        "committed.txt": "added",
        "staged.txt": "added",
        "untracked.txt": "added",
    }


async def test_merge_base_falls_back_when_the_base_ref_is_gone(repo: Path):
    assert await merge_base(repo, "no-such-branch", fallback="abc123") == "abc123"
    assert await merge_base(repo, "--output=x", fallback="abc123") == "abc123"  # never read as an option
    assert not (repo / "x").exists()


async def test_no_changes_is_an_empty_list(repo: Path):
    write(repo, "ignored.log", "not a change\n")
    changes = await list_changes(repo, head(repo))
    assert (changes.files, changes.total, changes.added, changes.removed) == ([], 0, 0, 0)
    assert await diff_page(repo, head(repo)) == []


async def test_pages_are_slices_of_the_sorted_list_with_totals_over_all_files(repo: Path):
    base = head(repo)
    for n in range(7):
        write(repo, f"f{n}.txt", "x\n" * (n + 1))

    first = await list_changes(repo, base, limit=3)
    second = await list_changes(repo, base, offset=3, limit=3)
    last = await list_changes(repo, base, offset=6, limit=3)
    beyond = await list_changes(repo, base, offset=50)

    assert [f.path for f in first.files] == ["f0.txt", "f1.txt", "f2.txt"]
    assert [f.path for f in second.files] == ["f3.txt", "f4.txt", "f5.txt"]
    assert [f.path for f in last.files] == ["f6.txt"] and last.offset == 6
    assert beyond.files == []
    for page in (first, second, last, beyond):
        assert (page.total, page.added, page.removed) == (7, 28, 0)
    diffs = await diff_page(repo, base, offset=3, limit=3)
    assert [d.path for d in diffs] == ["f3.txt", "f4.txt", "f5.txt"]
    assert diffs[0].diff.count("\n+x") == 4
    with pytest.raises(InvalidInput):
        await list_changes(repo, base, offset=-1)


async def test_one_page_of_diffs_matches_the_single_file_diffs(repo: Path):
    base = head(repo)
    write(repo, "a.txt", "one\nTWO\nthree\n")
    run(repo, "mv", "b.txt", "bee.txt")
    (repo / "docs/c.md").unlink()
    (repo / "docs/c.md").symlink_to("../a.txt")  # a file that became a symlink: a type change
    write(repo, "z.txt", "zed\n")

    page = await diff_page(repo, base, limit=10)

    assert [(d.path, d.kind) for d in page] == [
        ("a.txt", "modified"),
        ("bee.txt", "renamed"),
        ("docs/c.md", "type_changed"),
        ("z.txt", "added"),
    ]
    for diff in page:
        assert diff == await file_diff(repo, base, diff.path)
    assert "-two\n+TWO\n" in page[0].diff
    assert page[1].old_path == "b.txt" and "rename from b.txt" in page[1].diff
    assert "-# c\n" in page[2].diff and "+../a.txt" in page[2].diff
    assert page[3].diff.startswith("diff --git a/z.txt b/z.txt\nnew file mode 100644\n")


async def test_a_long_diff_is_cut_at_max_lines(repo: Path):
    base = head(repo)
    write(repo, "long.txt", "".join(f"line {n}\n" for n in range(100)))

    diff = await file_diff(repo, base, "long.txt", max_lines=10)
    whole = await file_diff(repo, base, "long.txt")

    assert diff.truncated and diff.diff.count("\n") == 10 and diff.lines == whole.lines
    assert whole.diff.startswith(diff.diff) and not whole.truncated
    assert whole.lines == whole.diff.count("\n") == 106  # 5 header lines, the hunk line, 100 added lines
    [paged] = await diff_page(repo, base, max_lines=10)
    assert paged == diff


async def test_the_users_index_and_files_are_left_exactly_as_they_were(repo: Path):
    base = head(repo)
    write(repo, "a.txt", "staged\n")
    run(repo, "add", "a.txt")
    write(repo, "a.txt", "staged\nthen edited\n")
    write(repo, "b.txt", "unstaged\n")
    write(repo, "untracked.txt", "u\n")
    status = run(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    staged = run(repo, "diff", "--cached", "--name-only")
    index = (repo / ".git/index").read_bytes()
    temporary = set(Path(tempfile.gettempdir()).glob("maestro-index-*"))

    await list_changes(repo, base)
    await diff_page(repo, base)
    await file_diff(repo, base, "a.txt")

    assert (repo / ".git/index").read_bytes() == index
    assert run(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all") == status
    assert run(repo, "diff", "--cached", "--name-only") == staged == "a.txt\n"
    assert (repo / "a.txt").read_text() == "staged\nthen edited\n"
    assert [p.name for p in (repo / ".git").glob("*index*")] == ["index"]
    assert set(Path(tempfile.gettempdir()).glob("maestro-index-*")) <= temporary, "the private index is deleted"


async def test_a_linked_worktree_is_read_through_its_own_index(repo: Path, tmp_path: Path):
    worktree = tmp_path / "wt"
    run(repo, "worktree", "add", "-q", "-b", "agent", str(worktree))
    write(worktree, "a.txt", "changed in the worktree\n")
    write(worktree, "new.txt", "n\n")
    write(repo, "b.txt", "changed in the main checkout only\n")
    main_status = run(repo, "status", "--porcelain=v1")

    base = await merge_base(worktree, "main", fallback="unused")
    changes = await list_changes(worktree, base)

    assert kinds(changes) == {"a.txt": "modified", "new.txt": "added"}
    assert run(repo, "status", "--porcelain=v1") == main_status
    assert run(worktree, "status", "--porcelain=v1") == " M a.txt\n?? new.txt\n"


async def test_names_with_spaces_unicode_newlines_and_glob_characters(repo: Path):
    base = head(repo)
    names = ["dir with space/file name.txt", "naïve/日本語.md", "line\nbreak.txt", "[star]*.py", "tx.py"]
    for name in names:  # tx.py: what '[star]*.py' would match if git read it as a pattern
        write(repo, name, f"{name}\n")

    changes = await list_changes(repo, base)

    assert [f.path for f in changes.files] == sorted(names)
    for name in names:
        diff = await file_diff(repo, base, name)
        assert diff.path == name and diff.kind == "added"
        assert diff.diff.count("diff --git") == 1
    assert [d.path for d in await diff_page(repo, base)] == sorted(names)


async def test_file_diff_of_an_unchanged_or_unknown_file_is_not_found(repo: Path):
    base = head(repo)
    write(repo, "a.txt", "changed\n")
    with pytest.raises(NotFound, match="b.txt"):
        await file_diff(repo, base, "b.txt")
    with pytest.raises(NotFound):
        await file_diff(repo, base, "never/existed.txt")
    with pytest.raises(InvalidInput):
        await file_diff(repo, base, "../a.txt")


async def test_a_base_that_is_not_a_commit_or_a_folder_that_is_not_a_repository_is_refused(repo: Path, tmp_path: Path):
    with pytest.raises(InvalidInput, match="no-such-commit"):
        await list_changes(repo, "no-such-commit")
    with pytest.raises(InvalidInput):
        await list_changes(repo, "--output=x")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotFound, match="not a git checkout"):
        await list_changes(plain, "HEAD")
    with pytest.raises(NotFound, match="does not exist"):
        await list_changes(tmp_path / "missing", "HEAD")


@pytest.mark.parametrize(
    "path",
    ["../x", "/etc/passwd", "a/../../x", "a/../b.txt", ".git/config", "docs/.GIT/x", "a\x00b", "", ".", "outside/x"],
)
def test_safe_path_refuses_paths_that_could_leave_the_worktree(repo: Path, tmp_path: Path, path: str):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / "outside").symlink_to(elsewhere)
    with pytest.raises(InvalidInput, match="not allowed"):
        safe_path(repo, path)


def test_safe_path_normalises_and_accepts_deleted_files_and_inner_symlinks(repo: Path):
    (repo / "b.txt").unlink()
    (repo / "docs-link").symlink_to("docs")
    assert safe_path(repo, "./docs//c.md") == "docs/c.md"
    assert safe_path(repo, "b.txt") == "b.txt"
    assert safe_path(repo, "gone/dir/file.txt") == "gone/dir/file.txt"
    assert safe_path(repo, "docs-link/c.md") == "docs-link/c.md"
    assert safe_path(repo, "naïve name.txt") == "naïve name.txt"
