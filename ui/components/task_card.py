"""A task card on the board: title, priority, subtask progress, its run (planned, queued #n, blocked by a failed
task, needs you, …), what blocks it, live sessions, the last report, and the branch of its worktree (merged or not,
as recorded: the board never asks git, whatever the number of cards)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from nicegui import ui

from app.models.common import utcnow
from app.models.sessions import Session
from app.models.tasks import Task
from app.models.timeline import TimelineEntry
from app.models.worktrees import Worktree
from app.services.worktrees import records
from ui.components.run_badges import plan_icon, run_badge_of, state_badge
from ui.context import tid
from ui.design import PRIORITY_COLOR, PRIORITY_ICON, SESSION_COLOR, STATUS_COLOR


@dataclass
class BoardData:
    """What cards are drawn from, loaded once per refresh."""

    tasks: list[Task]
    sessions: dict[str, Session]  # live sessions of the project by id
    reports: dict[str, TimelineEntry]  # each task's newest agent report
    worktrees: dict[str, Worktree] = field(default_factory=dict)  # each task's worktree (see task_worktrees)
    titles: dict[str, str] = field(init=False)
    children: Counter = field(init=False)
    done_children: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.titles = {t.id: t.title for t in self.tasks}
        self.children = Counter(t.parent_id for t in self.tasks if t.parent_id)
        self.done_children = Counter(t.parent_id for t in self.tasks if t.parent_id and t.status == "completed")

    def worktree_key(self, task_id: str) -> tuple[str, str, bool] | None:
        """What the card shows of the task's worktree, for telling whether a card must be redrawn."""
        worktree = self.worktrees.get(task_id)
        return None if worktree is None else (worktree.id, worktree.branch, is_merged(worktree))


async def task_worktrees(project_id: str) -> dict[str, Worktree]:
    """Each task's worktree from one listing of the project's records (no git, whatever the number of cards): the
    newest active one, else the newest merged one.

    A discarded worktree that was never merged is not shown: its work was thrown away."""
    found: dict[str, Worktree] = {}
    for worktree in await records.list_worktrees(project_id=project_id, with_state=False):  # newest first
        if worktree.task_id is None or (worktree.status == "discarded" and not is_merged(worktree)):
            continue
        current = found.get(worktree.task_id)
        if current is None or (current.status != "active" and worktree.status == "active"):
            found[worktree.task_id] = worktree
    return found


def is_merged(worktree: Worktree) -> bool:
    """Merged into its base, as recorded (a merged worktree cleaned up afterwards keeps its merged commit)."""
    return worktree.status == "merged" or worktree.merged_commit is not None


def task_card(task: Task, data: BoardData, *, selected: bool = False) -> ui.card:
    """Draw one card (text is always rendered as text); clicking opens the task page."""
    card = ui.card().classes("w-full p-2 gap-1 cursor-pointer hover:shadow-md")
    if selected:
        card.classes("ring-2 ring-amber-500")
    tid(card, "task-card")
    card.props(f"data-task-id={task.id}")
    card.on("click", lambda: ui.navigate.to(f"/tasks/{task.id}"))
    run = run_badge_of(task, data.titles, utcnow())
    if run is not None and task.run is not None and task.run.state in ("starting", "running"):
        if task.run.session_id in data.sessions:  # its session chip already says it runs: the icon's tip keeps why
            run = replace(run, text=None)
    with card:
        with ui.row().classes("w-full items-start gap-1 no-wrap"):
            ui.icon(PRIORITY_ICON[task.priority], color=PRIORITY_COLOR[task.priority]).classes("mt-1").tooltip(
                f"{task.priority} priority"
            )
            ui.label(task.title).classes("text-sm font-medium break-words grow")
            if run is not None:
                with ui.element("div").classes("mt-0.5 shrink-0"):
                    plan_icon(task, run)
        with ui.row().classes("w-full gap-1 items-center flex-wrap"):
            if run is not None:
                state_badge(run)
            total = data.children.get(task.id, 0)
            if total:
                ui.badge(f"{data.done_children.get(task.id, 0)}/{total}").props("outline color=grey-8").tooltip(
                    "subtasks done"
                )
            if task.blocked_by and not _gated(task):
                names = ", ".join(data.titles.get(b, "another task") for b in task.blocked_by)
                tid(ui.badge(f"blocked by {names}").props("color=red-7").classes("truncate max-w-full"), "blocked-by")
            for session_id in task.session_ids:
                session = data.sessions.get(session_id)
                if session is not None:
                    # A planned run's session is named after its task: the card says that already.
                    who = session.profile if session.name == task.title else session.name
                    chip = ui.badge(f"{who}: {session.status.replace('_', ' ')}").tooltip(f"session {session.name}")
                    tid(chip.props(f"color={SESSION_COLOR[session.status]}"), "session-chip")
        worktree = data.worktrees.get(task.id)
        if worktree is not None:
            _branch(worktree)
        report = data.reports.get(task.id)
        if report is not None:
            tid(
                ui.label(report.message.splitlines()[0][:140] if report.message else "").classes(
                    "text-xs text-grey-7 italic break-words"
                ),
                "last-report",
            )
    return card


def run_key(task: Task) -> tuple:
    """What a card shows of the task's run, for telling whether it must be redrawn (a queue position changes when
    another task is bumped, without this task changing)."""
    run = task.run
    if run is None:
        return (task.run_plan is not None,)
    at = run.reason.at if run.reason is not None else None
    failed = tuple(run.failed_dependencies)
    return (task.run_plan is not None, run.state, run.queue_position, failed, run.session_id, at)


def _gated(task: Task) -> bool:
    """A planned task waiting on its dependencies: its run badge says so ("waiting on 2", "blocked by failed …")."""
    return task.run is not None and task.run.state == "waiting"


def _branch(worktree: Worktree) -> None:
    """The worktree's branch, short and monospace, with a badge once merged; a click opens its review."""
    with ui.row().classes("w-full items-center gap-1 no-wrap min-w-0"):
        ui.icon("call_split", size="xs").classes("text-grey-7 shrink-0")
        short = worktree.branch.removeprefix("maestro/")
        label = ui.label(short).classes("text-xs font-mono text-grey-8 truncate min-w-0 hover:underline")
        label.tooltip(f"{worktree.branch} (from {worktree.base_ref}): open its changes")
        label.on("click.stop", lambda: ui.navigate.to(f"/worktrees/{worktree.id}"))
        tid(label, "card-branch")
        if is_merged(worktree):
            badge = ui.badge("merged").props(f"color={STATUS_COLOR['completed']}").classes("shrink-0")
            tid(badge.tooltip(f"Merged into {worktree.base_ref}"), "card-merged")
