"""The review screen's finish: commit, merge, pull request and discard, each disabled with its reason when it cannot
apply now, their dialogs, and the card listing the files a merge would conflict in."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from nicegui import ui

from app.errors import Conflict
from app.models.projects import Project
from app.models.worktrees import MergeResult
from app.services.runtime import Runtime
from app.services.worktrees import actions
from ui.actions import run
from ui.components.review_state import Reviewed
from ui.context import UI_ACTOR, tid

STRATEGY_LABEL = {"fast_forward": "fast-forward", "merge_commit": "merge commit"}

Redraw = Callable[[], Awaitable[None]]


class FinishBar:
    """The four finishing actions of one worktree, drawn from the page's latest read of it."""

    def __init__(
        self,
        runtime: Runtime,
        reviewed: Reviewed,
        project: Project | None,
        *,
        dialogs: DialogSlot,
        changed: Callable[[], int],
        on_changed: Redraw,
        on_finished: Redraw,
    ) -> None:
        self.runtime = runtime
        self.reviewed = reviewed
        self.project = project
        self.dialogs = dialogs
        self.changed = changed  # files differing from the base (the commit dialog says how many)
        self.on_changed = on_changed  # re-read the state after a commit or a pull request
        self.on_finished = on_finished  # re-read everything after a merge or a discard

    @property
    def id(self) -> str:
        """The worktree shown."""
        return self.reviewed.id

    def panel(self) -> None:
        """Place the bar where the page wants it (drawn by `draw`)."""
        self.bar = tid(ui.row().classes("items-center gap-2"), "review-finish")

    def conflict_panel(self) -> None:
        """Place the (hidden) card of a merge's conflicting files where the page wants it."""
        self.conflict = tid(ui.card().classes("w-full gap-1 border-l-4 border-red-500"), "review-conflict")
        self.conflict.set_visibility(False)

    def draw(self) -> None:
        """Commit, merge, pull request and discard, each disabled with the reason when it cannot apply now."""
        strategy = self._strategy()
        self.bar.clear()
        with self.bar:
            action_button("Commit", "check", "review-commit", self.open_commit, self.why_not("commit"), primary=True)
            merge = f"Merge into {self.reviewed.worktree.base_ref} ({STRATEGY_LABEL[strategy]})"
            action_button(merge, "merge", "review-merge", self.open_merge, self.why_not("merge"), primary=True)
            action_button("Open pull request", "open_in_new", "review-pr", self.open_pull_request, self.why_not("pr"))
            discard_reason = self.why_not("discard")
            action_button("Discard", "delete", "review-discard", self.open_discard, discard_reason, danger=True)

    def why_not(self, action: str) -> str | None:
        """Why `action` (commit, merge, pr, discard) cannot be done now (None: it can)."""
        w, state, base = self.reviewed.worktree, self.reviewed.shown_state, self.reviewed.worktree.base_ref
        if state == "discarded":
            return "The worktree was discarded" if action != "discard" else "Already discarded"
        if action == "discard":
            return None
        if state == "missing":
            return "The worktree's folder is gone"
        if action == "commit":
            return None if state == "dirty" else "Nothing to commit: every change is committed"
        if self.reviewed.merged:
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

    def _refused(self, action: str) -> bool:
        """A shortcut or palette entry for an action that cannot apply: say why instead."""
        reason = self.why_not(action)
        if reason is not None:
            ui.notify(reason, type="warning")
        return reason is not None

    # ------------------------------------------------------------------------------------------------ commit
    async def open_commit(self) -> None:
        """Commit everything in the worktree, with a message prefilled from the task and the agent's last report."""
        if self._refused("commit"):
            return
        message = await run(actions.suggested_commit_message(self.id)) or self.reviewed.worktree.branch
        total = self.changed()
        with self.dialogs.open("review-commit-dialog") as (dialog, card):
            with card:
                ui.label(f"Commit on {self.reviewed.worktree.branch}").classes("text-lg font-semibold break-all")
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
                        await self.on_changed()

                with ui.row().classes("w-full justify-end"):
                    ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                    tid(
                        ui.button("Commit", icon="check", on_click=commit).props("unelevated no-caps"),
                        "review-commit-confirm",
                    )

    # ------------------------------------------------------------------------------------------------ merge
    async def open_merge(self) -> None:
        """Merge the branch into its base, after a confirmation that names the strategy."""
        if self._refused("merge"):
            return
        w = self.reviewed.worktree
        with self.dialogs.open("review-merge-dialog") as (dialog, card):
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
                        await self.on_finished()

                with ui.row().classes("w-full justify-end"):
                    ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                    tid(
                        ui.button("Merge", icon="merge", on_click=merge).props("unelevated no-caps"),
                        "review-merge-confirm",
                    )

    async def _merge(self, strategy: str) -> MergeResult:
        try:
            return await actions.merge(self.runtime.writer, self.id, UI_ACTOR, strategy=strategy)
        except Conflict as exc:  # ui/actions.run keeps only the message: the files are listed here
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
        base = self.reviewed.worktree.base_ref
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

    # ------------------------------------------------------------------------------------------------ pull request
    async def open_pull_request(self) -> None:
        """Push the branch and open a pull request with gh (a refusal says why: no gh, no remote)."""
        if self._refused("pr"):
            return
        suggested = await run(actions.suggested_commit_message(self.id)) or self.reviewed.worktree.branch
        with self.dialogs.open("review-pr-dialog") as (dialog, card):
            with card:
                ui.label(f"Open a pull request into {self.reviewed.worktree.base_ref}").classes("text-lg font-semibold")
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
                        await self.on_changed()

                with ui.row().classes("w-full justify-end"):
                    ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                    confirm = ui.button("Open pull request", icon="open_in_new", on_click=open_pr)
                    tid(confirm.props("unelevated no-caps"), "review-pr-confirm")

    # ------------------------------------------------------------------------------------------------ discard
    async def open_discard(self) -> None:
        """Remove the worktree's checkout; a warning (and "discard anyway") when it holds work not merged."""
        if self._refused("discard"):
            return
        await self.on_changed()  # warn about what is there now, not what was there when the page opened
        w, state = self.reviewed.worktree, self.reviewed.state
        risky = state in ("dirty", "unmerged")
        with self.dialogs.open("review-discard-dialog") as (dialog, card):
            with card:
                ui.label(f"Discard the worktree of {w.branch}?").classes("text-lg font-semibold break-all")
                ui.label(f"Its checkout at {w.path} is removed.").classes("text-sm break-all")
                if state == "dirty":
                    _warning("It holds uncommitted changes: discarding loses them for good.")
                elif state == "unmerged":
                    _warning(f"Its branch has commits not merged into {w.base_ref}: keep the branch to keep them.")
                branch = ui.checkbox(f"Also delete the branch {w.branch}")
                tid(branch.classes("break-all"), "review-discard-branch")
                if self.reviewed.merged:
                    ui.label("The branch is merged: deleting it loses nothing.").classes("text-sm text-grey-7")
                running = self.reviewed.live_session
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
                        await self.on_finished()

                with ui.row().classes("w-full justify-end"):
                    ui.button("Keep it", on_click=dialog.close).props("flat no-caps")
                    label = "Discard anyway" if risky else "Discard"
                    confirm = ui.button(label, icon="delete", on_click=discard).props(
                        "unelevated no-caps color=negative"
                    )
                    tid(confirm, "review-discard-confirm").set_enabled(running is None)


class DialogSlot:
    """Where the review screen's dialogs open, one at a time: a closed one is dropped before the next opens."""

    def place(self) -> None:
        """Put the slot in the page (anywhere: dialogs float)."""
        self.holder = ui.element("div")

    @contextlib.contextmanager
    def open(self, test_id: str) -> Iterator[tuple[ui.dialog, ui.card]]:
        """A fresh dialog (the previous one dropped) that opens once its contents are drawn."""
        self.holder.clear()
        with self.holder, ui.dialog() as dialog, ui.card().classes("w-full max-w-2xl gap-3") as card:
            tid(dialog, test_id)
        yield dialog, card
        dialog.open()


def action_button(
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
