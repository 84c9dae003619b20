"""The sessions page's list: sessions grouped by what they need from the person, each row saying why its status is
what it is (its recorded reason in the status badge's tooltip; a stalled session's evidence on a line of its own),
and a reply box under every question that types the answer into the session's terminal.

A live refresh redraws only the rows whose content changed and moves the others between groups, so an answer
being typed survives other sessions' news; the "12 min ago" texts are updated in place by a timer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from nicegui import ui

from app.models.common import ENDED_STATUSES, utcnow
from app.models.events import EventRecord
from app.models.sessions import Session
from app.models.timeline import TimelineEntry
from app.services import projects, sessions, tasks, timeline
from app.services.runtime import Runtime
from ui.actions import run
from ui.components.run_agent import Launcher
from ui.components.run_badges import ago, clock, evidence, exit_words, full_time, reason_tip, reason_words
from ui.context import tid
from ui.design import SESSION_COLOR

__all__ = ["SessionList", "ago", "clock", "why_text"]  # ago and clock: also imported from here by older pages

MAX_SESSIONS = 500
ENDED_SHOWN = 25  # ended sessions drawn before "show more"
MAX_REPLY = 4000  # characters: a reply is a line typed at a prompt, not a file
GROUPS = (
    ("needs-input", "Needs input", ("needs_input",), "Nobody is waiting for you."),
    ("stalled", "Stalled", ("stalled",), "No session is stalled."),
    ("working", "Working", ("spawning", "running"), "No session is working right now."),
    ("idle", "Idle", ("idle",), "No session is idle."),
    ("ended", "Ended", tuple(ENDED_STATUSES), "No session has ended yet."),
)
LIST_EVENTS = ("session.", "timeline.added", "task.updated", "task.deleted", "project.")


@dataclass
class SessionsData:
    """What the list is drawn from, loaded once per refresh (five queries, whatever the number of sessions)."""

    sessions: list[Session]
    projects: dict[str, str]
    titles: dict[str, str]  # task id -> title, for every task a listed session works on
    latest: dict[str, TimelineEntry]  # each session's newest timeline entry
    questions: dict[str, TimelineEntry]  # each waiting session's newest needs_input entry
    names: dict[str, str] = field(default_factory=dict)  # session id -> name, for reasons that name a session

    def __post_init__(self) -> None:
        self.names = {s.id: s.name for s in self.sessions}


async def load_sessions() -> SessionsData:
    """Every session (the newest 500) with what its row shows."""
    found = await sessions.list_sessions(limit=MAX_SESSIONS)
    ids = [s.id for s in found]
    waiting = [s.id for s in found if s.status == "needs_input"]
    return SessionsData(
        sessions=found,
        projects={p.id: p.name for p in await projects.list_projects()},
        titles=await tasks.task_titles([link.task_id for s in found for link in s.tasks]),
        latest=await timeline.latest_session_entries(ids),
        questions=await timeline.latest_session_entries(waiting, ("needs_input",)) if waiting else {},
    )


def concerns_list(batch: list[EventRecord]) -> bool:
    """Does a live batch change what the list shows? (No events means a reset: re-read everything.)"""
    return not batch or any(r.type.startswith(LIST_EVENTS) for r in batch)


@dataclass
class _Row:
    signature: tuple
    element: ui.column
    why: ui.label
    session: Session


class SessionList:
    """The four groups, their rows by session id, and the empty state that teaches what to do first."""

    def __init__(self, runtime: Runtime, launcher: Launcher) -> None:
        self.runtime = runtime
        self.data = SessionsData([], {}, {}, {}, {})
        self.rows: dict[str, _Row] = {}
        self.ended_shown = ENDED_SHOWN
        self.empty = _empty_state(launcher)
        with ui.column().classes("w-full gap-4") as self.body:
            self.groups: dict[str, tuple[ui.label, ui.column, ui.label]] = {}
            for key, title, _, nobody in GROUPS:
                with ui.column().classes("w-full gap-1"):
                    heading = tid(ui.label(title).classes("text-lg font-semibold"), f"sessions-{key}-heading")
                    box = tid(ui.column().classes("w-full gap-2"), f"sessions-{key}")
                    none = ui.label(nobody).classes("text-sm text-grey-6")
                self.groups[key] = (heading, box, none)
            self.more = tid(ui.button("", on_click=self._show_more).props("flat dense no-caps"), "sessions-more")

    async def reload(self) -> None:
        """Re-read the sessions and bring the groups in line."""
        self.data = await load_sessions()
        self.draw()

    async def follow(self, batch: list[EventRecord]) -> None:
        """A live batch: re-read when it concerns the list."""
        if concerns_list(batch):
            await self.reload()

    def draw(self) -> None:
        """Place every session in its group: changed rows are redrawn, the others kept (and moved if need be)."""
        data = self.data
        self.empty.set_visibility(not data.sessions)
        self.body.set_visibility(bool(data.sessions))
        now = utcnow()
        kept: set[str] = set()
        for key, title, statuses, _ in GROUPS:
            heading, box, none = self.groups[key]
            members = _ordered([s for s in data.sessions if s.status in statuses], key, data)
            heading.text = f"{title} ({len(members)})"
            none.set_visibility(not members)
            shown = members[: self.ended_shown] if key == "ended" else members
            if key == "ended":
                hidden = len(members) - len(shown)
                self.more.text = f"Show {min(hidden, ENDED_SHOWN * 4)} more ended sessions" if hidden else ""
                self.more.set_visibility(hidden > 0)
            for index, session in enumerate(shown):
                self._place(session, box, index, now)
                kept.add(session.id)
        for session_id in set(self.rows) - kept:
            self.rows.pop(session_id).element.delete()

    def _place(self, session: Session, box: ui.column, index: int, now: dt.datetime) -> None:
        signature = _signature(session, self.data)
        row = self.rows.get(session.id)
        if row is not None and row.signature != signature:
            row.element.delete()
            row = None
        if row is None:
            with box:
                element, why = self._draw_row(session)
            row = self.rows[session.id] = _Row(signature, element, why, session)
        children = box.default_slot.children
        if row.element not in children or children.index(row.element) != index:
            row.element.move(box, target_index=index)
        row.session = session
        row.why.text = why_text(session, self.data, now)

    def tick(self) -> None:
        """Bring the "… ago" texts up to date without redrawing anything."""
        now = utcnow()
        for row in self.rows.values():
            row.why.text = why_text(row.session, self.data, now)

    def _show_more(self) -> None:
        self.ended_shown += ENDED_SHOWN * 4
        self.draw()

    def _draw_row(self, session: Session) -> tuple[ui.column, ui.label]:
        data = self.data
        element = ui.column().classes("w-full gap-1 p-3 rounded m-surface")
        if session.status == "needs_input":
            element.classes("border-l-4 border-amber-500")  # the rows that wait for the person stand out
        elif session.status == "stalled":
            element.classes("border-l-4 border-orange-700")
        tid(element, "session-row").mark("session-row", f"session-row-{session.id}")  # the second picks one row
        element.props(f"data-session-id={session.id}")
        with element:
            # Wraps on a narrow window: the why moves to a line of its own instead of squeezing the name.
            with ui.row().classes("w-full items-center gap-x-2 gap-y-1 flex-wrap"):
                status = ui.badge(session.status.replace("_", " ")).props(f"color={SESSION_COLOR[session.status]}")
                tid(status.classes("shrink-0"), "session-status")
                with status:
                    tid(ui.tooltip(status_tip(session, data)).classes("text-body2"), "session-status-reason")
                link = ui.link(session.name, f"/sessions/{session.id}").classes("font-medium break-all")
                tid(link.classes("text-inherit"), "session-link")
                ui.badge(session.profile).props("outline color=blue-grey-7").classes("shrink-0")
                if session.role == "orchestrator":
                    ui.badge("orchestrator").props("outline color=purple-6").classes("shrink-0")
                project = ui.label(data.projects.get(session.project_id, ""))
                project.classes("text-sm text-grey-7 truncate min-w-0 max-w-xs")
                ui.space()
                why = tid(ui.label("").classes("text-sm text-grey-7 shrink-0 text-right"), "session-why")
            if session.tasks:
                with ui.row().classes("w-full items-center gap-x-3 gap-y-0 text-sm"):
                    ui.icon("assignment", size="xs").classes("text-grey-6").tooltip("Its tasks")
                    for task_link in session.tasks:
                        title = data.titles.get(task_link.task_id, "a deleted task")
                        tid(ui.link(title, f"/tasks/{task_link.task_id}").classes("break-all"), "session-task")
                        if task_link.status == "ended_without_report":
                            left = ui.badge("ended without report").props("outline color=deep-orange-8")
                            tid(left.tooltip("The session ended without reporting this task complete"), "link-ended")
            if session.status == "stalled":
                _evidence(session)
            latest = data.latest.get(session.id)
            question = data.questions.get(session.id) if session.status == "needs_input" else None
            if latest is not None and (question is None or latest.id != question.id):
                line = f"{latest.kind.replace('_', ' ')}: {_first_line(latest.message)}"
                tid(ui.label(line).classes("text-sm text-grey-8 italic break-words"), "session-last-report")
            if session.status == "needs_input":
                self._question(session, question)
        return element, why

    def _question(self, session: Session, question: TimelineEntry | None) -> None:
        """The agent's question, and a reply box that types the answer (and Enter) into its terminal."""
        with ui.row().classes("w-full items-start gap-2 no-wrap"):
            ui.icon("help_outline", color="amber-8").classes("mt-0.5")
            text = question.message if question is not None else "It did not say what it needs: open its terminal."
            # Agent output is untrusted: a label shows it as text, never as HTML.
            tid(ui.label(text).classes("whitespace-pre-wrap break-words grow font-medium"), "session-question")
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            box = ui.input(placeholder="Your answer — Enter types it into the terminal").props(
                f"dense outlined maxlength={MAX_REPLY}"
            )
            tid(box.classes("grow"), "reply-box")

            async def send() -> None:
                answer = box.value or ""
                if await run(self._type(session.id, answer), success=f"Typed into '{session.name}'"):
                    box.value = ""

            box.on("keydown.enter", send)
            tid(ui.button("Send", icon="send", on_click=send).props("unelevated dense no-caps"), "reply-send")

    async def _type(self, session_id: str, answer: str) -> bool:
        self.runtime.runner.type_line(session_id, answer)  # NotFound (not running here) becomes a toast
        return True


