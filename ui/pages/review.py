"""The review screen of a worktree: what an agent changed against its base, file by file (viewed marks, unified or
side by side, a focus mode), line comments sent back to the agent, and the finish: commit, merge, pull request,
discard. Live: a worktree.updated event or a session coming and going redraws the state and the actions."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import msgspec
from fastapi import Request
from nicegui import ui

from app.errors import Conflict, NotFound
from app.ids import is_id
from app.models.events import EventRecord
from app.models.projects import Project
from app.models.sessions import Session
from app.models.worktrees import MergeResult, ReviewComment, Worktree
from app.services import projects, sessions, tasks
from app.services.runtime import Runtime
from app.services.sessions.review import send_review
from app.services.worktrees import actions, records
from ui.actions import run
from ui.components.diff_view import ChangesView
from ui.components.palette import Entry
from ui.context import UI_ACTOR, tid
from ui.design import LIVE_SESSION_STATUSES, SESSION_COLOR
from ui.frame import frame
from ui.live import follow
from ui.runtime import runtime_of

STATE_COLOR = {
    "clean": "grey-7",
    "dirty": "amber-8",
    "unmerged": "blue-7",
    "merged": "green-7",
    "missing": "red-7",
    "discarded": "grey-6",
}
STATE_WORDS = {
    "clean": "no changes",
    "dirty": "uncommitted changes",
    "unmerged": "committed, not merged",
    "merged": "merged",
    "missing": "folder missing",
    "discarded": "discarded",
}
STRATEGY_LABEL = {"fast_forward": "fast-forward", "merge_commit": "merge commit"}
NO_SESSION = "start a session in this worktree to send comments"


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
    page = ReviewPage(runtime, worktree, project)
    palette = [
        Entry("Commit the worktree's changes…", "action", page.open_commit),
        Entry(f"Merge into {worktree.base_ref}…", "action", page.open_merge),
        Entry("Open a pull request…", "action", page.open_pull_request),
        Entry("Discard the worktree…", "action", page.open_discard),
        Entry("Focus mode: one file at a time (f)", "action", page.view.toggle_focus),
    ]
    view = page.view
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


@dataclass
class Pending:
    """A comment not sent yet: on a line of the new version, on a removed line of the old one, or on the file."""

    path: str
    text: str
    line: int | None = None
    old_line: int | None = None

    @property
    def where(self) -> str:
        """file:line as the list shows it."""
        if self.line is not None:
            return f"{self.path}:{self.line}"
        if self.old_line is not None:
            return f"{self.path}:−{self.old_line} (removed line)"
        return self.path

    def comment(self) -> dict[str, Any]:
        """The LineComment it becomes (a removed line has no number in the new version: the text says which)."""
        text = self.text
        if self.line is None and self.old_line is not None:
            text = f"(on line {self.old_line} of the old version, which you removed) {text}"
        return {"path": self.path, "text": text, "line": self.line}


class ReviewPage:
    """This tab's view of one worktree: its record and git state, its changes (ui/components/diff_view.py) and
    the pending comments; sections redraw from fresh reads."""

    def __init__(self, runtime: Runtime, worktree: Worktree, project: Project | None) -> None:
        self.runtime = runtime
        self.worktree = worktree
        self.project = project
        self.state = "missing"
        self.task_title: str | None = None
        self.sessions: list[Session] = []
        self.view = ChangesView(worktree.id, on_line=self.open_comment, on_refresh=self.reload)
        self.pending: list[Pending] = []

    @property
    def id(self) -> str:
        """The worktree shown."""
        return self.worktree.id

    # ------------------------------------------------------------------------------------------------ layout
    async def build(self) -> None:
        """Lay out the page, read everything and draw it."""
        self.crumbs = tid(ui.row().classes("w-full items-center gap-1 text-sm text-grey-8"), "review-breadcrumb")
        with ui.row().classes("w-full items-center gap-3"):
            with ui.column().classes("grow min-w-0 gap-1"):
                with ui.row().classes("items-center gap-3 min-w-0"):
                    ui.icon("call_split", size="28px").classes("text-grey-7")
                    branch = ui.label(self.worktree.branch).classes("text-2xl font-semibold font-mono break-all")
                    tid(branch, "review-branch")
                    self.badge = ui.row().classes("items-center")
                self.facts = tid(ui.row().classes("items-center gap-x-4 gap-y-1 text-sm text-grey-8"), "review-facts")
            self.finish = tid(ui.row().classes("items-center gap-2"), "review-finish")
        self.hint = tid(ui.label().classes("text-sm text-grey-8"), "review-hint")
        self.conflict = tid(ui.card().classes("w-full gap-1 border-l-4 border-red-500"), "review-conflict")
        self.conflict.set_visibility(False)
        with ui.row().classes("w-full gap-4 items-start no-wrap max-lg:flex-wrap"):
            with ui.column().classes(
                "w-full lg:w-80 shrink-0 gap-4 lg:sticky lg:top-16 lg:max-h-[calc(100vh-5rem)] overflow-y-auto"
            ):
                self.view.file_panel()
                self.comments = tid(ui.card().classes("w-full gap-2 p-3"), "review-comments")
            with ui.column().classes("grow min-w-0 gap-3"):
                self.view.diff_panel()
        self.dialogs = ui.element("div")  # one dialog at a time; a closed one is dropped before the next opens
        await self.reload()

    async def reload(self) -> None:
        """Read the record, git's state and the changes again, and redraw everything."""
        await self._read_record()
        await self.view.load(self.worktree, self.state)
        self.draw_header()
        await self.view.draw()
        self.draw_comments()

    async def refresh_state(self) -> None:
        """Re-read the record and git's state (not the diffs) and redraw what depends on them."""
        await self._read_record()
        self.draw_header()
        self.draw_comments()

    async def _read_record(self) -> None:
        self.worktree = await records.get_worktree(self.id)  # NotFound: ui.live says it went away
        self.state = await records.git_state(self.worktree)
        found = []
        for session_id in self.worktree.session_ids:
            with contextlib.suppress(NotFound):
                found.append(await sessions.get_session(session_id))
        self.sessions = found
        self.task_title = None
        if self.worktree.task_id is not None:
            with contextlib.suppress(NotFound):
                self.task_title = (await tasks.get_task(self.worktree.task_id)).title

    # ------------------------------------------------------------------------------------------------ header
    def draw_header(self) -> None:
        """Breadcrumb, state badge, facts (task, base, sessions, PR), the hint and the finish bar."""
        w = self.worktree
        self.crumbs.clear()
        with self.crumbs:
            if self.project is not None:
                ui.link(self.project.name, f"/projects/{self.project.id}/tasks").classes("break-all")
                ui.icon("chevron_right")
            if self.task_title is not None:
                ui.link(self.task_title, f"/tasks/{w.task_id}").classes("break-all")
                ui.icon("chevron_right")
            ui.label("Review").classes("font-medium")
        shown = self.shown_state
        self.badge.clear()
        with self.badge:
            badge = ui.badge(shown).props(f"color={STATE_COLOR[shown]}").classes("text-sm px-2 py-1")
            tid(badge.tooltip(STATE_WORDS[shown]), "review-state")
        self.facts.clear()
        with self.facts:
            if w.task_id is not None:
                with ui.row().classes("items-center gap-1 no-wrap min-w-0"):
                    ui.icon("task_alt", size="16px").classes("text-grey-7")
                    if self.task_title is not None:
                        tid(ui.link(self.task_title, f"/tasks/{w.task_id}").classes("break-all"), "review-task")
                    else:
                        ui.label("a deleted task").classes("text-grey-6")
            with tid(ui.row().classes("items-center gap-1 no-wrap"), "review-base"):
                ui.icon("merge", size="16px").classes("text-grey-7")
                ui.label("into")
                ui.label(w.base_ref).classes("font-mono font-medium")
                ui.label(f"from {w.base_commit[:10]}").classes("font-mono text-grey-7")
            if self.sessions:
                with ui.row().classes("items-center gap-2"):
                    ui.icon("terminal", size="16px").classes("text-grey-7")
                    for session in self.sessions:
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
        self.draw_finish()

    @property
    def shown_state(self) -> str:
        """The badge: git's word, or "discarded" for a worktree Maestro removed."""
        return "discarded" if self.worktree.status == "discarded" else self.state

    def _hint(self) -> str:
        base, state = self.worktree.base_ref, self.shown_state
        if state == "discarded":
            return "Discarded: the checkout is removed. The branch stays unless it was deleted with it."
        if self.worktree.status == "merged" or state == "merged":
            merged = self.worktree.merged_commit
            at = f" ({merged[:10]})" if merged else ""
            return f"Merged into {base}{at}. Discard the worktree once nothing more is needed from it."
        return {
            "dirty": f"Uncommitted changes: commit them, then merge into {base} or open a pull request.",
            "unmerged": f"Everything is committed: merge into {base}, or open a pull request.",
            "clean": f"Nothing to finish yet: no commits and no changes against {base}.",
            "missing": "The worktree's folder is gone (removed by hand?); only discarding is left.",
        }.get(state, "")

    # ------------------------------------------------------------------------------------------------ finish bar
    def draw_finish(self) -> None:
        """Commit, merge, pull request and discard, each disabled with the reason when it cannot apply now."""
        strategy = self._strategy()
        self.finish.clear()
        with self.finish:
            _action("Commit", "check", "review-commit", self.open_commit, self._why_not("commit"), primary=True)
            merge = f"Merge into {self.worktree.base_ref} ({STRATEGY_LABEL[strategy]})"
            _action(merge, "merge", "review-merge", self.open_merge, self._why_not("merge"), primary=True)
            _action("Open pull request", "open_in_new", "review-pr", self.open_pull_request, self._why_not("pr"))
            _action("Discard", "delete", "review-discard", self.open_discard, self._why_not("discard"), danger=True)

    def _why_not(self, action: str) -> str | None:
        """Why `action` cannot be done now (None: it can)."""
        w, state, base = self.worktree, self.shown_state, self.worktree.base_ref
        if state == "discarded":
            return "The worktree was discarded" if action != "discard" else "Already discarded"
        if action == "discard":
            return None
        if state == "missing":
            return "The worktree's folder is gone"
        if action == "commit":
            return None if state == "dirty" else "Nothing to commit: every change is committed"
        if w.status == "merged" or state == "merged":
            return f"Already merged into {base}"
        if state == "dirty":
            what = "a merge" if action == "merge" else "a pull request"
            return f"Commit the changes first: {what} takes committed work only"
        if state == "clean":
            return "Nothing to merge yet: the branch has no commits of its own"
        if action == "pr" and w.pr_url:
            return f"A pull request is open: {w.pr_url}"
        return None

    def _strategy(self) -> str:
        return self.project.git.merge_strategy if self.project is not None else "fast_forward"

    async def open_commit(self) -> None:
        """Commit everything in the worktree, with a message prefilled from the task and the agent's last report."""
        if self._refused("commit"):
            return
        message = await run(actions.suggested_commit_message(self.id)) or self.worktree.branch
        total = self.view.total
        with self._dialog("review-commit-dialog") as (dialog, card):
            with card:
                ui.label(f"Commit on {self.worktree.branch}").classes("text-lg font-semibold break-all")
                ui.label(f"Everything in the worktree ({_files(total)} differ from the base), new files included.")
                text = ui.textarea("Commit message", value=message)
                text.props('outlined autogrow autofocus input-style="min-height: 7rem"')
                tid(text.classes("w-full font-mono"), "review-commit-message")

                async def commit() -> None:
                    if not (text.value or "").strip():
                        text.props('error error-message="A commit message is needed"')
                        return
                    dialog.close()
                    done = await run(actions.commit(self.runtime.writer, self.id, text.value.strip(), UI_ACTOR))
                    if done is not None:
                        ui.notify(f"Committed on {done.branch}", type="positive")
                        await self.refresh_state()

                with ui.row().classes("w-full justify-end"):
                    ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                    tid(
                        ui.button("Commit", icon="check", on_click=commit).props("unelevated no-caps"),
                        "review-commit-confirm",
                    )

    async def open_merge(self) -> None:
        """Merge the branch into its base, after a confirmation that names the strategy."""
        if self._refused("merge"):
            return
        w = self.worktree
        with self._dialog("review-merge-dialog") as (dialog, card):
            with card:
                ui.label(f"Merge {w.branch} into {w.base_ref}?").classes("text-lg font-semibold break-all")
                strategy = ui.radio(
                    {
                        "fast_forward": f"Fast-forward: {w.base_ref} moves to the branch's last commit",
                        "merge_commit": f"Merge commit: a new commit on {w.base_ref} joins the two",
                    },
                    value=self._strategy(),
                ).props("dense")
                tid(strategy, "review-merge-strategy")
                ui.label(
                    f"All or nothing: a conflict leaves {w.base_ref} as it was and lists the files. "
                    "The project's setting chooses the strategy shown first."
                ).classes("text-sm text-grey-7")

                async def merge() -> None:
                    dialog.close()
                    result = await run(self._merge(strategy.value))
                    if result is not None:
                        how = "by fast-forward" if result.fast_forward else "with a merge commit"
                        ui.notify(f"Merged into {w.base_ref} {how} ({result.commit[:10]})", type="positive")
                        self.show_conflict([])
                        await self.reload()

                with ui.row().classes("w-full justify-end"):
                    ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                    tid(
                        ui.button("Merge", icon="merge", on_click=merge).props("unelevated no-caps"),
                        "review-merge-confirm",
                    )

    async def _merge(self, strategy: str) -> MergeResult:
        try:
            return await actions.merge(self.runtime.writer, self.id, UI_ACTOR, strategy=strategy)
        except Conflict as exc:
            files = exc.extra.get("files") if isinstance(exc.extra, dict) else None
            if files:
                self.show_conflict([str(f) for f in files])
            raise  # the toast says it too (ui/actions.run)

    def show_conflict(self, files: list[str]) -> None:
        """The files a merge would conflict in, until the next merge (or dismissed)."""
        self.conflict.clear()
        self.conflict.set_visibility(bool(files))
        if not files:
            return
        base = self.worktree.base_ref
        with self.conflict:
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.icon("report", color="red-7", size="20px")
                ui.label(f"Merging would conflict in {_files(len(files))}; nothing was changed.").classes(
                    "font-semibold grow"
                )
                ui.button(icon="close", on_click=lambda: self.show_conflict([])).props("flat round dense size=sm")
            ui.label(
                f"Resolve them in the worktree (merge or rebase {base} there, or ask the agent to), then merge again."
            ).classes("text-sm text-grey-8")
            for name in files:
                tid(ui.label(name).classes("font-mono text-sm break-all"), "review-conflict-file")

    async def open_pull_request(self) -> None:
        """Push the branch and open a pull request with gh (a refusal says why: no gh, no remote)."""
        if self._refused("pr"):
            return
        suggested = await run(actions.suggested_commit_message(self.id)) or self.worktree.branch
        with self._dialog("review-pr-dialog") as (dialog, card):
            with card:
                ui.label(f"Open a pull request into {self.worktree.base_ref}").classes("text-lg font-semibold")
                title = tid(ui.input("Title", value=suggested.splitlines()[0]).props("outlined"), "review-pr-title")
                body = ui.textarea("Description (optional)").props("outlined autogrow")
                tid(body.classes("w-full"), "review-pr-body")
                ui.label("Maestro pushes the branch to the repository's remote, then asks GitHub's gh CLI.").classes(
                    "text-sm text-grey-7"
                )

                async def open_pr() -> None:
                    dialog.close()
                    done = await run(
                        actions.pull_request(
                            self.runtime.writer,
                            self.id,
                            UI_ACTOR,
                            title=(title.value or "").strip() or None,
                            body=body.value or "",
                        )
                    )
                    if done is not None:
                        ui.notify(f"Pull request opened: {done.pr_url}", type="positive")
                        await self.refresh_state()

                with ui.row().classes("w-full justify-end"):
                    ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                    confirm = ui.button("Open pull request", icon="open_in_new", on_click=open_pr)
                    tid(confirm.props("unelevated no-caps"), "review-pr-confirm")

    async def open_discard(self) -> None:
        """Remove the worktree's checkout; a warning (and "discard anyway") when it holds work not merged."""
        if self._refused("discard"):
            return
        await self.refresh_state()  # warn about what is there now, not what was there when the page opened
        w, state = self.worktree, self.state
        risky = state in ("dirty", "unmerged")
        with self._dialog("review-discard-dialog") as (dialog, card):
            with card:
                ui.label(f"Discard the worktree of {w.branch}?").classes("text-lg font-semibold break-all")
                ui.label(f"Its checkout at {w.path} is removed.").classes("text-sm break-all")
                if state == "dirty":
                    _warning("It holds uncommitted changes: discarding loses them for good.")
                elif state == "unmerged":
                    _warning(f"Its branch has commits not merged into {w.base_ref}: keep the branch to keep them.")
                branch = ui.checkbox(f"Also delete the branch {w.branch}")
                tid(branch.classes("break-all"), "review-discard-branch")
                if state == "merged" or w.status == "merged":
                    ui.label("The branch is merged: deleting it loses nothing.").classes("text-sm text-grey-7")
                running = self.live_session
                if running is not None:  # the service refuses too; saying it here saves a round trip
                    _warning(
                        f"Session {running.name} still runs in this worktree: stop it first.", "review-discard-running"
                    )

                async def discard() -> None:
                    dialog.close()
                    done = await run(
                        actions.discard(
                            self.runtime.writer, self.id, UI_ACTOR, force=risky, delete_branch=bool(branch.value)
                        )
                    )
                    if done is not None:
                        ui.notify(f"Discarded the worktree of {w.branch}", type="positive")
                        await self.reload()

                with ui.row().classes("w-full justify-end"):
                    ui.button("Keep it", on_click=dialog.close).props("flat no-caps")
                    label = "Discard anyway" if risky else "Discard"
                    confirm = ui.button(label, icon="delete", on_click=discard).props(
                        "unelevated no-caps color=negative"
                    )
                    tid(confirm, "review-discard-confirm").set_enabled(running is None)

    def _refused(self, action: str) -> bool:
        """A shortcut or palette entry for an action that cannot apply: say why instead."""
        reason = self._why_not(action)
        if reason is not None:
            ui.notify(reason, type="warning")
        return reason is not None

    @contextlib.contextmanager
    def _dialog(self, test_id: str):
        """A fresh dialog (the previous one dropped) that opens once its contents are drawn."""
        self.dialogs.clear()
        with self.dialogs, ui.dialog() as dialog, ui.card().classes("w-full max-w-2xl gap-3") as card:
            tid(dialog, test_id)
        yield dialog, card
        dialog.open()

    # ------------------------------------------------------------------------------------------------ comments
    @property
    def live_session(self) -> Session | None:
        """The newest session still running in this worktree (the one comments go to)."""
        live = [s for s in self.sessions if s.status in LIVE_SESSION_STATUSES]
        return live[-1] if live else None

    def open_comment(self, path: str, line: int | None, old_line: int | None) -> None:
        """A small dialog to note something on a line (or the whole file); it joins the pending list."""
        where = Pending(path, "", line, old_line).where
        with self._dialog("review-comment-dialog") as (dialog, card):
            with card:
                ui.label("Comment for the agent").classes("text-lg font-semibold")
                ui.label(where).classes("font-mono text-sm break-all text-grey-8")
                text = ui.textarea(placeholder="What should change here?").props("outlined autogrow autofocus")
                tid(text.classes("w-full"), "review-comment-text")

                def add() -> None:
                    if not (text.value or "").strip():
                        text.props('error error-message="Write the comment first"')
                        return
                    dialog.close()
                    self.pending.append(Pending(path, text.value.strip(), line, old_line))
                    self.draw_comments()

                text.on("keydown.ctrl.enter", add)
                text.on("keydown.meta.enter", add)
                with ui.row().classes("w-full items-center justify-end"):
                    ui.label("Ctrl+Enter adds it").classes("text-xs text-grey-7 grow")
                    ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                    tid(ui.button("Add comment", on_click=add).props("unelevated no-caps"), "review-comment-add")

    def draw_comments(self) -> None:
        """The pending comments and the button that sends them to the running agent."""
        self.comments.clear()
        session = self.live_session
        with self.comments:
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("Review comments").classes("font-semibold")
                if self.pending:
                    ui.badge(str(len(self.pending))).props("color=amber-8 rounded")
            if not self.pending:
                ui.label(
                    "Click a line number in a diff (or a file's comment button) to note something for the agent."
                ).classes("text-sm text-grey-7")
            for index, comment in enumerate(self.pending):
                with tid(ui.row().classes("w-full items-start gap-1 no-wrap"), "review-pending"):
                    with ui.column().classes("grow min-w-0 gap-0"):
                        tid(
                            ui.label(comment.where).classes("font-mono text-xs text-grey-8 break-all"),
                            "review-pending-where",
                        )
                        ui.label(comment.text).classes("text-sm whitespace-pre-wrap break-words")
                    remove = ui.button(icon="close", on_click=lambda i=index: self._drop_comment(i))
                    tid(remove.props("flat round dense size=sm").tooltip("Remove"), "review-pending-remove")
            reason = NO_SESSION if session is None else None if self.pending else "Add a comment first"
            label = f"Send to agent ({len(self.pending)})"
            _action(label, "send", "review-send", self.send_comments, reason, primary=True, wide=True)
            if session is not None:
                ui.label(f"Typed into {session.name}'s terminal as its next instruction.").classes(
                    "text-xs text-grey-7"
                )
            else:
                ui.label(f"No session runs here: {NO_SESSION}.").classes("text-xs text-grey-7")

    def _drop_comment(self, index: int) -> None:
        if 0 <= index < len(self.pending):
            del self.pending[index]
        self.draw_comments()

    async def send_comments(self) -> None:
        """Hand every pending comment to the newest running session as one instruction."""
        session = self.live_session
        if session is None or not self.pending:
            return
        try:
            review = msgspec.convert({"comments": [p.comment() for p in self.pending]}, ReviewComment)
        except msgspec.ValidationError as exc:
            ui.notify(f"These comments cannot be sent: {exc}", type="warning", multi_line=True)
            return
        count = len(self.pending)
        sent = await run(send_review(self.runtime.writer, self.runtime.runner, session.id, review, UI_ACTOR))
        if sent is not None:
            self.pending.clear()
            ui.notify(f"Sent {count} comment{'s' if count != 1 else ''} to {session.name}", type="positive")
            await self.refresh_state()

    # ------------------------------------------------------------------------------------------------ live
    def concerned(self, batch: list[EventRecord]) -> bool:
        """Does this batch change what the page shows? (Other worktrees' and sessions' activity does not.)"""
        if not batch:
            return True  # a reset: re-read everything
        ids = set(self.worktree.session_ids)
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


def _action(
    label: str,
    icon: str,
    test_id: str,
    handler: Any,
    reason: str | None,
    *,
    primary: bool = False,
    danger: bool = False,
    wide: bool = False,
) -> ui.button:
    """A button that, when it cannot apply, is disabled with its reason as tooltip (on a wrapper: a disabled
    button takes no hover)."""
    with ui.element("div").classes("w-full" if wide else "") as wrapper:
        button = ui.button(label, icon=icon, on_click=handler).classes("w-full" if wide else "")
        style = "unelevated" if primary else "outline"
        button.props(f"{style} no-caps" + (" color=negative" if danger else ""))
        tid(button, test_id)
        if reason is not None:
            button.disable()
            wrapper.tooltip(reason)
    return button


def _warning(text: str, test_id: str = "review-discard-warning") -> None:
    with ui.row().classes("w-full items-start gap-2 no-wrap rounded p-2 bg-amber-1 text-grey-10"):
        ui.icon("warning", color="amber-9", size="20px")
        tid(ui.label(text).classes("text-sm"), test_id)


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"
