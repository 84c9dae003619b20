"""What an agent changed in its worktree against the base: the changed files, their line counts and their diffs.

Pure git, no database. The comparison is between the base commit and the worktree's current files (committed,
staged, unstaged and untracked, .gitignore respected). To see all of them without touching the user's index, each
call snapshots the worktree into a private copy of the index (`git add -A` with GIT_INDEX_FILE pointing at the
copy: the copied stat cache means only changed files are read) and diffs the base against that copy. The diff
commands are plumbing (`diff-index`), which reads none of the user's porcelain diff settings (noprefix, textconv,
colour) that would change the output this module parses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from app.errors import InvalidInput, NotFound
from app.models.worktrees import ChangedFile, ChangeKind, ChangeList, FileDiff
from app.services.worktrees.git import GitFailed, git

_KINDS: dict[str, ChangeKind] = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type_changed",
}
_DIFF = ("diff-index", "--cached", "-M", "--raw", "-z")
_PATCH_START = re.compile(rb"\ndiff --git ")


# --- public API ---------------------------------------------------------------------------------------------------


def safe_path(worktree: Path, path: str) -> str:
    """`path` as a normalised relative posix path inside `worktree`; InvalidInput when it could point elsewhere."""

    def refuse(why: str) -> InvalidInput:
        return InvalidInput(f"file path {path!r} is not allowed: {why}", {"path": path})

    if "\x00" in path:
        raise refuse("it contains a NUL character")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise refuse("it must be relative to the worktree, not absolute")
    if ".." in pure.parts:
        raise refuse("it must not contain '..'")
    if any(part.lower() == ".git" for part in pure.parts):  # .GIT too: case-insensitive file systems
        raise refuse("files inside .git are not part of the changes")
    if not pure.parts:
        raise refuse("it names no file")
    root = worktree.resolve()
    # The file itself may be deleted (or a symlink, whose diff is its target's name): only the folders leading
    # to it are resolved, so a symlinked folder pointing outside the worktree is caught.
    folder = root.joinpath(*pure.parts[:-1]).resolve()
    if folder != root and root not in folder.parents:
        raise refuse("it leads outside the worktree through a symbolic link")
    return pure.as_posix()


async def merge_base(worktree: Path, base_ref: str, fallback: str) -> str:
    """The commit where the worktree's HEAD left `base_ref`, or `fallback` when git cannot tell (ref deleted)."""
    if not base_ref or base_ref.startswith("-"):  # never let a ref be read as an option
        return fallback
    result = await git(worktree, "merge-base", base_ref, "HEAD", check=False)
    sha = result.text.strip()
    return sha if result.code == 0 and sha else fallback


async def list_changes(worktree: Path, base: str, *, offset: int = 0, limit: int = 500) -> ChangeList:
    """A page of the files differing between commit `base` and the worktree's current files, sorted by path."""
    _check_page(offset, limit)
    async with _snapshot(worktree, base) as snap:
        out = (await git(worktree, *_DIFF, "--numstat", snap.base, env=snap.env)).out
    entries, end = _parse_raw(out)
    files = sorted(_with_counts(entries, out, end), key=lambda f: f.path)
    return ChangeList(
        base=snap.base,
        head=snap.head,
        files=files[offset : offset + limit],
        total=len(files),
        added=sum(f.added or 0 for f in files),
        removed=sum(f.removed or 0 for f in files),
        offset=offset,
    )


async def file_diff(worktree: Path, base: str, path: str, *, max_lines: int = 5000) -> FileDiff:
    """One changed file's unified diff against `base`, cut at `max_lines`; NotFound when the file is unchanged."""
    _check_max_lines(max_lines)
    wanted = safe_path(worktree, path)
    async with _snapshot(worktree, base) as snap:
        entries = await _changed(worktree, snap)
        entry = next((e for e in entries if wanted in (e.path, e.old_path)), None)
        if entry is None:
            raise NotFound(f"{wanted!r} has no changes against the base commit", {"path": wanted})
        patches = await _patches(worktree, snap, [entry])
    return _file_diff(entry, patches.get(entry.key, b""), max_lines)


