"""The session page: the live terminal, what the session is (its status and why, profile, directory, tasks, manifest,
times, exit code), its timeline of reports and its recording; all live from the event hub. A stalled session shows
the evidence Maestro saw (quiet too long without a report)."""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from nicegui import ui

from app.errors import NotFound
from app.ids import is_id
from app.models.common import ENDED_STATUSES, utcnow
from app.models.events import EventRecord
from app.models.projects import Project
from app.models.sessions import Session
from app.services import projects, sessions, tasks, timeline
from app.services.runtime import Runtime
from ui.components.replay import replay_player
from ui.components.run_badges import clock, evidence, full_time, reason_tip, reason_words
from ui.components.terminal import TerminalPane, exit_text, load_script
from ui.components.timeline import LiveTimeline
from ui.context import tid
from ui.design import SESSION_COLOR
from ui.frame import frame
from ui.live import follow
from ui.runtime import runtime_of

MANIFEST_SHOWN = 512 * 1024  # a manifest is capped far below this; the dialog never draws more


@ui.page("/sessions/{session_id}")
async def session_page(request: Request, session_id: str) -> None:
    """One session, everything about it; an unknown id shows a friendly not-found page."""
    runtime = runtime_of(request)
    all_projects = await projects.list_projects()
    try:
        if not is_id(session_id, "ses"):
            raise NotFound("not a session id")
        session = await sessions.get_session(session_id)
    except NotFound:
        with frame("Not found", projects=all_projects, current=None, active="sessions"):
            tid(ui.label("That session does not exist (any more).").classes("text-lg"), "not-found")
            ui.link("All sessions", "/sessions")
        return
    project = next((p for p in all_projects if p.id == session.project_id), None)
    page = SessionPage(runtime, session, project)
    with frame(session.name, projects=all_projects, current=project, active="sessions", wide=True):
        await page.build()
    follow(runtime.hub, page.on_events, project_id=session.project_id)


