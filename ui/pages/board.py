"""The board: columns by status, cards with progress, run state, blockers, live sessions and the last report; drag
to move.

Filters live in the URL (priority, q, running, parent, view) so a reload or a bookmark keeps the view; each column
shows its first cards and grows on demand, so a board of 1,000 tasks opens at once.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

import msgspec
from fastapi import Request
from nicegui import ui

from app.models.common import utcnow
from app.models.tasks import Task, TaskUpdate
from app.services import sessions, tasks, timeline
from app.services.runtime import Runtime
from ui.actions import run
from ui.components.run_agent import Launcher
from ui.components.run_badges import run_badge_of
from ui.components.task_card import BoardData, run_key, task_card, task_worktrees
from ui.components.task_form import open_task_form
from ui.context import UI_ACTOR, tid
from ui.design import LIVE_SESSION_STATUSES, PRIORITY_COLOR, STATUS_COLOR, STATUS_LABEL
from ui.frame import frame
from ui.live import follow
from ui.pages.projects import project_deleted, project_or_not_found
from ui.runtime import runtime_of

PAGE = 500
COLUMN_CARDS = 40  # cards shown per column before "show more"
FILTER_KEYS = ("priority", "q", "running", "parent", "view")


@dataclass
class View:
    """This tab's board state: the filters (mirrored in the URL), how many cards each column shows, the cursor."""

    filters: dict[str, str]
    shown: dict[str, int] = field(default_factory=dict)
    selected: str | None = None
    order: list[str] = field(default_factory=list)


@ui.page("/projects/{project_id}/board")
async def board_page(request: Request, project_id: str) -> None:
    """The board (or the list view of the same query) of one project."""
    runtime = runtime_of(request)
    found = await project_or_not_found(project_id)
    if found is None:
        return
    project, all_projects = found
    view = View(filters={k: v for k, v in request.query_params.items() if k in FILTER_KEYS and v})

    def new_task(status: str = "todo") -> None:
        open_task_form(runtime, project_id=project.id, status=status, on_saved=lambda _: board.refresh())

    def move_cursor(step: int) -> None:
        if not view.order:
            return
        index = view.order.index(view.selected) if view.selected in view.order else -1
        view.selected = view.order[max(0, min(len(view.order) - 1, index + step))]
        board.refresh()

    keys = {
        "c": new_task,
        "/": lambda: search.run_method("focus"),
        "j": lambda: move_cursor(1),
        "k": lambda: move_cursor(-1),
        "Enter": lambda: view.selected and ui.navigate.to(f"/tasks/{view.selected}"),
        "r": lambda: run_agent(),
    }
    with frame(f"{project.name} board", projects=all_projects, current=project, active="board", keys=keys, wide=True):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(project.name).classes("text-xl font-semibold break-all")
            ui.space()
            search = ui.input(placeholder="Filter by text  ( / )", value=view.filters.get("q", ""))
            tid(search.props("dense outlined clearable debounce=250").classes("w-56"), "board-filter-text")
            priority = ui.select(
                {"": "Any priority", **{p: p.capitalize() for p in PRIORITY_COLOR}},
                value=view.filters.get("priority", ""),
            )
            tid(priority.props("dense outlined").classes("w-36"), "board-filter-priority")
            running = tid(
                ui.checkbox("Has a running session", value=view.filters.get("running") == "1"), "board-filter-running"
            )
            mode = ui.toggle({"board": "Board", "list": "List"}, value=view.filters.get("view", "board"))
            tid(mode.props("dense no-caps"), "board-view-toggle")
            tid(ui.button("New task", icon="add", on_click=lambda: new_task()).props("unelevated"), "new-task")
            start = ui.button("Run agent", icon="smart_toy", on_click=lambda: run_agent())
            tid(start.props("outline no-caps").tooltip("Run an agent (on the selected card's task) (r)"), "run-agent")
        launcher = Launcher(runtime, project.id)

        async def run_agent() -> None:
            await launcher.run_agent([view.selected] if view.selected else [])

        def set_filter(key: str, value: str | bool | None) -> None:
            text = "1" if value is True else ("" if value in (None, False) else str(value))
            if text:
                view.filters[key] = text
            else:
                view.filters.pop(key, None)
            query = urlencode({k: v for k, v in view.filters.items() if v})
            url = f"/projects/{project.id}/board" + (f"?{query}" if query else "")
            ui.run_javascript(f"history.replaceState(null, '', {json.dumps(url)})")  # bookmarkable, no reload
            board.refresh()

        search.on_value_change(lambda e: set_filter("q", (e.value or "").strip()))
        priority.on_value_change(lambda e: set_filter("priority", e.value))
        running.on_value_change(lambda e: set_filter("running", e.value))
        mode.on_value_change(lambda e: set_filter("view", "" if e.value == "board" else e.value))

        drawn: dict[str, Columns] = {}

        @ui.refreshable
        async def board() -> None:
            data = await load(project.id, view.filters)
            visible = filtered(data, view.filters)
            view.order = [t.id for t in visible]
            drawn.clear()
            if view.filters.get("view") == "list":
                task_list(visible, data, view)
            else:
                drawn["columns"] = Columns(runtime, view, board.refresh)
                drawn["columns"].draw(visible, data)

        async def follow_changes(_) -> None:
            if "columns" not in drawn:
                board.refresh()
                return
            data = await load(project.id, view.filters)
            visible = filtered(data, view.filters)
            view.order = [t.id for t in visible]
            drawn["columns"].update(visible, data)

        await board()
    follow(runtime.hub, follow_changes, project_id=project.id, gone=project_deleted)


