"""The worktrees page: each agent branch of a project (or of every project) with its task, its sessions and what git
says of it now, a link to review it, and one button that cleans up the finished ones.

The records come from one query; git is asked only for the worktrees shown that still have a checkout (never for
discarded ones). The filter lives in the URL (`?status=merged`), so a reload or a bookmark keeps the view.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from nicegui import ui

from app.errors import MaestroError
from app.models.common import utcnow
from app.models.events import EventRecord
from app.models.projects import Project
from app.models.sessions import Session
from app.models.worktrees import Worktree
from app.services import projects, sessions, tasks
from app.services.runtime import Runtime
from app.services.worktrees import actions, gitflow, records
from ui.actions import run
from ui.components.project_form import open_project_form
from ui.components.run_agent import Launcher
from ui.components.session_list import clock
from ui.context import UI_ACTOR, tid
from ui.design import SESSION_COLOR, WORKTREE_STATE_COLOR, WORKTREE_STATE_HINT
from ui.frame import frame
from ui.live import follow
from ui.pages.projects import project_deleted, project_or_not_found
from ui.runtime import runtime_of

FILTERS = {"": "All", "active": "Active", "merged": "Merged", "discarded": "Discarded"}
COLUMNS = "minmax(0,2.4fr) minmax(0,2fr) minmax(0,1.6fr) 6.5rem 6rem 6.5rem"  # branch task sessions state created …
EVENTS = ("worktree.", "session.created", "session.status_changed", "task.updated", "task.deleted")


@ui.page("/projects/{project_id}/worktrees")
async def project_worktrees_page(request: Request, project_id: str) -> None:
    """One project's worktrees."""
    found = await project_or_not_found(project_id)
    if found is None:
        return
    project, all_projects = found
    await _page(runtime_of(request), request, all_projects, project)


@ui.page("/worktrees")
async def worktrees_page(request: Request) -> None:
    """Every project's worktrees."""
    await _page(runtime_of(request), request, await projects.list_projects(), None)


@dataclass
class Listing:
    """What the table is drawn from, loaded once per refresh."""

    worktrees: list[Worktree]  # the filter's, git state filled in for those with a checkout
    counts: Counter  # every worktree in scope by recorded status
    titles: dict[str, str]  # task id -> title
    sessions: dict[str, Session]  # the sessions of the listed worktrees that are among the newest 500
    projects: dict[str, str] = field(default_factory=dict)  # project id -> name (every project's page)


async def _page(runtime: Runtime, request: Request, all_projects: list[Project], project: Project | None) -> None:
    status = request.query_params.get("status", "")
    view = {"status": status if status in FILTERS else ""}
    scope = [project] if project is not None else all_projects
    base_url = f"/projects/{project.id}/worktrees" if project else "/worktrees"
    title = f"{project.name} worktrees" if project else "Worktrees"
    with frame(title, projects=all_projects, current=project, active="worktrees"):
        launcher = Launcher(runtime, project.id if project else None)
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Worktrees").classes("text-2xl font-semibold")
            if project is not None:
                ui.label(project.name).classes("text-xl text-grey-7 break-all")
            ui.space()
            with ui.row().classes("items-center gap-2") as controls:
                status_filter = ui.toggle(FILTERS, value=view["status"]).props("no-caps rounded padding='4px 12px'")
                tid(status_filter, "worktrees-filter")
                again = ui.button(icon="refresh", on_click=lambda: table.refresh()).props("flat round dense")
                tid(again.tooltip("Ask git again (an agent may have changed files since)"), "worktrees-refresh")
                cleanup = ui.button("Clean up finished", icon="cleaning_services")
                tid(
                    cleanup.props("outline no-caps").tooltip("Remove the checkouts nothing unsaved is left in"),
                    "worktrees-cleanup",
                )
        intro = ui.label(
            "Each agent started with isolation 'Own worktree' works on a branch of its own, in a checkout outside "
            "your folder. Review what it changed, merge it, or clean up the finished ones."
        ).classes("text-sm text-grey-7")

        @ui.refreshable
        async def table() -> None:
            listing = await load(scope, view["status"], every_project=project is None)
            status_filter.set_options(
                {k: f"{label} · {_count(listing.counts, k)}" for k, label in FILTERS.items()}, value=view["status"]
            )
            anything = bool(sum(listing.counts.values()))
            controls.set_visibility(anything)  # nothing to filter or clean up yet: the empty state says what to do
            intro.set_visibility(anything)
            if not anything:
                await _empty_state(runtime, launcher, project)
                return
            _table(listing)

        def set_filter(value: str | None) -> None:
            view["status"] = value or ""
            url = base_url + (f"?status={view['status']}" if view["status"] else "")
            ui.run_javascript(f"history.replaceState(null, '', {json.dumps(url)})")  # bookmarkable, no reload
            table.refresh()

        async def on_events(batch: list[EventRecord]) -> None:
            if _concerns(batch):
                table.refresh()

        status_filter.on_value_change(lambda e: set_filter(e.value))
        cleanup.on_click(lambda: _confirm_cleanup(runtime, scope, table.refresh))
        await table()
    follow(
        runtime.hub, on_events, project_id=project.id if project else None, gone=project_deleted if project else None
    )