class SessionPage:
    """This tab's view of one session: the terminal stays; the sections around it redraw from fresh records."""

    def __init__(self, runtime: Runtime, session: Session, project: Project | None) -> None:
        self.runtime = runtime
        self.session = session
        self.project = project
        self.task_titles: dict[str, str] = {}

    async def build(self) -> None:
        """Lay out the page and draw every section."""
        session = self.session
        with tid(ui.row().classes("w-full items-center gap-1 text-sm text-grey-8"), "session-breadcrumb"):
            if self.project is not None:
                ui.link(self.project.name, f"/projects/{self.project.id}").classes("break-all")
                ui.icon("chevron_right")
            ui.link("Sessions", "/sessions")
            ui.icon("chevron_right")
            ui.label(session.name).classes("font-medium break-all")
        with ui.row().classes("w-full items-baseline gap-3"):
            self.title = tid(ui.label(session.name).classes("text-2xl font-semibold break-all"), "session-name")
            ui.label(f"{session.profile} · {session.role}").classes("text-grey-7")
        with ui.row().classes("w-full gap-4 items-start no-wrap max-lg:flex-wrap"):
            with ui.column().classes("grow min-w-0 gap-2"):
                # A running session's page is where one types into it: the terminal has the keys from the start
                # (and those typed before it was ready). Loaded after the frame's static/type_ahead.js.
                live = session.status not in ENDED_STATUSES
                load_script(catch_keys=live)
                self.asks = ui.element("div").classes("w-full")  # the agent's question, while it waits for one
                self.pane = TerminalPane(self.runtime, session, height="62vh", focus=live, on_stopped=self._stopped)
            with ui.column().classes("w-full lg:w-96 shrink-0 gap-4"):
                self.details = tid(ui.card().classes("w-full gap-1"), "session-details")
                self.tasks = tid(ui.card().classes("w-full gap-1"), "session-tasks")
        with tid(ui.card().classes("w-full gap-2"), "session-timeline"):
            ui.label("Timeline").classes("font-semibold")
            self.timeline = LiveTimeline(
                lambda after, limit: timeline.session_timeline(session.id, after=after, limit=limit),
                test_id="session-timeline",
                empty="No reports yet. The agent's progress, questions and results appear here as they come.",
            )
        with tid(ui.card().classes("w-full gap-2"), "session-recording"):
            with ui.row().classes("w-full items-center"):
                ui.label("Recording").classes("font-semibold")
                ui.space()
                download = ui.link("Download (asciicast)", f"/api/v1/sessions/{session.id}/recording")
                tid(download.props(f"download={session.id}.cast"), "session-recording-download")
            ui.label("Output and resizes as asciicast v2, playable here or with `asciinema play`.").classes(
                "text-sm text-grey-7"
            )
            self.replay = replay_player(session)
        self.dialogs = ui.element("div")
        await self.draw()

    async def draw(self) -> None:
        """Redraw the details and tasks from `self.session`; append new timeline entries."""
        session = self.session
        self.title.set_text(session.name)
        ui.page_title(f"{session.name} · Maestro")
        self.pane.update(session)
        self.replay.update(session)  # a session that ended while the page is open: its caption says so
        self.details.clear()
        with self.details:
            ui.label("Session").classes("font-semibold")
            self._status()
            _fact("Profile", session.profile, "session-profile")
            _fact("Role", session.role, "session-role")
            _fact("Working directory", session.cwd, "session-cwd", mono=True)
            _fact("Command template", " ".join(session.command), "session-command", mono=True)
            _fact("Started", _when(session.started_at), "session-started")
            _fact("Ended", _when(session.ended_at) if session.ended_at else "still running", "session-ended")
            if session.status in ENDED_STATUSES:
                _fact("Exit code", _exit_code(session), "session-exit-code")
            _fact("Started by", _spawned_by(session), "session-spawned-by")
            last_report = clock(session.last_report_at, utcnow()) if session.last_report_at else "none yet"
            _fact("Last report", last_report, "session-last-report-at")
            manifest = ui.button("View manifest", icon="description", on_click=self.show_manifest)
            tid(manifest.props("flat dense no-caps").classes("self-start"), "session-manifest")
        await self._draw_question()
        await self._draw_tasks()
        await self.timeline.update()

    async def _draw_question(self) -> None:
        """While the agent waits for the person: its question, right above the terminal the answer is typed into."""
        self.asks.clear()
        if self.session.status != "needs_input":
            return
        asked = (await timeline.latest_session_entries([self.session.id], ("needs_input",))).get(self.session.id)
        text = asked.message if asked is not None else "It did not say what it needs: see its terminal."
        box = "w-full items-start gap-2 no-wrap rounded border-l-4 border-amber-600 bg-amber-50 px-3 py-2"
        with self.asks, tid(ui.row().classes(box + " dark:bg-amber-950/40"), "session-asks"):
            ui.icon("help_outline", color="amber-8").classes("mt-0.5")
            with ui.column().classes("gap-0 grow min-w-0"):
                # Agent output is untrusted: a label shows it as text, never as HTML.
                question = ui.label(text).classes("whitespace-pre-wrap break-words font-medium")
                tid(question, "session-asks-question")
                ui.label("It waits for your answer: type it into the terminal below.").classes("text-xs text-grey-7")

    def _status(self) -> None:
        """Why the status is what it is (why · by · when; the badge is the terminal's); a stalled session's evidence
        stands out."""
        session = self.session
        reason = session.status_reason
        status = session.status.replace("_", " ")
        if session.status != "stalled":
            names = {session.id: session.name}
            why = (
                reason_words(reason, utcnow(), tasks=self.task_titles, sessions=names, relative=False)
                if reason is not None
                else "no reason recorded"
            )
            with ui.row().classes("w-full gap-2 no-wrap items-baseline"):
                ui.label("Status").classes("text-xs text-grey-7 w-28 shrink-0")
                label = tid(ui.label(f"{status}: {why}").classes("text-sm break-words"), "session-reason")
                if reason is not None:
                    label.tooltip(reason_tip(reason))
            return
        since = full_time(reason.at) if reason is not None else full_time(session.updated_at)
        with tid(ui.row().classes("w-full items-start gap-2 no-wrap p-2 rounded bg-orange-1"), "session-stalled"):
            ui.icon("hourglass_bottom", color=SESSION_COLOR["stalled"]).classes("mt-0.5")
            with ui.column().classes("gap-0 min-w-0"):
                ui.label("Stalled").classes("text-sm font-semibold text-deep-orange-9")
                tid(ui.label(evidence(session)).classes("text-sm break-words text-black"), "session-evidence")
                ui.label(f"Since {since}. Look at its terminal, answer it, or stop it.").classes("text-xs text-grey-8")

    async def _draw_tasks(self) -> None:
        links = self.session.tasks
        for link in links:
            if link.task_id not in self.task_titles:
                try:
                    self.task_titles[link.task_id] = (await tasks.get_task(link.task_id)).title
                except NotFound:
                    self.task_titles[link.task_id] = ""
        self.tasks.clear()
        with self.tasks:
            ui.label(f"Tasks ({len(links)})").classes("font-semibold")
            if not links:
                ui.label("This session works on no task.").classes("text-sm text-grey-6")
            for link in links:
                with tid(ui.row().classes("w-full items-center gap-2 no-wrap"), "session-task"):
                    title = self.task_titles.get(link.task_id)
                    if title:
                        ui.link(title, f"/tasks/{link.task_id}").classes("grow truncate")
                    else:
                        ui.label("a deleted task").classes("grow text-grey-6")
                    ui.badge(link.status.replace("_", " ")).props("outline color=grey-8")

    def concerned(self, batch: list[EventRecord]) -> bool:
        """Does this batch change what the page shows? (Other sessions' activity in the project does not.)"""
        if not batch:
            return True  # a reset: re-read everything
        sid = self.session.id
        linked = {link.task_id for link in self.session.tasks}
        return any(
            r.entity_id == sid
            or r.data.get("session_id") == sid
            or (r.type == "task.updated" and r.entity_id in linked)
            for r in batch
        )

    async def on_events(self, batch: list[EventRecord]) -> None:
        """A live change: re-read the session and redraw (a deleted session shows as such)."""
        if not self.concerned(batch):
            return
        if any(r.type == "task.updated" for r in batch):
            self.task_titles.clear()  # a renamed task
        self.session = await sessions.get_session(self.session.id)  # NotFound: ui.live says it went away
        await self.draw()

    def _stopped(self, session: Session) -> None:
        self.session = session

    async def show_manifest(self) -> None:
        """The manifest the session started with, as text (it may quote task text: never rendered as HTML)."""
        path, text = await self.runtime.runner.manifest_text(self.session.id, MANIFEST_SHOWN)
        self.dialogs.clear()
        with self.dialogs, ui.dialog() as dialog, ui.card().classes("w-full max-w-4xl"):
            tid(dialog, "session-manifest-dialog")
            with ui.row().classes("w-full items-center"):
                ui.label("Manifest").classes("text-lg font-semibold")
                ui.label(str(path)).classes("text-xs text-grey-7 font-mono break-all")
                ui.space()
                ui.button(icon="close", on_click=dialog.close).props("flat round dense")
            shown = text if text is not None else "No manifest file: it is written when the session starts."
            body = ui.label(shown).classes("w-full font-mono text-xs whitespace-pre overflow-auto max-h-[70vh]")
            tid(body, "session-manifest-text")
        dialog.open()


def _fact(name: str, value: str, test_id: str, *, mono: bool = False) -> None:
    with ui.row().classes("w-full gap-2 no-wrap items-baseline"):
        ui.label(name).classes("text-xs text-grey-7 w-28 shrink-0")
        tid(ui.label(value).classes("text-sm break-all" + (" font-mono" if mono else "")), test_id)


def _when(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "not yet"


def _exit_code(session: Session) -> str:
    if session.exit_code is None:
        return "unknown (" + (exit_text(session) or session.status) + ")"
    return f"{session.exit_code} ({exit_text(session)})" if session.exit_code < 0 else str(session.exit_code)


def _spawned_by(session: Session) -> str:
    who = {
        "ui": "you, in the browser",
        "cli": "you, from the CLI",
        "api": "the API",
        "maestro": "Maestro, for a planned run",
    }.get(session.spawn_source)
    if who is None:
        return "another session" if session.parent_session_id else session.spawn_source
    return who
