"""The diff viewer of the review screen: the changed files' list with viewed marks, beside their diffs drawn by
diff2html (a page at a time, or one file in focus mode; unified or side by side).

The diff text is untrusted (anything an agent wrote). It travels to the browser as the prop of a Vue component
(static/review.js) and only diff2html, which escapes every line, turns it into markup; Python never builds HTML
from it. Binary files, truncated diffs and changes without lines get a sentence instead of (or above) the diff.
Viewed marks are kept per browser in app.storage.user against a fingerprint of the diff, so a file the agent
changed again is no longer marked viewed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import app, ui

from app.errors import MaestroError
from app.models.worktrees import ChangedFile, ChangeKind, ChangeList, FileDiff, Worktree
from app.resources import static_dir
from app.services.worktrees import actions
from ui.actions import run
from ui.context import tid

PAGE = 20  # diffs drawn at first and per "load more"
FILES_LISTED = 500  # rows in the file list; the diffs follow the same list
VIEWED_KEY = "review-viewed"  # app.storage.user: {worktree id: {path: {"diff": digest, "stat": digest}}}
LAYOUT_KEY = "review-layout"  # app.storage.user: "line-by-line" | "side-by-side"
REMEMBERED = 100  # worktrees whose viewed marks a browser keeps (the least recently touched go first)
LAYOUTS = {"line-by-line": "Unified", "side-by-side": "Side by side"}
KIND_ICON: dict[ChangeKind, tuple[str, str]] = {  # icon, colour
    "added": ("add_box", "green-7"),
    "modified": ("edit_document", "amber-8"),
    "deleted": ("indeterminate_check_box", "red-7"),
    "renamed": ("drive_file_rename_outline", "blue-7"),
    "copied": ("file_copy", "blue-7"),
    "type_changed": ("swap_horiz", "purple-6"),
    "binary": ("insert_drive_file", "grey-7"),
}
MAX_LINES_LABEL = "5,000"  # app.services.worktrees.changes cuts a file's diff here

OnLine = Callable[[str, int | None, int | None], Awaitable[None] | None]
OnViewed = Callable[[str, bool], Awaitable[None] | None]


class ChangesView:
    """One worktree's changes in this tab: what is loaded, which file is current, focus mode and the layout."""

    def __init__(self, worktree_id: str, *, on_line: OnLine, on_refresh: Callable[[], Awaitable[None]]) -> None:
        self.id = worktree_id
        self.on_line = on_line  # a line number (or a file's comment button) was clicked: path, new line, old line
        self.on_refresh = on_refresh
        self.client = ui.context.client
        self.base_ref = ""
        self.merged = False
        self.changes: ChangeList | None = None
        self.problem: str | None = None  # why the changes could not be read
        self.diffs: dict[str, FileDiff] = {}
        self.blocks: dict[str, DiffBlock] = {}
        self.boxes: dict[str, ui.checkbox] = {}
        self.rows: dict[str, ui.row] = {}
        self.marks: dict[str, dict[str, str]] = {}
        self.shown = 0  # list mode: files[:shown] have their diff drawn
        self.current = 0  # the file j/k/v act on
        self.focus = False
        layout = app.storage.user.get(LAYOUT_KEY)
        self.layout = layout if layout in LAYOUTS else "line-by-line"

    @property
    def files(self) -> list[ChangedFile]:
        """The changed files listed (sorted by path, as the diffs are)."""
        return self.changes.files if self.changes is not None else []

    @property
    def total(self) -> int:
        """Files changed in all (the list may stop earlier)."""
        return self.changes.total if self.changes is not None else 0

    def file_panel(self) -> None:
        """Draw the file list's card where the page wants it."""
        with ui.card().classes("w-full gap-1 p-3"):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.label("Files").classes("font-semibold")
                self.totals = ui.row().classes("items-center gap-1")
                ui.space()
                self.counter = tid(ui.label().classes("text-sm text-grey-7 shrink-0"), "review-viewed-count")
            self.file_list = tid(ui.column().classes("w-full gap-0"), "review-files")

    def diff_panel(self) -> None:
        """Draw the diff column where the page wants it: its toolbar, the diffs and the "load more" row."""
        with ui.row().classes("w-full items-center gap-3"):
            toggle = ui.toggle(LAYOUTS, value=self.layout, on_change=lambda e: self.set_layout(e.value))
            tid(toggle.props("dense no-caps unelevated toggle-color=primary"), "review-layout")
            self.focus_switch = ui.switch("Focus: one file at a time", on_change=self._focus_changed)
            tid(self.focus_switch, "review-focus")
            refresh = ui.button(icon="refresh", on_click=self.on_refresh).props("flat round dense")
            tid(refresh.tooltip("Read the worktree again (the agent may have written more)"), "review-refresh")
            ui.space()
            ui.label("j / k: next / previous file · v: viewed · f: focus").classes("text-xs text-grey-7")
        self.diff_area = tid(ui.column().classes("w-full gap-3"), "review-diffs")
        self.more = ui.row().classes("w-full justify-center")

    async def load(self, worktree: Worktree, state: str) -> None:
        """Read the changed files again and the diffs of the first page (a discarded worktree has none)."""
        self.base_ref = worktree.base_ref
        self.merged = worktree.status == "merged" or state == "merged"
        self.changes, self.problem = None, None
        self.diffs.clear()
        self.marks = self._stored_marks()
        if worktree.status == "discarded":
            self.problem = "This worktree was discarded: its checkout is gone, so there is nothing to review."
            return
        try:
            self.changes = await actions.list_changes(self.id, limit=FILES_LISTED)
        except MaestroError as exc:
            self.problem = f"The changes cannot be read: {exc.detail}"
            return
        self.shown = min(PAGE, len(self.files))
        self.current = min(self.current, max(len(self.files) - 1, 0))
        await self._load(0, self.shown)

    async def draw(self) -> None:
        """Draw the file list and the diffs from what was loaded."""
        self.draw_files()
        await self.draw_diffs()

    async def _load(self, start: int, stop: int) -> None:
        """Make sure files[start:stop] have their diffs (one git call for the missing ones)."""
        missing = [i for i in range(start, min(stop, len(self.files))) if self.files[i].path not in self.diffs]
        if not missing:
            return
        first, last = missing[0], missing[-1] + 1
        page = await run(actions.diff_page(self.id, offset=first, limit=last - first))
        for diff in page or []:
            self.diffs[diff.path] = diff
        self._lapse_marks(page or [])

    # ------------------------------------------------------------------------------------------------ files
    def draw_files(self) -> None:
        """The file list: kind, path, counts, binary mark and a viewed box per file; the current one highlighted."""
        self.file_list.clear()
        self.totals.clear()
        self.rows.clear()
        self.boxes.clear()
        changes = self.changes
        if changes is not None and changes.total:
            with self.totals:
                ui.badge(str(changes.total)).props("color=grey-7 rounded")
                with ui.row().classes("gap-1 font-mono text-xs"):
                    ui.label(f"+{changes.added}").classes("text-green-7")
                    ui.label(f"−{changes.removed}").classes("text-red-7")
        with self.file_list:
            if changes is None:
                ui.label("No files to list.").classes("text-sm text-grey-6")
            elif not changes.total:
                ui.label("No file differs from the base.").classes("text-sm text-grey-6")
            for index, file in enumerate(self.files):
                self._file_row(index, file)
            if changes is not None and changes.total > len(self.files):
                more = changes.total - len(self.files)
                ui.label(f"…and {more:,} more files (the list stops at {FILES_LISTED}).").classes(
                    "text-sm text-grey-7 px-2 pt-1"
                )
        self._count()

    def _file_row(self, index: int, file: ChangedFile) -> None:
        folder, _, name = file.path.rpartition("/")
        with tid(ui.row(), "review-file").classes("w-full items-center gap-1 no-wrap rounded px-1") as row:
            row._props["data-path"] = file.path
            with ui.row().classes("grow min-w-0 items-center gap-2 no-wrap cursor-pointer py-1") as target:
                target.on("click", lambda i=index: self.go_to(i))
                tid(target, "review-file-open")
                kind_icon(file.kind)
                with ui.column().classes("grow min-w-0 gap-0"):
                    tid(ui.label(name).classes("font-mono text-sm truncate"), "review-file-name")
                    if folder:
                        ui.label(folder + "/").classes("font-mono text-xs text-grey-7 truncate")
                counts(file)
            box = ui.checkbox(value=self.is_viewed(file)).props("dense size=sm")
            box.on_value_change(lambda e, p=file.path: self.set_viewed(p, bool(e.value)))
            tid(box.tooltip("Viewed"), "review-viewed")
        row._props["title"] = file.path  # the whole path on hover (long paths are cut in the row)
        if index == self.current:
            row.classes("m-selected")
        self.rows[file.path] = row
        self.boxes[file.path] = box

    def _count(self) -> None:
        total = len(self.files)
        viewed = sum(1 for f in self.files if self.is_viewed(f))
        self.counter.set_text(f"{viewed}/{total} viewed" if total else "")

    # ------------------------------------------------------------------------------------------------ viewed marks
    def _stored_marks(self) -> dict[str, dict[str, str]]:
        stored = app.storage.user.get(VIEWED_KEY, {}).get(self.id, {})
        return {path: dict(mark) for path, mark in stored.items() if isinstance(mark, dict)}

    def _save_marks(self) -> None:
        store = {k: v for k, v in app.storage.user.get(VIEWED_KEY, {}).items() if k != self.id}
        if self.marks:
            store[self.id] = self.marks  # last: the most recently touched
        while len(store) > REMEMBERED:
            store.pop(next(iter(store)))
        app.storage.user[VIEWED_KEY] = store

    def is_viewed(self, file: ChangedFile) -> bool:
        """Marked viewed, and the diff is still the one that was seen (a loaded diff is compared exactly)."""
        mark = self.marks.get(file.path)
        if not mark:
            return False
        diff = self.diffs.get(file.path)
        if diff is not None:
            return mark.get("diff") == diff_digest(diff)
        return mark.get("stat") == stat_digest(file)

    def _lapse_marks(self, loaded: list[FileDiff]) -> None:
        """A file whose diff changed since it was marked is not viewed any more."""
        lapsed = [d.path for d in loaded if d.path in self.marks and self.marks[d.path].get("diff") != diff_digest(d)]
        for path in lapsed:
            del self.marks[path]
        if lapsed:
            self._save_marks()

    async def set_viewed(self, path: str, viewed: bool) -> None:
        """Mark or unmark a file (remembered for this browser, against a fingerprint of its diff)."""
        file = next((f for f in self.files if f.path == path), None)
        if file is None:
            return
        if self.is_viewed(file) != viewed:
            if viewed:
                diff = self.diffs.get(path) or await run(actions.file_diff(self.id, path))
                if diff is not None:
                    self.diffs[path] = diff
                    self.marks[path] = {"diff": diff_digest(diff), "stat": stat_digest(file)}
            else:
                self.marks.pop(path, None)
            self._save_marks()
        now = self.is_viewed(file)
        box = self.boxes.get(path)
        if box is not None and box.value != now:
            box.value = now
        block = self.blocks.get(path)
        if block is not None:
            block.set_viewed(now)
        self._count()

    async def toggle_viewed(self) -> None:
        """The `v` key: flip the current file's viewed mark."""
        if self.files:
            file = self.files[self.current]
            await self.set_viewed(file.path, not self.is_viewed(file))

    # ------------------------------------------------------------------------------------------------ diffs
    async def draw_diffs(self) -> None:
        """The diff column: an empty state, the list of drawn diffs with "load more", or the one file in focus."""
        if self.focus and self.files:
            await self._load(self.current, self.current + 1)
        # No await from here on: moves made quickly one after another each redraw whole, never interleaved.
        self.diff_area.clear()
        self.more.clear()
        self.blocks.clear()
        with self.diff_area:
            if self.problem is not None:
                _empty("block", self.problem, "review-problem")
                return
            if not self.files:
                self._empty_state()
                return
            if self.focus:
                self._focus_nav()
                self._block(self.files[self.current])
                return
            for file in self.files[: self.shown]:
                self._block(file)
        self._more_button()

    def _empty_state(self) -> None:
        if self.merged:
            _empty("task_alt", f"Merged into {self.base_ref}: nothing is left to review.", "review-empty")
        else:
            _empty(
                "inbox",
                f"No changes yet against {self.base_ref}: the agent has not written anything in this worktree.",
                "review-empty",
                detail="Its files appear here as it writes them; press refresh (or reload the page) to look again.",
            )

    def _focus_nav(self) -> None:
        with ui.row().classes("w-full items-center gap-2"):
            back = ui.button("Previous", icon="chevron_left", on_click=self.previous_file)
            back.props("flat dense no-caps").set_enabled(self.current > 0)
            position = ui.label(f"File {self.current + 1} of {len(self.files)}").classes("text-sm text-grey-8")
            tid(position, "review-focus-position")
            forward = ui.button("Next", on_click=self.next_file).props("flat dense no-caps icon-right=chevron_right")
            forward.set_enabled(self.current < len(self.files) - 1)

    def _block(self, file: ChangedFile) -> None:
        diff = self.diffs.get(file.path)
        if diff is None:
            _empty("sync_problem", f"{file.path}: its diff could not be read; press refresh.", "review-diff-missing")
            return
        block = DiffBlock(
            file,
            diff,
            layout=self.layout,
            viewed=self.is_viewed(file),
            on_line=self.on_line,
            on_viewed=self.set_viewed,
            fold=not self.focus,
        )
        block.card.style("scroll-margin-top: 64px")  # the fixed header must not hide a file scrolled to
        self.blocks[file.path] = block

    def _more_button(self) -> None:
        remaining = len(self.files) - self.shown
        if self.focus or remaining <= 0:
            return
        with self.more:
            label = f"Load {min(PAGE, remaining)} more ({self.shown} of {len(self.files)} files shown)"
            tid(ui.button(label, icon="expand_more", on_click=self.load_more).props("outline no-caps"), "review-more")

    async def load_more(self) -> None:
        """Draw the next page of diffs under the ones drawn."""
        target = min(self.shown + PAGE, len(self.files))
        await self._load(self.shown, target)
        if target <= self.shown or self.focus:  # a quicker call drew them meanwhile, or the view changed
            return
        start, self.shown = self.shown, target
        with self.diff_area:
            for file in self.files[start : self.shown]:
                self._block(file)
        self.more.clear()
        self._more_button()
        self._count()

    def set_layout(self, layout: str) -> None:
        """Unified or side by side, remembered for this browser."""
        if layout not in LAYOUTS:
            return
        self.layout = layout
        app.storage.user[LAYOUT_KEY] = layout
        for block in self.blocks.values():
            block.set_layout(layout)

    async def toggle_focus(self) -> None:
        """The `f` key: one file at a time, or all of them."""
        self.focus_switch.value = not self.focus  # its change handler redraws

    async def _focus_changed(self, event: Any) -> None:
        if bool(event.value) != self.focus:
            self.focus = bool(event.value)
            await self.draw_diffs()
            self._scroll_to_current()

    async def next_file(self) -> None:
        """Move to the next file (j / n)."""
        await self.go_to(self.current + 1)

    async def previous_file(self) -> None:
        """Move to the previous file (k / p)."""
        await self.go_to(self.current - 1)

    async def go_to(self, index: int) -> None:
        """Make file `index` the current one: shown alone in focus mode, else drawn (loading pages) and scrolled to."""
        if not self.files:
            return
        index = max(0, min(index, len(self.files) - 1))
        previous, self.current = self.current, index
        if previous < len(self.files) and (row := self.rows.get(self.files[previous].path)) is not None:
            row.classes(remove="m-selected")
        if (row := self.rows.get(self.files[index].path)) is not None:
            row.classes("m-selected")
        if self.focus:
            await self.draw_diffs()
        else:
            while not self.focus and self.shown < len(self.files) and index >= self.shown:
                await self.load_more()
        self._scroll_to_current()

    def _scroll_to_current(self) -> None:
        if not self.files:
            return
        path = self.files[self.current].path
        block, row = self.blocks.get(path), self.rows.get(path)
        script = ""
        if block is not None and not self.focus:
            script += f'document.getElementById("c{block.card.id}")?.scrollIntoView({{block: "start"}});'
        if row is not None:
            script += f'document.getElementById("c{row.id}")?.scrollIntoView({{block: "nearest"}});'
        if script:  # through the client: the button that asked may have just been redrawn away
            self.client.run_javascript(script)


