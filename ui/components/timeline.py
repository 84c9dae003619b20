"""A live timeline (a task's or a session's): oldest first, a refresh appends only what is new, bounded on screen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from app.models.timeline import TimelineEntry
from ui.context import tid

PAGE = 500
SHOWN = 200  # the newest entries drawn; older ones are counted, not drawn

Reader = Callable[[int, int], Awaitable[list[TimelineEntry]]]  # (after, limit) -> entries, oldest first


class LiveTimeline:
    """Entries read through `read`; `author` names who wrote an entry (None: nobody shown)."""

    def __init__(
        self,
        read: Reader,
        *,
        test_id: str,
        empty: str,
        author: Callable[[TimelineEntry], str | None] = lambda entry: None,
    ) -> None:
        self.read = read
        self.author = author
        self.last_id = 0
        self.count = 0
        self.earlier = tid(ui.label("").classes("text-xs text-grey-6"), f"{test_id}-earlier")
        self.box = ui.column().classes("w-full gap-1")
        self.empty = ui.label(empty).classes("text-sm text-grey-6")

    async def update(self) -> None:
        """Fetch the entries after the last one drawn and append them; the oldest drawn ones go beyond SHOWN."""
        new: list[TimelineEntry] = []
        while True:
            page = await self.read(self.last_id, PAGE)
            new.extend(page)
            if page:
                self.last_id = page[-1].id
            if len(page) < PAGE:
                break
        if not new:
            return
        self.count += len(new)
        with self.box:
            for entry in new[-SHOWN:]:
                self._entry(entry)
        children = list(self.box.default_slot.children)
        for child in children[: max(0, len(children) - SHOWN)]:
            child.delete()
        drawn = len(self.box.default_slot.children)
        self.earlier.text = f"{self.count - drawn} earlier entries not shown" if self.count > drawn else ""
        self.empty.set_visibility(False)

    def _entry(self, entry: TimelineEntry) -> None:
        # On a phone the time and kind make one line and the message the next, instead of a column each.
        with tid(ui.row().classes("w-full items-start gap-x-2 gap-y-0 no-wrap max-sm:flex-wrap"), "timeline-entry"):
            when = entry.created_at.strftime("%Y-%m-%d %H:%M:%S")
            ui.label(when).classes("text-xs font-mono text-grey-6 mt-1 whitespace-nowrap shrink-0")
            ui.badge(entry.kind.replace("_", " ")).props("outline color=blue-grey-7").classes("mt-1 shrink-0")
            with ui.column().classes("grow gap-0 min-w-0 max-sm:w-full"):
                who = self.author(entry)
                if who:
                    ui.label(who).classes("text-xs text-grey-7")
                # Agent output is untrusted: a label renders it as text, never as HTML.
                ui.label(entry.message).classes("text-sm whitespace-pre-wrap break-words")
