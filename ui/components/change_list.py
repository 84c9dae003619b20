"""The review screen's list of changed files (kind, path, line counts and a viewed box each) and the viewed marks.

Viewed marks are kept per browser in app.storage.user against a fingerprint of the diff, so a file the agent
changed again is no longer marked viewed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import app, ui
from nicegui.events import GenericEventArguments

from app.models.worktrees import ChangedFile, ChangeKind, ChangeList, FileDiff
from app.resources import static_dir
from ui.context import tid
from ui.design import CHANGE_KIND_ICON

FILES_LISTED = 500  # rows in the file list; the diffs follow the same list
VIEWED_KEY = "review-viewed"  # app.storage.user: {worktree id: {path: {"diff": digest, "stat": digest}}}
REMEMBERED = 100  # worktrees whose viewed marks a browser keeps (the least recently touched go first)

OnOpen = Callable[[int], Awaitable[None] | None]
OnViewed = Callable[[str, bool], Awaitable[None] | None]


class FileList:
    """The file list's card: a row per changed file, the current one highlighted, and how many are viewed.

    The rows are data (one dict per file) drawn in the browser by one element (FileRows), not elements of their own:
    500 rows cost one element instead of thousands, so a big change's page is shown at once. Each row keeps its test
    ids in the page (review-file, review-file-open, review-file-name, review-viewed).
    """

    def __init__(self, *, on_open: OnOpen, on_viewed: OnViewed) -> None:
        self.on_open = on_open  # a row was clicked: its index
        self.on_viewed = on_viewed  # a row's viewed box changed: its path, the new value
        self.rows: list[dict[str, Any]] = []  # one per listed file, in order (FileRows draws them)
        self.index: dict[str, int] = {}  # path -> position in rows
        self.list: FileRows | None = None

    def panel(self) -> None:
        """Draw the card where the page wants it."""
        with ui.card().classes("w-full gap-1 p-3"):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.label("Files").classes("font-semibold")
                self.totals = ui.row().classes("items-center gap-1")
                ui.space()
                self.counter = tid(ui.label().classes("text-sm text-grey-7 shrink-0"), "review-viewed-count")
            self.column = tid(ui.column().classes("w-full gap-0"), "review-files")

    def draw(self, changes: ChangeList | None, *, current: int, viewed: Callable[[ChangedFile], bool]) -> None:
        """The totals and a row per listed file: kind, path, counts, binary mark and its viewed box."""
        self.column.clear()
        self.totals.clear()
        self.list = None
        if changes is not None and changes.total:
            with self.totals:
                ui.badge(str(changes.total)).props("color=grey-7 rounded")
                with ui.row().classes("gap-1 font-mono text-xs"):
                    ui.label(f"+{changes.added}").classes("text-green-7")
                    ui.label(f"−{changes.removed}").classes("text-red-7")
        files = changes.files if changes is not None else []
        self.rows = [_row(f, current=i == current, viewed=viewed(f)) for i, f in enumerate(files)]
        self.index = {row["path"]: i for i, row in enumerate(self.rows)}
        with self.column:
            if changes is None:
                ui.label("No files to list.").classes("text-sm text-grey-6")
            elif not changes.total:
                ui.label("No file differs from the base.").classes("text-sm text-grey-6")
            if self.rows:
                self.list = tid(FileRows(self.rows), "review-file-list").classes("w-full")
                self.rows = self.list.props["rows"]  # the element keeps its own (observed) copy: change that one
                self.list.on("open", self._opened)
                self.list.on("viewed", self._viewed)
            if changes is not None and changes.total > len(files):
                more = changes.total - len(files)
                ui.label(f"…and {more:,} more files (the list stops at {FILES_LISTED}).").classes(
                    "text-sm text-grey-7 px-2 pt-1"
                )

    async def _opened(self, event: GenericEventArguments) -> None:
        index = self.index.get(_path_of(event.args))
        if index is not None:
            await _maybe_await(self.on_open(index))

    async def _viewed(self, event: GenericEventArguments) -> None:
        path = _path_of(event.args)
        if path in self.index:
            await _maybe_await(self.on_viewed(path, bool(event.args.get("viewed"))))

    def move(self, old: str | None, new: str) -> None:
        """Highlight the row of `new` instead of the one of `old`."""
        self._set(old, "current", False)
        self._set(new, "current", True)

    def show_viewed(self, path: str, viewed: bool) -> None:
        """Reflect a viewed mark made elsewhere (a diff's own box, the `v` key), or correct a box clicked."""
        self._set(path, "viewed", viewed)

    def _set(self, path: str | None, key: str, value: bool) -> None:
        index = self.index.get(path) if path is not None else None
        if index is None or self.rows[index][key] == value:
            return
        self.rows[index][key] = value  # the list's own rows: it is sent again (once for all changes of a handler)

    def scroll_script(self, path: str) -> str:
        """JavaScript that scrolls the row of `path` into view in the list ("" when it is not listed)."""
        index = self.index.get(path)
        if index is None or self.list is None:
            return ""
        row = f"document.querySelector('#c{self.list.id} [data-index=\"{index}\"]')"
        return f'{row}?.scrollIntoView({{block: "nearest"}});'

    def show_count(self, viewed: int, total: int) -> None:
        """The "3/7 viewed" counter (empty when no file is listed)."""
        self.counter.set_text(f"{viewed}/{total} viewed" if total else "")


class FileRows(ui.element, component=static_dir() / "review.js"):
    """The rows of the file list, drawn in the browser from `rows` (static/review.js, its "files" part); emits
    `open` ({path}) when a row is clicked and `viewed` ({path, viewed}) when its box is. Paths are written as text."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self._props["part"] = "files"
        self._props["rows"] = rows


def _row(file: ChangedFile, *, current: bool, viewed: bool) -> dict[str, Any]:
    """One row's data for FileRows (counts are None for a binary file)."""
    folder, _, name = file.path.rpartition("/")
    icon, colour = CHANGE_KIND_ICON[file.kind]
    binary = file.binary or file.added is None
    return {
        "path": file.path,
        "name": name,
        "folder": f"{folder}/" if folder else "",
        "kind": file.kind.replace("_", " "),
        "icon": icon,
        "colour": f"text-{colour}",
        "added": None if binary else file.added,
        "removed": None if binary else file.removed,
        "viewed": viewed,
        "current": current,
    }


def _path_of(args: object) -> str:
    return str(args.get("path", "")) if isinstance(args, dict) else ""


async def _maybe_await(result: Awaitable[None] | None) -> None:
    if result is not None:
        await result


class ViewedMarks:
    """The files of one worktree this browser marked viewed, each against a fingerprint of what it saw."""

    def __init__(self, worktree_id: str) -> None:
        self.id = worktree_id
        self.marks: dict[str, dict[str, str]] = {}  # path -> {"diff": digest, "stat": digest}

    def reload(self) -> None:
        """Read this browser's marks for the worktree again."""
        stored = app.storage.user.get(VIEWED_KEY, {}).get(self.id, {})
        self.marks = {path: dict(mark) for path, mark in stored.items() if isinstance(mark, dict)}

    def is_viewed(self, file: ChangedFile, diff: FileDiff | None) -> bool:
        """Marked viewed, and the diff is still the one that was seen (a loaded diff is compared exactly)."""
        mark = self.marks.get(file.path)
        if not mark:
            return False
        if diff is not None:
            return mark.get("diff") == diff_digest(diff)
        return mark.get("stat") == stat_digest(file)

    def mark(self, file: ChangedFile, diff: FileDiff) -> None:
        """Mark a file viewed as its diff is now (kept once saved)."""
        self.marks[file.path] = {"diff": diff_digest(diff), "stat": stat_digest(file)}

    def unmark(self, path: str) -> None:
        """Drop a file's mark (kept once saved)."""
        self.marks.pop(path, None)

    def lapse(self, loaded: list[FileDiff]) -> None:
        """A file whose diff changed since it was marked is not viewed any more."""
        lapsed = [d.path for d in loaded if d.path in self.marks and self.marks[d.path].get("diff") != diff_digest(d)]
        for path in lapsed:
            del self.marks[path]
        if lapsed:
            self.save()

    def save(self) -> None:
        """Remember the marks for this browser; this worktree becomes the most recently touched."""
        store = {k: v for k, v in app.storage.user.get(VIEWED_KEY, {}).items() if k != self.id}
        if self.marks:
            store[self.id] = self.marks  # last: the most recently touched
        while len(store) > REMEMBERED:
            store.pop(next(iter(store)))
        app.storage.user[VIEWED_KEY] = store


def diff_digest(diff: FileDiff) -> str:
    """A fingerprint of what the person saw: a viewed mark holds it and lapses when the diff changes."""
    text = "\0".join([diff.kind, diff.old_path or "", str(diff.lines), diff.diff])
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def stat_digest(file: ChangedFile) -> str:
    """A cheaper fingerprint from the file list (for files whose diff is not loaded yet)."""
    return f"{file.kind}:{file.old_path or ''}:{file.added}:{file.removed}"


def counts(file: ChangedFile) -> None:
    """+added −removed in green and red, or a "binary" mark."""
    if file.binary or file.added is None:
        tid(ui.badge("binary").props("outline color=grey-7"), "review-binary")
        return
    with ui.row().classes("gap-1 no-wrap font-mono text-xs shrink-0"):
        ui.label(f"+{file.added}").classes("text-green-7")
        ui.label(f"−{file.removed}").classes("text-red-7")


def kind_icon(kind: ChangeKind) -> None:
    """The change kind as a coloured icon with its name as tooltip."""
    icon, colour = CHANGE_KIND_ICON[kind]
    ui.icon(icon, color=colour, size="18px").classes("shrink-0").tooltip(kind.replace("_", " "))