class DiffBody(ui.element, component=static_dir() / "review.js"):
    """diff2html's drawing of one file's unified diff; emits `line` ({new, old}) when a line number is clicked."""

    def __init__(self, diff: str, layout: str) -> None:
        super().__init__()
        self._props["diff"] = diff
        self._props["layout"] = layout

    def set_layout(self, layout: str) -> None:
        """Draw again as unified or side by side."""
        if self._props.get("layout") != layout:
            self._props["layout"] = layout
            self.update()


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
    icon, colour = KIND_ICON[kind]
    ui.icon(icon, color=colour, size="18px").classes("shrink-0").tooltip(kind.replace("_", " "))


class DiffBlock:
    """One file in the diff column: a header bar and, unless folded, its diff (viewed files start folded)."""

    def __init__(
        self,
        file: ChangedFile,
        diff: FileDiff,
        *,
        layout: str,
        viewed: bool,
        on_line: OnLine,
        on_viewed: OnViewed,
        fold: bool = True,
    ) -> None:
        self.file = file
        self.fold = fold  # viewed files fold away (not in focus mode, where the one file shown stays open)
        self.diff = diff
        self.layout = layout
        self.on_line = on_line
        self.open = not (viewed and fold)
        self.body: DiffBody | None = None
        with tid(ui.card(), "review-diff").classes("w-full p-0 gap-0 overflow-hidden") as self.card:
            self.card._props["data-path"] = file.path  # set as a value: no props-string parsing of a path
            with ui.row().classes("w-full items-center gap-2 px-3 py-2 no-wrap m-surface"):
                self.chevron = ui.button(icon="expand_more", on_click=self.toggle_open)
                tid(self.chevron.props("flat round dense size=sm"), "review-diff-toggle")
                kind_icon(file.kind)
                with ui.column().classes("grow min-w-0 gap-0"):
                    tid(ui.label(file.path).classes("font-mono text-sm font-medium break-all"), "review-diff-path")
                    if file.old_path and file.old_path != file.path:
                        ui.label(f"from {file.old_path}").classes("font-mono text-xs text-grey-7 break-all")
                counts(file)
                comment = ui.button(icon="add_comment", on_click=lambda: on_line(file.path, None, None))
                tid(comment.props("flat round dense size=sm").tooltip("Comment on this file"), "review-comment")
                self.viewed = ui.checkbox("Viewed", value=viewed)
                self.viewed.on_value_change(lambda e: on_viewed(file.path, bool(e.value)))
                tid(self.viewed.props("dense").classes("text-sm shrink-0"), "review-diff-viewed")
            self.content = ui.column().classes("w-full gap-0")
        self._draw()

    def _draw(self) -> None:
        self.chevron.props(f"icon={'expand_more' if self.open else 'chevron_right'}")
        self.content.clear()
        self.body = None
        if not self.open:
            return
        with self.content:
            diff = self.diff
            if diff.binary or self.file.binary:
                _note("Binary file: there are no lines to show.", "review-diff-binary")
                return
            if diff.truncated:
                _note(
                    f"Truncated at {MAX_LINES_LABEL} lines: the whole diff has {diff.lines:,} lines. "
                    "Open the file in the worktree to read the rest.",
                    "review-truncated",
                    warning=True,
                )
            if "\n@@ " not in diff.diff and not diff.diff.startswith("@@ "):  # headers only: no lines changed
                _note(_no_lines(self.file), "review-diff-empty")
                return
            self.body = tid(DiffBody(diff.diff, self.layout), "review-diff-body").classes("w-full")
            self.body.on("line", self._line)

    async def _line(self, event) -> None:
        args = event.args if isinstance(event.args, dict) else {}
        new, old = _int(args.get("new")), _int(args.get("old"))
        if new is None and old is None:
            return
        result = self.on_line(self.file.path, new, old)
        if hasattr(result, "__await__"):
            await result

    def toggle_open(self) -> None:
        """Show or hide the diff (per tab: a redraw starts viewed files closed again)."""
        self.open = not self.open
        self._draw()

    def set_viewed(self, viewed: bool) -> None:
        """Reflect a viewed mark made elsewhere (the file list, the `v` key): a viewed file folds away."""
        if self.viewed.value != viewed:
            self.viewed.value = viewed
        if self.fold and self.open == viewed:
            self.open = not viewed
            self._draw()

    def set_layout(self, layout: str) -> None:
        """Unified or side by side."""
        self.layout = layout
        if self.body is not None:
            self.body.set_layout(layout)


def _empty(icon: str, text: str, test_id: str, *, detail: str = "") -> None:
    with ui.column().classes("w-full items-center gap-2 py-12 text-center"):
        ui.icon(icon, size="40px").classes("text-grey-5")
        tid(ui.label(text).classes("text-base text-grey-8 max-w-xl"), test_id)
        if detail:
            ui.label(detail).classes("text-sm text-grey-7 max-w-xl")


def _note(text: str, test_id: str, *, warning: bool = False) -> None:
    colour = "text-amber-9" if warning else "text-grey-7"
    with ui.row().classes("w-full items-center gap-2 px-3 py-2 no-wrap"):
        ui.icon("warning" if warning else "info", size="18px").classes(colour)
        tid(ui.label(text).classes(f"text-sm {colour}"), test_id)


def _no_lines(file: ChangedFile) -> str:
    if file.kind in ("renamed", "copied") and file.old_path:
        return f"{file.kind.capitalize()} from {file.old_path}; the content is unchanged."
    if file.kind == "added":
        return "A new empty file."
    if file.kind == "deleted":
        return "An empty file, deleted."
    return "No line changed (its mode or type did)."


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