async def load(scope: list[Project], status: str, *, every_project: bool = False) -> Listing:
    """The records of the projects in scope (one query each), git's state of the shown ones that have a checkout."""
    found: list[Worktree] = []
    for project in scope:
        found += await records.list_worktrees(project_id=project.id, with_state=False)
    found.sort(key=lambda w: w.created_at, reverse=True)
    shown = [w for w in found if not status or w.status == status]
    repos = {p.id: await _repo(p) for p in scope if any(w.project_id == p.id for w in shown)}
    with_state = [
        w if w.status == "discarded" else await records.with_git_state(w, repos.get(w.project_id)) for w in shown
    ]
    wanted = {s for w in shown for s in w.session_ids}
    recent = await sessions.list_sessions(project_id=scope[0].id if len(scope) == 1 else None, limit=500)
    return Listing(
        worktrees=with_state,
        counts=Counter(w.status for w in found),
        titles=await tasks.task_titles([w.task_id for w in shown if w.task_id]),
        sessions={s.id: s for s in recent if s.id in wanted},
        projects={p.id: p.name for p in scope} if every_project else {},
    )


async def _repo(project: Project) -> Path | None:
    """The project's repository (None: not one any more; its worktrees then read as missing)."""
    try:
        return await gitflow.repo_root(Path(project.working_dir))
    except MaestroError:
        return None


def _count(counts: Counter, status: str) -> int:
    return sum(counts.values()) if not status else counts.get(status, 0)


def _concerns(batch: list[EventRecord]) -> bool:
    """Does a live batch change the table? (No events: a reset, re-read everything.) Session news only counts
    for sessions in a worktree, so agents working in place never make the page ask git again."""
    if not batch:
        return True
    for record in batch:
        if record.type.startswith("worktree.") or record.type.startswith(("task.updated", "task.deleted")):
            return True
        if record.type.startswith("session."):
            session = record.data.get("session", record.data)
            if isinstance(session, dict) and session.get("worktree_id"):
                return True
    return False


def _table(listing: Listing) -> None:
    with tid(ui.column().classes("w-full gap-0 rounded border border-gray-500/30 overflow-hidden"), "worktrees-table"):
        header = ui.element("div").classes("w-full grid gap-3 px-3 py-2 text-xs uppercase text-grey-7 m-surface")
        header.style(f"grid-template-columns: {COLUMNS}")
        with header:
            for name in ("Branch", "Task", "Sessions", "State", "Created", ""):
                ui.label(name)
        if not listing.worktrees:
            ui.label("No worktree matches this filter.").classes("px-3 py-4 text-sm text-grey-6")
        now = utcnow()
        for worktree in listing.worktrees:
            _row(worktree, listing, now)


def _row(worktree: Worktree, listing: Listing, now: dt.datetime) -> None:
    row = ui.element("div").classes("w-full grid gap-3 px-3 py-2 items-center border-t border-gray-500/20")
    row.style(f"grid-template-columns: {COLUMNS}")
    if worktree.status == "discarded":
        row.classes("opacity-60")
    tid(row, "worktree-row").mark("worktree-row", f"worktree-row-{worktree.id}")  # the second picks one row
    row.props(f"data-worktree-id={worktree.id}")
    with row:
        with ui.column().classes("gap-0 min-w-0"):
            branch = ui.label(worktree.branch).classes("font-mono text-sm break-words")
            tid(branch.tooltip(worktree.path), "worktree-branch")
            ui.label(f"from {worktree.base_ref} ({worktree.base_commit[:7]})").classes("text-xs text-grey-7")
        with ui.column().classes("gap-0 min-w-0"):
            if listing.projects:
                ui.label(listing.projects.get(worktree.project_id, "")).classes("text-xs text-grey-7 truncate")
            if worktree.task_id is None:
                ui.label("no task").classes("text-sm text-grey-6 italic")
            else:
                title = listing.titles.get(worktree.task_id, "a deleted task")
                tid(ui.link(title, f"/tasks/{worktree.task_id}").classes("text-sm break-words"), "worktree-task")
        with ui.row().classes("gap-1 min-w-0"):
            if not worktree.session_ids:
                ui.label("none").classes("text-sm text-grey-6")
            for session_id in worktree.session_ids:
                session = listing.sessions.get(session_id)
                name = session.name if session else session_id[-6:]
                chip = ui.link(name, f"/sessions/{session_id}").classes("no-underline")
                color = SESSION_COLOR[session.status] if session else "grey-6"
                chip.classes(f"text-xs px-2 rounded-full text-white bg-{color}")
                chip.tooltip(session.status.replace("_", " ") if session else "an older session")
                tid(chip, "worktree-session")
        state = "discarded" if worktree.status == "discarded" else (worktree.state or "missing")
        hint = WORKTREE_STATE_HINT[state]
        if state == "discarded" and worktree.merged_commit:
            hint = f"Merged into {worktree.base_ref}, then its checkout was removed"
        badge = ui.badge(state).props(f"color={WORKTREE_STATE_COLOR[state]}").classes("justify-self-start")
        tid(badge.tooltip(hint), "worktree-state")
        created = ui.label(clock(worktree.created_at, now)).classes("text-sm text-grey-7")
        created.tooltip(f"{worktree.created_at.astimezone():%Y-%m-%d %H:%M:%S}")
        if worktree.status == "discarded":
            ui.label("")
        else:
            review = ui.link(target=f"/worktrees/{worktree.id}")  # a link: it opens in a new tab too
            review.classes("flex items-center gap-1 text-sm font-medium text-primary no-underline hover:underline")
            with tid(review, "worktree-review"):
                ui.icon("rate_review", size="xs")
                ui.label("Review")