async def load(project_id: str, filters: dict[str, str]) -> BoardData:
    """Every live task of the project, its sessions and each task's last report (three queries a page)."""
    items: list[Task] = []
    cursor = None
    while True:
        page = await tasks.list_tasks(project_id=project_id, sort="position", limit=PAGE, cursor=cursor, q=None)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    live = await sessions.list_sessions(project_id=project_id, statuses=LIVE_SESSION_STATUSES, limit=500)
    reports = await timeline.latest_reports([t.id for t in items])
    worktrees = await task_worktrees(project_id)
    return BoardData(tasks=items, sessions={s.id: s for s in live}, reports=reports, worktrees=worktrees)


def filtered(data: BoardData, filters: dict[str, str]) -> list[Task]:
    """The tasks passing the URL's filters."""
    text = filters.get("q", "").lower()
    result = []
    for task in data.tasks:
        if filters.get("priority") and task.priority != filters["priority"]:
            continue
        if text and text not in task.title.lower() and text not in task.description.lower():
            continue
        if filters.get("running") and not any(s in data.sessions for s in task.session_ids):
            continue
        if filters.get("parent") and task.parent_id != filters["parent"]:
            continue
        result.append(task)
    return result


class Columns:
    """The board's columns; a live refresh redraws only the columns whose cards changed.

    Why: redrawing every card on every event made a busy board slow to follow; a change touches one or two columns.
    """

    def __init__(self, runtime: Runtime, view: View, refresh_all) -> None:
        self.runtime = runtime
        self.view = view
        self.refresh_all = refresh_all
        self.containers: dict[str, ui.column] = {}
        self.signatures: dict[str, tuple] = {}
        self.visible: list[Task] = []
        self.dragged: str | None = None

    def draw(self, visible: list[Task], data: BoardData) -> None:
        """Draw every column (the page's first draw, or after a filter change)."""
        self.visible = visible
        self.signatures.clear()
        with tid(ui.row().classes("w-full gap-3 flex-nowrap overflow-x-auto items-start"), "board"):
            for status in STATUS_LABEL:
                column = ui.column().classes("min-w-60 w-60 shrink-0 gap-2 p-2 rounded m-surface")
                tid(column, f"board-column-{status}")
                column.on("dragover.prevent", lambda: None)
                column.on("drop", lambda s=status: self.dropped(s))
                self.containers[status] = column
        self.update(visible, data)

    def update(self, visible: list[Task], data: BoardData) -> None:
        """Redraw the columns whose content differs from what is shown."""
        self.visible = visible
        by_status: dict[str, list[Task]] = {status: [] for status in STATUS_LABEL}
        for task in visible:
            by_status[task.status].append(task)
        for status, cards in by_status.items():
            signature = self._signature(status, cards, data)
            if self.signatures.get(status) == signature:
                continue
            self.signatures[status] = signature
            column = self.containers[status]
            column.clear()
            with column:
                self._fill(status, cards, data)

    def _signature(self, status: str, cards: list[Task], data: BoardData) -> tuple:
        limit = self.view.shown.get(status, COLUMN_CARDS)
        shown = cards[:limit]
        return (
            len(cards),
            limit,
            self.view.selected if any(t.id == self.view.selected for t in shown) else None,
            tuple(
                (
                    t.id,
                    t.updated_at,
                    tuple(t.blocked_by),
                    tuple((s, data.sessions[s].status) for s in t.session_ids if s in data.sessions),
                    data.reports[t.id].id if t.id in data.reports else None,
                    data.children.get(t.id, 0),
                    data.done_children.get(t.id, 0),
                    tuple(data.titles.get(b, "") for b in t.blocked_by),
                    data.worktree_key(t.id),
                    run_key(t),
                )
                for t in shown
            ),
        )

    def _fill(self, status: str, cards: list[Task], data: BoardData) -> None:
        with ui.row().classes("w-full items-center"):
            ui.badge(STATUS_LABEL[status]).props(f"color={STATUS_COLOR[status]}")
            ui.label(str(len(cards))).classes("text-sm text-grey-7")
        if not cards:
            ui.label("Nothing here").classes("text-sm text-grey-6 italic")
        limit = self.view.shown.get(status, COLUMN_CARDS)
        for task in cards[:limit]:
            card = task_card(task, data, selected=task.id == self.view.selected)
            card.props("draggable")
            card.on("dragstart", lambda t=task: setattr(self, "dragged", t.id))
        if len(cards) > limit:

            def more() -> None:
                self.view.shown[status] = limit + COLUMN_CARDS * 5
                self.refresh_all()

            tid(ui.button(f"Show {len(cards) - limit} more", on_click=more).props("flat dense no-caps"), "show-more")

    async def dropped(self, status: str) -> None:
        """A card was dropped on a column: change its status (a refusal snaps it back, the toast says why)."""
        task = next((t for t in self.visible if t.id == self.dragged), None)
        self.dragged = None
        if task is None or task.status == status:
            return
        body = msgspec.convert({"status": status}, TaskUpdate)
        if await run(tasks.update_task(self.runtime.writer, task.id, body, UI_ACTOR)) is None:
            self.refresh_all()