def _evidence(session: Session) -> None:
    """Why Maestro calls it stalled: quiet too long without a report, with what it saw (agent text: as text)."""
    with ui.row().classes("w-full items-start gap-2 no-wrap"):
        ui.icon("hourglass_bottom", color=SESSION_COLOR["stalled"]).classes("mt-0.5")
        tid(ui.label(evidence(session)).classes("text-sm break-words grow"), "session-evidence")


def status_tip(session: Session, data: SessionsData) -> str:
    """The status badge's tooltip: the recorded reason of the status (why · by · when), with the full time."""
    reason = session.status_reason
    if reason is None:
        return f"{session.status.replace('_', ' ')} since {full_time(session.updated_at)}"
    why = reason_words(reason, utcnow(), tasks=data.titles, sessions=data.names, relative=False)
    return f"{why}\n{reason_tip(reason)}"


def _empty_state(launcher: Launcher) -> ui.card:
    with tid(ui.card().classes("w-full max-w-2xl gap-3 p-6"), "sessions-empty") as card:
        ui.label("No agent has run yet.").classes("text-lg font-semibold")
        ui.label(
            "Run an agent on a task (it gets the task, its place in the tree and how to report back), or open a "
            "plain shell in a project's folder. Sessions then show here, those waiting for you first."
        )
        with ui.row().classes("gap-2"):
            button = ui.button("Run agent", icon="smart_toy", on_click=lambda: launcher.run_agent())
            tid(button.props("unelevated no-caps"), "sessions-empty-run-agent")
            shell = launcher.shell_button()
            tid(shell.props("outline no-caps"), "sessions-empty-open-shell")
        ui.label("Keys: r runs an agent, s opens a shell, from any page.").classes("text-xs text-grey-7")
    return card


