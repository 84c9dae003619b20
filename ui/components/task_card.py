"""A task card on the board: title, priority, subtask progress, what blocks it, live sessions, the last report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from nicegui import ui

from app.models.sessions import Session
from app.models.tasks import Task
from app.models.timeline import TimelineEntry
from ui.context import tid
from ui.design import PRIORITY_COLOR, PRIORITY_ICON, SESSION_COLOR


@dataclass
class BoardData:
    """What cards are drawn from, loaded once per refresh."""

    tasks: list[Task]
    sessions: dict[str, Session]  # live sessions of the project by id
    reports: dict[str, TimelineEntry]  # each task's newest agent report
    titles: dict[str, str] = field(init=False)
    children: Counter = field(init=False)
    done_children: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.titles = {t.id: t.title for t in self.tasks}
        self.children = Counter(t.parent_id for t in self.tasks if t.parent_id)
        self.done_children = Counter(t.parent_id for t in self.tasks if t.parent_id and t.status == "completed")


def task_card(task: Task, data: BoardData, *, selected: bool = False) -> ui.card:
    """Draw one card (text is always rendered as text); clicking opens the task page."""
    card = ui.card().classes("w-full p-2 gap-1 cursor-pointer hover:shadow-md")
    if selected:
        card.classes("ring-2 ring-amber-500")
    tid(card, "task-card")
    card.props(f"data-task-id={task.id}")
    card.on("click", lambda: ui.navigate.to(f"/tasks/{task.id}"))
    with card:
        with ui.row().classes("w-full items-start gap-1 no-wrap"):
            ui.icon(PRIORITY_ICON[task.priority], color=PRIORITY_COLOR[task.priority]).classes("mt-1").tooltip(
                f"{task.priority} priority"
            )
            ui.label(task.title).classes("text-sm font-medium break-words grow")
        with ui.row().classes("gap-1 items-center flex-wrap"):
            total = data.children.get(task.id, 0)
            if total:
                ui.badge(f"{data.done_children.get(task.id, 0)}/{total}").props("outline color=grey-8").tooltip(
                    "subtasks done"
                )
            if task.blocked_by:
                names = ", ".join(data.titles.get(b, "another task") for b in task.blocked_by)
                tid(ui.badge(f"blocked by {names}").props("color=red-7").classes("truncate max-w-full"), "blocked-by")
            for session_id in task.session_ids:
                session = data.sessions.get(session_id)
                if session is not None:
                    chip = ui.badge(f"{session.name}: {session.status.replace('_', ' ')}")
                    tid(chip.props(f"color={SESSION_COLOR[session.status]}"), "session-chip")
        report = data.reports.get(task.id)
        if report is not None:
            tid(
                ui.label(report.message.splitlines()[0][:140] if report.message else "").classes(
                    "text-xs text-grey-7 italic break-words"
                ),
                "last-report",
            )
    return card