async def diff_page(
    worktree: Path, base: str, *, offset: int = 0, limit: int = 20, max_lines: int = 5000
) -> list[FileDiff]:
    """The diffs of a page of the changed files (list_changes' order), from a single git diff for the page."""
    _check_page(offset, limit)
    _check_max_lines(max_lines)
    async with _snapshot(worktree, base) as snap:
        entries = sorted(await _changed(worktree, snap), key=lambda e: e.path)[offset : offset + limit]
        patches = await _patches(worktree, snap, entries)
    return [_file_diff(e, patches.get(e.key, b""), max_lines) for e in entries]


# --- the snapshot: the worktree's current files in a private index ------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    """The base and HEAD commits, and the environment that makes git read the private index."""

    base: str
    head: str
    env: dict[str, str]


@contextlib.asynccontextmanager
async def _snapshot(worktree: Path, base: str) -> AsyncIterator[_Snapshot]:
    """Stage everything in the worktree into a copy of its index; the copy is deleted on exit."""
    if not base or base.startswith("-"):
        raise InvalidInput(f"base commit {base!r} is not a valid git revision", {"base": base})
    try:
        result = await git(worktree, "rev-parse", "--git-path", "index", "HEAD", f"{base}^{{commit}}", check=False)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"worktree folder {worktree} does not exist", {"path": str(worktree)}) from None
    lines = result.text.splitlines()
    if result.code != 0 or len(lines) != 3:
        if "not a git repository" in result.err:
            raise NotFound(f"{worktree} is not a git checkout", {"path": str(worktree)})
        detail = result.err.strip().splitlines()[0] if result.err.strip() else "unknown revision"
        raise InvalidInput(f"cannot compare {worktree} against {base!r}: {detail}", {"base": base})
    real_index, head, base_sha = Path(lines[0]), lines[1], lines[2]
    index = await asyncio.to_thread(_copy_index, worktree / real_index)  # a relative path is the worktree's
    try:
        env = {"GIT_INDEX_FILE": str(index), "GIT_LITERAL_PATHSPECS": "1"}  # a file named '*.py' is just a name
        # --ignore-errors: one unreadable file must not hide every other change (it keeps its index version).
        await git(worktree, "add", "-A", "--ignore-errors", env=env, check=False)
        yield _Snapshot(base=base_sha, head=head, env=env)
    finally:
        shutil.rmtree(index.parent, ignore_errors=True)


def _copy_index(source: Path) -> Path:
    """A copy of the index in a new temporary folder, times kept (git's racy-entry check compares them)."""
    target = Path(tempfile.mkdtemp(prefix="maestro-index-")) / "index"
    with contextlib.suppress(FileNotFoundError):  # no index yet: git starts an empty one
        shutil.copy2(source, target)
    return target


# --- reading git's output -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One changed file; `key`/`old_key` are git's exact names (os.fsdecode), `path` what a person sees."""

    kind: ChangeKind
    key: str
    old_key: str | None

    @property
    def path(self) -> str:
        return _shown(self.key)

    @property
    def old_path(self) -> str | None:
        return _shown(self.old_key) if self.old_key is not None else None

    @property
    def patches(self) -> int:
        """How many `diff --git` sections git prints for it: a type change is a deletion then an addition."""
        return 2 if self.kind == "type_changed" else 1


