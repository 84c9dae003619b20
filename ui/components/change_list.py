"""The review screen's list of changed files (kind, path, line counts and a viewed box each) and the viewed marks.

Viewed marks are kept per browser in app.storage.user against a fingerprint of the diff, so a file the agent
changed again is no longer marked viewed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from nicegui import app, ui

from app.models.worktrees import ChangedFile, ChangeKind, ChangeList, FileDiff
from ui.context import tid
from ui.design import CHANGE_KIND_ICON

FILES_LISTED = 500  # rows in the file list; the diffs follow the same list
VIEWED_KEY = "review-viewed"  # app.storage.user: {worktree id: {path: {"diff": digest, "stat": digest}}}
REMEMBERED = 100  # worktrees whose viewed marks a browser keeps (the least recently touched go first)

OnOpen = Callable[[int], Awaitable[None] | None]
OnViewed = Callable[[str, bool], Awaitable[None] | None]


class FileList:
    """The file list's card: one row per changed file, the current one highlighted, and how many are viewed."""

    def __init__(self, *, on_open: OnOpen, on_viewed: OnViewed) -> None:
        self.on_open = on_open  # a row was clicked: its index
        self.on_viewed = on_viewed  # a row's viewed box changed: its path, the new value
        self.rows: dict[str, ui.row] = {}  # by path: to highlight a row and scroll to it
        self.boxes: dict[str, ui.checkbox] = {}

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
        self.rows.clear()
        self.boxes.clear()
        if changes is not None and changes.total:
            with self.totals:
                ui.badge(str(changes.total)).props("color=grey-7 rounded")
                with ui.row().classes("gap-1 font-mono text-xs"):
                    ui.label(f"+{changes.added}").classes("text-green-7")
                    ui.label(f"−{changes.removed}").classes("text-red-7")
        files = changes.files if changes is not None else []
        with self.column:
            if changes is None:
                ui.label("No files to list.").classes("text-sm text-grey-6")
            elif not changes.total:
                ui.label("No file differs from the base.").classes("text-sm text-grey-6")
            for index, file in enumerate(files):
                self._row(index, file, current=index == current, viewed=viewed(file))
            if changes is not None and changes.total > len(files):
                more = changes.total - len(files)
                ui.label(f"…and {more:,} more files (the list stops at {FILES_LISTED}).").classes(
                    "text-sm text-grey-7 px-2 pt-1"
                )

    def _row(self, index: int, file: ChangedFile, *, current: bool, viewed: bool) -> None:
        folder, _, name = file.path.rpartition("/")
        with tid(ui.row(), "review-file").classes("w-full items-center gap-1 no-wrap rounded px-1") as row:
            row._props["data-path"] = file.path
            with ui.row().classes("grow min-w-0 items-center gap-2 no-wrap cursor-pointer py-1") as target:
                target.on("click", lambda i=index: self.on_open(i))
                tid(target, "review-file-open")
                kind_icon(file.kind)
                with ui.column().classes("grow min-w-0 gap-0"):
                    tid(ui.label(name).classes("font-mono text-sm truncate"), "review-file-name")
                    if folder:
                        ui.label(folder + "/").classes("font-mono text-xs text-grey-7 truncate")
                counts(file)
            box = ui.checkbox(value=viewed).props("dense size=sm")
            box.on_value_change(lambda e, p=file.path: self.on_viewed(p, bool(e.value)))
            tid(box.tooltip("Viewed"), "review-viewed")
        row._props["title"] = file.path  # the whole path on hover (long paths are cut in the row)
        if current:
            row.classes("m-selected")
        self.rows[file.path] = row
        self.boxes[file.path] = box

    def move(self, old: str | None, new: str) -> None:
        """Highlight the row of `new` instead of the one of `old`."""
        if old is not None and (row := self.rows.get(old)) is not None:
            row.classes(remove="m-selected")
        if (row := self.rows.get(new)) is not None:
            row.classes("m-selected")

    def show_viewed(self, path: str, viewed: bool) -> None:
        """Reflect a viewed mark made elsewhere (a diff's own box, the `v` key)."""
        box = self.boxes.get(path)
        if box is not None and box.value != viewed:
            box.value = viewed

    def show_count(self, viewed: int, total: int) -> None:
        """The "3/7 viewed" counter (empty when no file is listed)."""
        self.counter.set_text(f"{viewed}/{total} viewed" if total else "")


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
