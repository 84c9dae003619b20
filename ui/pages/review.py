"""The review screen of a worktree: what an agent changed against its base, file by file (viewed marks, unified or
side by side, a focus mode), line comments sent back to the agent, and the finish: commit, merge, pull request,
discard. Live: a worktree.updated event or a session coming and going redraws the state and the actions.

The page is shown as soon as the header, the finish bar and the file list are drawn; the diffs are read and drawn
after it (a task of the tab's own), with a loading indicator meanwhile."""

from __future__ import annotations

import asyncio

from fastapi import Request
from nicegui import background_tasks, ui

from app.errors import NotFound
from app.ids import is_id
from app.models.events import EventRecord
from app.models.projects import Project
from app.models.worktrees import Worktree
from app.services import projects
from app.services.runtime import Runtime
from app.services.worktrees import records
from ui.components.diff_block import preload_viewer
from ui.components.diff_view import ChangesView
from ui.components.palette import Entry
from ui.components.review_actions import DialogSlot, FinishBar
from ui.components.review_comments import CommentsPanel
from ui.components.review_state import Reviewed
from ui.context import tid
from ui.design import SESSION_COLOR, WORKTREE_STATE_COLOR, WORKTREE_STATE_WORDS
from ui.frame import frame
from ui.live import follow
from ui.runtime import runtime_of


@ui.page("/worktrees/{worktree_id}")
async def review_page(request: Request, worktree_id: str) -> None:
    """One worktree's changes and what to do with them; an unknown id shows a friendly not-found page."""
    runtime = runtime_of(request)
    all_projects = await projects.list_projects()
    try:
        if not is_id(worktree_id, "wtr"):
            raise NotFound("not a worktree id")
        worktree = await records.get_worktree(worktree_id)
    except NotFound:
        with frame("Not found", projects=all_projects, current=None, active="review"):
            tid(ui.label("That worktree does not exist (any more).").classes("text-lg"), "not-found")
            ui.link("All sessions", "/sessions")
        return
    project = next((p for p in all_projects if p.id == worktree.project_id), None)
    preload_viewer()
    page = ReviewPage(runtime, worktree, project)
    finish, view = page.finish, page.view
    palette = [
        Entry("Commit the worktree's changes…", "action", finish.open_commit),
        Entry(f"Merge into {worktree.base_ref}…", "action", finish.open_merge),
        Entry("Open a pull request…", "action", finish.open_pull_request),
        Entry("Discard the worktree…", "action", finish.open_discard),
        Entry("Focus mode: one file at a time (f)", "action", view.toggle_focus),
    ]
    keys = {
        "j": view.next_file,
        "n": view.next_file,
        "k": view.previous_file,
        "p": view.previous_file,
        "v": view.toggle_viewed,
        "f": view.toggle_focus,
    }
    with frame(
        worktree.branch, projects=all_projects, current=project, active="review", actions=palette, keys=keys, wide=True
    ):
        await page.build()
    follow(runtime.hub, page.on_events, project_id=worktree.project_id)
    page.fill_later()