def _shown(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (rare) shown as U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


async def _changed(worktree: Path, snap: _Snapshot) -> list[_Entry]:
    """Every changed file, without line counts (cheaper: no file contents read beyond rename detection)."""
    return _parse_raw((await git(worktree, *_DIFF, snap.base, env=snap.env)).out)[0]


def _parse_raw(out: bytes) -> tuple[list[_Entry], int]:
    """The records of `--raw -z` output (`:modes shas STATUS\\0path\\0[path\\0]`) and the offset after them."""
    entries: list[_Entry] = []
    pos = 0
    while out.startswith(b":", pos):
        end = out.index(b"\0", pos)
        status = out[pos:end].rsplit(b" ", 1)[-1].decode()[:1]
        names: list[str] = []
        pos = end + 1
        for _ in range(2 if status in "RC" else 1):
            end = out.index(b"\0", pos)
            names.append(os.fsdecode(out[pos:end]))
            pos = end + 1
        kind = _KINDS.get(status, "modified")  # U/X cannot occur in a freshly staged index
        entries.append(_Entry(kind=kind, key=names[-1], old_key=names[0] if len(names) == 2 else None))
    return entries, pos


def _with_counts(entries: list[_Entry], out: bytes, pos: int) -> list[ChangedFile]:
    """ChangedFiles from the `--numstat -z` records that follow the raw ones, one per entry in the same order."""
    files = []
    for entry in entries:
        end = out.index(b"\0", pos)
        added, removed, _ = out[pos:end].split(b"\t", 2)
        pos = end + 1
        if entry.old_key is not None:  # renames list `added\tremoved\t\0old\0new\0`
            pos = out.index(b"\0", out.index(b"\0", pos) + 1) + 1
        binary = added == b"-"
        files.append(
            ChangedFile(
                path=entry.path,
                old_path=entry.old_path,
                kind=entry.kind,
                added=None if binary else int(added),
                removed=None if binary else int(removed),
                binary=binary,
            )
        )
    return files


async def _patches(worktree: Path, snap: _Snapshot, entries: list[_Entry]) -> dict[str, bytes]:
    """The unified diff of each of `entries`, by key, from one git call limited to their paths."""
    if not entries:
        return {}
    # Both names of a rename, so git pairs them again instead of showing an addition.
    paths = sorted({name for e in entries for name in (e.key, e.old_key) if name is not None})
    args = [*_DIFF, "-p", snap.base, "--", *paths]
    out = (await git(worktree, *args, env=snap.env)).out
    listed, end = _parse_raw(out)
    patch = out[end + 1 :] if out.startswith(b"\0", end) else out[end:]  # -z puts one NUL between the parts
    starts = [0, *(m.start() + 1 for m in _PATCH_START.finditer(patch))] if patch else []
    if len(starts) != sum(e.patches for e in listed):
        raise GitFailed(args, 0, "", "git's diff did not have one section per changed file; cannot split it")
    found: dict[str, bytes] = {}
    at = 0
    for entry in listed:  # git prints the patches in the order of the raw records
        stop = at + entry.patches
        found[entry.key] = patch[starts[at] : starts[stop] if stop < len(starts) else len(patch)]
        at = stop
    return found


def _file_diff(entry: _Entry, patch: bytes, max_lines: int) -> FileDiff:
    """A FileDiff from one file's patch text, cut after `max_lines` lines."""
    common = {"path": entry.path, "old_path": entry.old_path, "kind": entry.kind}
    if _is_binary(patch):
        return FileDiff(**common, binary=True, diff="", lines=0)
    lines = patch.count(b"\n") + (0 if patch.endswith(b"\n") or not patch else 1)
    cut = patch
    if lines > max_lines:
        end = -1
        for _ in range(max_lines):
            end = patch.index(b"\n", end + 1)
        cut = patch[: end + 1]
    return FileDiff(**common, diff=cut.decode("utf-8", "replace"), lines=lines, truncated=lines > max_lines)


def _is_binary(patch: bytes) -> bool:
    """True when git said "Binary files … differ" in the headers (before any hunk)."""
    for line in patch.split(b"\n", 12)[:12]:  # headers are at most ~8 lines
        if line.startswith(b"@@"):
            return False
        if line.startswith(b"Binary files "):
            return True
    return False


def _check_page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 0:
        raise InvalidInput(f"offset and limit must not be negative (got {offset}, {limit})", {})


def _check_max_lines(max_lines: int) -> None:
    if max_lines < 1:
        raise InvalidInput(f"max_lines must be at least 1 (got {max_lines})", {})