def task_list(visible: list[Task], data: BoardData, view: View) -> None:
    """The list view of the same query: one row per task."""
    titles = {t.id: t.title for t in data.tasks}
    now = utcnow()
    rows = [
        {
            "id": t.id,
            "title": t.title,
            "status": STATUS_LABEL[t.status],
            "priority": t.priority,
            "parent": titles.get(t.parent_id or "", ""),
            "blocked_by": ", ".join(titles.get(b, b) for b in t.blocked_by),
            "run": _run_words(t, titles, now),
        }
        for t in visible
    ]
    columns_spec = [
        {"name": "title", "label": "Title", "field": "title", "align": "left", "sortable": True},
        {"name": "status", "label": "Status", "field": "status", "align": "left", "sortable": True},
        {"name": "priority", "label": "Priority", "field": "priority", "align": "left", "sortable": True},
        {"name": "parent", "label": "Parent", "field": "parent", "align": "left"},
        {"name": "blocked_by", "label": "Blocked by", "field": "blocked_by", "align": "left"},
        {"name": "run", "label": "Run", "field": "run", "align": "left", "sortable": True},
    ]
    table = ui.table(columns=columns_spec, rows=rows, row_key="id", pagination=50).classes("w-full")
    table.on("rowClick", lambda e: ui.navigate.to(f"/tasks/{e.args[1]['id']}"))
    tid(table, "task-list")


def _run_words(task: Task, titles: dict[str, str], now: dt.datetime) -> str:
    """The list view's run column: the card badge's words ("planned" when only the plan icon would show)."""
    found = run_badge_of(task, titles, now)
    if found is None:
        return ""
    return found.text or ("planned" if found.planned else "")