def _ordered(members: list[Session], key: str, data: SessionsData) -> list[Session]:
    """Waiting the longest first; ended by when they ended; the rest newest first (as listed)."""
    if key == "needs-input":
        return sorted(members, key=lambda s: _asked_at(s, data))
    if key == "ended":
        return sorted(members, key=lambda s: s.ended_at or s.updated_at, reverse=True)
    return members


def _asked_at(session: Session, data: SessionsData) -> dt.datetime:
    question = data.questions.get(session.id)
    return question.created_at if question is not None else session.updated_at


def _signature(session: Session, data: SessionsData) -> tuple:
    """What a row draws, besides the "ago" texts: a different signature redraws the row."""
    latest = data.latest.get(session.id)
    question = data.questions.get(session.id)
    return (
        session.name,
        session.status,
        session.profile,
        session.role,
        data.projects.get(session.project_id),
        tuple((link.task_id, data.titles.get(link.task_id)) for link in session.tasks),
        latest.id if latest is not None else None,
        question.id if question is not None and session.status == "needs_input" else None,
        (session.status_reason.why, session.status_reason.at) if session.status_reason is not None else None,
        tuple(link.status for link in session.tasks),
    )


def why_text(session: Session, data: SessionsData, now: dt.datetime) -> str:
    """Why the status is what it is, in words: "last output 12 min ago", "reported needs input at 10:42", …"""
    latest = data.latest.get(session.id)
    ended = session.ended_at or session.updated_at
    exited = exit_words(session.exit_code) if session.exit_code is not None else ""
    match session.status:
        case "spawning":
            return f"starting, {ago(session.created_at, now)}"
        case "running" | "idle":
            if session.last_activity_at is not None:
                return f"last output {ago(session.last_activity_at, now)}"
            return f"started {ago(session.started_at or session.created_at, now)}, no output yet"
        case "stalled":
            quiet = session.last_activity_at or session.started_at or session.created_at
            report = f", last report at {clock(session.last_report_at, now)}" if session.last_report_at else ""
            return f"last output {ago(quiet, now)}{report}"
        case "needs_input":
            question = data.questions.get(session.id)
            if question is not None:
                return f"reported needs input at {clock(question.created_at, now)}"
            return f"marked as needing input at {clock(session.updated_at, now)}"
        case "completed" | "failed" if latest is not None and latest.kind in ("completed", "error"):
            said = "reported complete" if latest.kind == "completed" else "reported an error"
            return f"{said} at {clock(latest.created_at, now)}" + (f", {exited}" if exited else "")
        case "completed" | "failed":
            return f"{exited or session.status} at {clock(ended, now)}"
        case "stopped":
            return f"stopped at {clock(ended, now)}" + (f", {exited}" if exited else "")
        case "lost":
            return f"the server restarted while it ran (found at {clock(ended, now)})"
    return ""


def _first_line(text: str, limit: int = 200) -> str:
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"
