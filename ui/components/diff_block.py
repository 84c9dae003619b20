"""One changed file in the review screen's diff column: a header bar (kind, path, counts, comment, viewed) over its
diff drawn by diff2html, or a sentence where there are no lines to draw (binary, truncated, mode only).

A large diff (over LARGE_LINES lines) is not drawn until asked for, as GitHub does: its block says how large it is
and offers a "Show diff" button; its text does not even travel to the browser until then. Focus mode (one file at a
time) draws it at once.

The diff text is untrusted (anything an agent wrote). It travels to the browser as the prop of a Vue component
(static/review.js) and only diff2html, which escapes every line, turns it into markup; Python never builds HTML
from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from app.models.worktrees import ChangedFile, FileDiff
from app.resources import static_dir
from ui.components.change_list import OnViewed, counts, kind_icon
from ui.context import tid

MAX_LINES = 5_000  # app.services.worktrees.changes cuts a file's diff here
MAX_LINES_LABEL = f"{MAX_LINES:,}"
LARGE_LINES = 1_000  # longer diffs wait for "Show diff" (drawing 5,000 lines costs the browser ~50,000 elements)

DIFF2HTML = "/static/vendor/diff2html/diff2html.min"  # .js and .css
DIFF2HTML_VERSION = "3.4.56"  # the address static/review.js asks for: a preload must name it exactly

OnLine = Callable[[str, int | None, int | None], Awaitable[None] | None]


def preload_viewer() -> None:
    """Have the browser fetch diff2html while the page loads, so the first diff does not wait for it."""
    for kind, ext in (("script", "js"), ("style", "css")):
        ui.add_head_html(f'<link rel="preload" as="{kind}" href="{DIFF2HTML}.{ext}?v={DIFF2HTML_VERSION}">')


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
        self.expanded = not fold  # a large diff is drawn: asked for, or in focus mode
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
            if self.large and not self.expanded:
                self._collapsed()
                return
            self.body = tid(DiffBody(diff.diff, self.layout), "review-diff-body").classes("w-full")
            self.body.on("line", self._line)

    @property
    def large(self) -> bool:
        """Too long to draw before it is asked for."""
        return shown_lines(self.diff) > LARGE_LINES

    def _collapsed(self) -> None:
        with ui.row().classes("w-full items-center gap-3 px-3 py-3 no-wrap"):
            ui.icon("unfold_more", size="20px").classes("text-grey-7 shrink-0")
            with ui.column().classes("grow min-w-0 gap-0"):
                text = f"Large diff: {shown_lines(self.diff):,} lines"
                tid(ui.label(text).classes("text-sm font-medium"), "review-large")
                ui.label("Large diffs are not drawn until you ask: they slow the page down.").classes(
                    "text-xs text-grey-7"
                )
            show = ui.button("Show diff", icon="visibility", on_click=self.show_large)
            tid(show.props("outline dense no-caps").classes("shrink-0 px-2"), "review-show-diff")

    def show_large(self) -> None:
        """Draw a large diff that was left collapsed."""
        self.expanded = True
        self.open = True
        self._draw()

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


class DiffBody(ui.element, component=static_dir() / "review.js"):
    """diff2html's drawing of one file's unified diff (static/review.js, its "diff" part), once it is near the
    viewport; emits `line` ({new, old}) when a line number is clicked."""

    def __init__(self, diff: str, layout: str) -> None:
        super().__init__()
        self._props["part"] = "diff"
        self._props["diff"] = diff
        self._props["layout"] = layout

    def set_layout(self, layout: str) -> None:
        """Draw again as unified or side by side."""
        if self._props.get("layout") != layout:
            self._props["layout"] = layout
            self.update()


def shown_lines(diff: FileDiff) -> int:
    """How many lines of the diff would be drawn (a truncated one stops at MAX_LINES)."""
    return min(diff.lines, MAX_LINES)


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