class ReviewPage:
    """This tab's view of one worktree: its latest read (ui/components/review_state.py), its changes
    (ui/components/diff_view.py), the pending comments and the finish bar; sections redraw from fresh reads."""

    def __init__(self, runtime: Runtime, worktree: Worktree, project: Project | None) -> None:
        self.runtime = runtime
        self.reviewed = Reviewed(worktree)
        self.project = project
        self.dialogs = DialogSlot()
        self.comments = CommentsPanel(runtime, self.reviewed, dialogs=self.dialogs, on_sent=self.refresh_state)
        self.view = ChangesView(worktree.id, on_line=self.comments.open_comment, on_refresh=self.reload)
        self.finish = FinishBar(
            runtime,
            self.reviewed,
            project,
            dialogs=self.dialogs,
            changed=lambda: self.view.total,
            on_changed=self.refresh_state,
            on_finished=self.reload,
        )

    @property
    def id(self) -> str:
        """The worktree shown."""
        return self.reviewed.id

    # ------------------------------------------------------------------------------------------------ layout
    async def build(self) -> None:
        """Lay out the page, read everything and draw it."""
        self.crumbs = tid(ui.row().classes("w-full items-center gap-1 text-sm text-grey-8"), "review-breadcrumb")
        with ui.row().classes("w-full items-center gap-3"):
            with ui.column().classes("grow min-w-0 gap-1"):
                with ui.row().classes("items-center gap-3 min-w-0"):
                    ui.icon("call_split", size="28px").classes("text-grey-7")
                    branch = ui.label(self.reviewed.worktree.branch)
                    tid(branch.classes("text-2xl font-semibold font-mono break-all"), "review-branch")
                    self.badge = ui.row().classes("items-center")
                self.facts = tid(ui.row().classes("items-center gap-x-4 gap-y-1 text-sm text-grey-8"), "review-facts")
            self.finish.panel()
        self.hint = tid(ui.label().classes("text-sm text-grey-8"), "review-hint")
        self.finish.conflict_panel()
        with ui.row().classes("w-full gap-4 items-start no-wrap max-lg:flex-wrap"):
            with ui.column().classes(
                "w-full lg:w-80 shrink-0 gap-4 lg:sticky lg:top-16 lg:max-h-[calc(100vh-5rem)] overflow-y-auto"
            ):
                self.view.file_panel()
                self.comments.panel()
            with ui.column().classes("grow min-w-0 gap-3"):
                self.view.diff_panel()
        self.dialogs.place()
        await self.read_and_draw()

    def fill_later(self) -> None:
        """Read and draw the diffs once the page is on its way: the page function does not wait for them."""
        client = ui.context.client
        task = background_tasks.create(self.view.fill(), name=f"review diffs {self.id}")
        client.on_delete(task.cancel)

    async def read_and_draw(self) -> None:
        """Read the record, git's state and the list of changes again, and redraw all but the diffs."""
        # Both ask git (its state; the changed files): side by side, the page is ready in the time of the slower.
        await asyncio.gather(self.reviewed.read(), self.view.load(self.reviewed.worktree))
        self.view.settle(self.reviewed.worktree, merged=self.reviewed.merged)
        self.draw_header()
        await self.view.draw()
        self.comments.draw()

    async def reload(self) -> None:
        """Read everything again and redraw it, the diffs included."""
        await self.read_and_draw()
        await self.view.fill()

    async def refresh_state(self) -> None:
        """Re-read the record and git's state (not the diffs) and redraw what depends on them."""
        await self.reviewed.read()
        self.draw_header()
        self.comments.draw()

    # ------------------------------------------------------------------------------------------------ header
    def draw_header(self) -> None:
        """Breadcrumb, state badge, facts (task, base, sessions, PR), the hint and the finish bar."""
        r, w = self.reviewed, self.reviewed.worktree
        self.crumbs.clear()
        with self.crumbs:
            if self.project is not None:
                ui.link(self.project.name, f"/projects/{self.project.id}/tasks").classes("break-all")
                ui.icon("chevron_right")
            if r.task_title is not None:
                ui.link(r.task_title, f"/tasks/{w.task_id}").classes("break-all")
                ui.icon("chevron_right")
            ui.label("Review").classes("font-medium")
        shown = r.shown_state
        self.badge.clear()
        with self.badge:
            badge = ui.badge(shown).props(f"color={WORKTREE_STATE_COLOR[shown]}").classes("text-sm px-2 py-1")
            tid(badge.tooltip(WORKTREE_STATE_WORDS[shown]), "review-state")
        self.facts.clear()
        with self.facts:
            if w.task_id is not None:
                with ui.row().classes("items-center gap-1 no-wrap min-w-0"):
                    ui.icon("task_alt", size="16px").classes("text-grey-7")
                    if r.task_title is not None:
                        tid(ui.link(r.task_title, f"/tasks/{w.task_id}").classes("break-all"), "review-task")
                    else:
                        ui.label("a deleted task").classes("text-grey-6")
            with tid(ui.row().classes("items-center gap-1 no-wrap"), "review-base"):
                ui.icon("merge", size="16px").classes("text-grey-7")
                ui.label("into")
                ui.label(w.base_ref).classes("font-mono font-medium")
                ui.label(f"from {w.base_commit[:10]}").classes("font-mono text-grey-7")
            if r.sessions:
                with ui.row().classes("items-center gap-2"):
                    ui.icon("terminal", size="16px").classes("text-grey-7")
                    for session in r.sessions:
                        with tid(ui.row().classes("items-center gap-1 no-wrap"), "review-session"):
                            ui.badge(session.status.replace("_", " ")).props(f"color={SESSION_COLOR[session.status]}")
                            ui.link(session.name, f"/sessions/{session.id}")
            else:
                ui.label("no session has worked here yet").classes("text-grey-7")
            if w.pr_url:
                with ui.row().classes("items-center gap-1 no-wrap"):
                    ui.icon("open_in_new", size="16px").classes("text-grey-7")
                    if w.pr_url.startswith(("https://", "http://")):
                        tid(ui.link("Pull request", w.pr_url, new_tab=True), "review-pr-link")
                    else:
                        tid(ui.label(w.pr_url), "review-pr-link")
            tid(ui.label(w.path).classes("font-mono text-xs text-grey-7 break-all"), "review-path")
        self.hint.set_text(self._hint())
        self.finish.draw()

    def _hint(self) -> str:
        w, state = self.reviewed.worktree, self.reviewed.shown_state
        base = w.base_ref
        if state == "discarded":
            return "Discarded: the checkout is removed. The branch stays unless it was deleted with it."
        if self.reviewed.merged:
            merged = w.merged_commit
            at = f" ({merged[:10]})" if merged else ""
            return f"Merged into {base}{at}. Discard the worktree once nothing more is needed from it."
        return {
            "dirty": f"Uncommitted changes: commit them, then merge into {base} or open a pull request.",
            "unmerged": f"Everything is committed: merge into {base}, or open a pull request.",
            "clean": f"Nothing to finish yet: no commits and no changes against {base}.",
            "missing": "The worktree's folder is gone (removed by hand?); only discarding is left.",
        }.get(state, "")

    # ------------------------------------------------------------------------------------------------ live
    def concerned(self, batch: list[EventRecord]) -> bool:
        """Does this batch change what the page shows? (Other worktrees' and sessions' activity does not.)"""
        if not batch:
            return True  # a reset: re-read everything
        ids = set(self.reviewed.worktree.session_ids)
        return any(
            r.entity_id == self.id
            or r.type == "session.created"  # perhaps a session joining this worktree
            or (r.type.startswith("session.") and r.entity_id in ids)
            for r in batch
        )

    async def on_events(self, batch: list[EventRecord]) -> None:
        """A live change: the state and the actions always; the changes too after a merge or a discard."""
        if not self.concerned(batch):
            return
        done = {r.data.get("action") for r in batch if r.type == "worktree.updated" and r.entity_id == self.id}
        if not batch or done & {"merged", "discarded", "reconciled"}:
            await self.reload()
        else:
            await self.refresh_state()