async def _empty_state(runtime: Runtime, launcher: Launcher, project: Project | None) -> None:
    with tid(ui.card().classes("w-full max-w-2xl gap-3 p-6"), "worktrees-empty"):
        with ui.row().classes("items-center gap-2"):
            ui.icon("call_split", size="md").classes("text-grey-7")
            ui.label("No worktree yet.").classes("text-lg font-semibold")
        ui.label(
            "Agents started with isolation 'Own worktree' get their own branch here: a checkout of their own under "
            "Maestro's folder, so agents working side by side never trample each other's files. You review what "
            "each one changed, then merge it into the base branch or discard it."
        )
        ui.label(
            "Choose 'Own worktree' in Run agent, or make it the project's default in its settings (Git section). "
            "The project's folder must be a git repository."
        ).classes("text-sm text-grey-8")
        if project is not None and await _repo(project) is None:
            ui.label(
                f"{project.working_dir} is not a git repository yet: run `git init` there (and commit once) first."
            ).classes("text-sm text-orange-9")
        with ui.row().classes("gap-2"):
            start = ui.button("Run agent", icon="smart_toy", on_click=lambda: launcher.run_agent())
            tid(start.props("unelevated no-caps"), "worktrees-empty-run-agent")
            if project is not None:
                edit = ui.button(
                    "Project settings",
                    icon="tune",
                    on_click=lambda: open_project_form(runtime, project=project, on_saved=lambda _: None),
                )
                tid(edit.props("outline no-caps"), "worktrees-empty-settings")


async def _confirm_cleanup(runtime: Runtime, scope: list[Project], refresh) -> None:
    """Ask first, saying what goes and what stays; then clean up and say how many went and why the rest stayed."""
    with ui.dialog() as dialog, ui.card().classes("max-w-lg"):
        tid(dialog, "worktrees-cleanup-dialog")
        ui.label("Clean up finished worktrees?").classes("text-lg font-semibold")
        ui.label(
            "This removes the checkouts of worktrees whose sessions have ended and that hold nothing unsaved: "
            "clean ones, merged ones and ones whose folder is already gone. Their branches are kept."
        )
        ui.label(
            "Worktrees with uncommitted changes or unmerged commits stay for you to review, merge or discard."
        ).classes("text-sm text-grey-8")

        async def clean() -> None:
            go.disable()
            removed = 0
            for project in scope:
                done = await run(actions.cleanup(runtime.writer, project.id, UI_ACTOR))
                removed += len(done or [])
            dialog.close()
            ui.notify(await _cleanup_summary(scope, removed), type="positive", multi_line=True)
            refresh()

        with ui.row().classes("w-full justify-end"):
            ui.button("Keep them", on_click=dialog.close).props("flat")
            go = ui.button("Clean up", icon="cleaning_services", on_click=clean).props("unelevated")
            tid(go, "worktrees-cleanup-confirm")
    dialog.on("hide", dialog.delete)
    dialog.open()


async def _cleanup_summary(scope: list[Project], removed: int) -> str:
    """ "Removed 2 worktrees; kept 2: 1 with uncommitted changes, 1 with unmerged commits"."""
    reasons: Counter = Counter()
    for project in scope:
        repo = await _repo(project)
        for worktree in await records.list_worktrees(project_id=project.id, with_state=False):
            if worktree.status != "discarded":
                state = await records.git_state(worktree, repo)
                reasons[state if state in ("dirty", "unmerged") else "in_use"] += 1
    said = f"Removed {removed} worktree{'s' if removed != 1 else ''}" if removed else "Nothing to remove"
    kept = sum(reasons.values())
    if not kept:
        return said
    words = {
        "dirty": "with uncommitted changes",
        "unmerged": "with unmerged commits",
        "in_use": "in use by a running session",
    }
    parts = [f"{reasons[k]} {words[k]}" for k in words if reasons[k]]
    return f"{said}; kept {kept}: " + ", ".join(parts)
