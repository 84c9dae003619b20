"""The diff viewer of the review screen: the changed files' list (ui/components/change_list.py) beside their diffs
(ui/components/diff_block.py), a page at a time or one file in focus mode, unified or side by side, with the moves
of the j/k/v/f keys.

The list comes first and the diffs after it: `load` reads only the list (the page is shown with it and a loading
indicator in the diff column), `fill` reads the first page of diffs and draws them. The page calls `fill` without
waiting for it, so a big change does not hold the page back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import app, ui

from app.errors import MaestroError
from app.models.worktrees import ChangedFile, ChangeList, FileDiff, Worktree
from app.services.worktrees import actions
from ui.actions import run
from ui.components.change_list import FILES_LISTED, FileList, ViewedMarks
from ui.components.diff_block import DiffBlock, OnLine
from ui.context import tid

PAGE = 20  # diffs drawn at first and per "load more"
LAYOUT_KEY = "review-layout"  # app.storage.user: "line-by-line" | "side-by-side"
LAYOUTS = {"line-by-line": "Unified", "side-by-side": "Side by side"}
DISCARDED = "This worktree was discarded: its checkout is gone, so there is nothing to review."


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
        self.marks = ViewedMarks(worktree_id)
        self.file_list = FileList(on_open=self.go_to, on_viewed=self.set_viewed)
        self.shown = 0  # list mode: files[:shown] have their diff drawn
        self.current = 0  # the file j/k/v act on
        self.focus = False
        self.loading = False  # the list is read, the diffs of its first page not yet (fill draws them)
        self.reads = 0  # one per load: a fill that a newer load overtook draws nothing
        self.scroll_when_filled = False  # a file was chosen while the diffs were loading
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
        self.file_list.panel()

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

    async def load(self, worktree: Worktree) -> None:
        """Read the changed files again (a discarded worktree has none); `fill` reads their diffs.

        `worktree` may be the record as last read (the page reads it again meanwhile): `settle` applies the new one.
        """
        self.reads += 1
        self.loading = True  # until fill has drawn the first diffs: a redraw meanwhile shows the loading indicator
        self.scroll_when_filled = False
        self.base_ref = worktree.base_ref
        self.changes, self.problem = None, None
        self.diffs.clear()
        self.marks.reload()
        if worktree.status == "discarded":
            self.problem, self.loading = DISCARDED, False
            return
        try:
            self.changes = await actions.list_changes(self.id, limit=FILES_LISTED)
        except MaestroError as exc:
            self.problem, self.loading = f"The changes cannot be read: {exc.detail}", False
            return
        self.shown = min(PAGE, len(self.files))
        self.current = min(self.current, max(len(self.files) - 1, 0))
        self.loading = bool(self.files)

    def settle(self, worktree: Worktree, *, merged: bool) -> None:
        """Take in the record read beside the list: its base, whether it is merged, and a discard meanwhile."""
        self.base_ref = worktree.base_ref
        self.merged = merged
        if worktree.status == "discarded" and self.problem is None:
            self.changes, self.problem, self.loading = None, DISCARDED, False

    async def draw(self) -> None:
        """Draw the file list and the diff column from what was loaded (a loading indicator until `fill`)."""
        self.draw_files()
        await self.draw_diffs()

    async def fill(self) -> None:
        """Read the diffs of the first page (further if a file past it was chosen meanwhile) and draw them."""
        if not self.loading:
            return
        read = self.reads
        with self.diff_area:  # a toast about a failed read needs this tab (fill may run as a task of its own)
            while True:
                wanted = self.shown
                await self._load(0, wanted)
                if read != self.reads or self.client.is_deleted:
                    return  # a newer read of the changes took over, or the tab is gone
                if self.shown <= wanted:
                    break
            self.loading = False
            self._recheck_viewed()
            await self.draw_diffs()
        if self.scroll_when_filled:
            self.scroll_when_filled = False
            self._scroll_to_current()

    async def _load(self, start: int, stop: int) -> None:
        """Make sure files[start:stop] have their diffs (one git call for the missing ones)."""
        missing = [i for i in range(start, min(stop, len(self.files))) if self.files[i].path not in self.diffs]
        if not missing:
            return
        first, last = missing[0], missing[-1] + 1
        page = await run(actions.diff_page(self.id, offset=first, limit=last - first))
        for diff in page or []:
            self.diffs[diff.path] = diff
        self.marks.lapse(page or [])

    # ------------------------------------------------------------------------------------------------ files
    def draw_files(self) -> None:
        """The file list: kind, path, counts, binary mark and a viewed box per file; the current one highlighted."""
        self.file_list.draw(self.changes, current=self.current, viewed=self.is_viewed)
        self._count()

    def _recheck_viewed(self) -> None:
        """The list's boxes as the loaded diffs say (a mark lapses when its diff changed since it was seen)."""
        for file in self.files:
            if file.path in self.diffs:
                self.file_list.show_viewed(file.path, self.is_viewed(file))
        self._count()

    def _count(self) -> None:
        self.file_list.show_count(sum(1 for f in self.files if self.is_viewed(f)), len(self.files))

    # ------------------------------------------------------------------------------------------------ viewed marks
    def is_viewed(self, file: ChangedFile) -> bool:
        """Marked viewed, and the diff is still the one that was seen (a loaded diff is compared exactly)."""
        return self.marks.is_viewed(file, self.diffs.get(file.path))

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
                    self.marks.mark(file, diff)
            else:
                self.marks.unmark(path)
            self.marks.save()
        now = self.is_viewed(file)
        self.file_list.show_viewed(path, now)
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
            if self.loading and not (self.focus and self.files):
                _loading()
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
        read = self.reads
        target = min(self.shown + PAGE, len(self.files))
        await self._load(self.shown, target)
        if target <= self.shown or self.focus or self.loading or read != self.reads:
            return  # a quicker call drew them meanwhile, or the view changed
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
        self.file_list.move(self.files[previous].path if previous < len(self.files) else None, self.files[index].path)
        if self.focus:
            await self.draw_diffs()
        elif self.loading:  # the first diffs are still on their way: fill draws up to this one and scrolls there
            self.shown = max(self.shown, min(len(self.files), (index // PAGE + 1) * PAGE))
            self.scroll_when_filled = True
        else:
            while not self.focus and not self.loading and self.shown < len(self.files) and index >= self.shown:
                await self.load_more()
        self._scroll_to_current()

    def _scroll_to_current(self) -> None:
        if not self.files:
            return
        path = self.files[self.current].path
        block = self.blocks.get(path)
        script = ""
        if block is not None and not self.focus:
            script += f'document.getElementById("c{block.card.id}")?.scrollIntoView({{block: "start"}});'
        script += self.file_list.scroll_script(path)
        if script:  # through the client: the button that asked may have just been redrawn away
            self.client.run_javascript(script)


def _loading() -> None:
    with tid(ui.row().classes("w-full items-center justify-center gap-3 py-12"), "review-diffs-loading"):
        ui.spinner(size="md")
        ui.label("Loading the diffs…").classes("text-base text-grey-8")


def _empty(icon: str, text: str, test_id: str, *, detail: str = "") -> None:
    with ui.column().classes("w-full items-center gap-2 py-12 text-center"):
        ui.icon(icon, size="40px").classes("text-grey-5")
        tid(ui.label(text).classes("text-base text-grey-8 max-w-xl"), test_id)
        if detail:
            ui.label(detail).classes("text-sm text-grey-7 max-w-xl")
