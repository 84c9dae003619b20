"""The review screen's line comments: noted in a small dialog, listed until sent, then typed into the running
agent's terminal as its next instruction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from nicegui import ui

from app.models.worktrees import ReviewComment
from app.services.runtime import Runtime
from app.services.sessions.review import send_review
from ui.actions import run
from ui.components.review_actions import DialogSlot, action_button
from ui.components.review_state import Reviewed
from ui.context import UI_ACTOR, tid

NO_SESSION = "start a session in this worktree to send comments"


class CommentsPanel:
    """The comments this tab noted and has not sent yet, and the button that sends them to the running agent."""

    def __init__(
        self, runtime: Runtime, reviewed: Reviewed, *, dialogs: DialogSlot, on_sent: Callable[[], Awaitable[None]]
    ) -> None:
        self.runtime = runtime
        self.reviewed = reviewed
        self.dialogs = dialogs
        self.on_sent = on_sent  # re-read the state once the agent has them
        self.pending: list[Pending] = []

    def panel(self) -> None:
        """Place the card where the page wants it (drawn by `draw`)."""
        self.card = tid(ui.card().classes("w-full gap-2 p-3"), "review-comments")

    def open_comment(self, path: str, line: int | None, old_line: int | None) -> None:
        """A small dialog to note something on a line (or the whole file); it joins the pending list."""
        where = Pending(path, "", line, old_line).where
        with self.dialogs.open("review-comment-dialog") as (dialog, card):
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
                    self.draw()

                text.on("keydown.ctrl.enter", add)
                text.on("keydown.meta.enter", add)
                with ui.row().classes("w-full items-center justify-end"):
                    ui.label("Ctrl+Enter adds it").classes("text-xs text-grey-7 grow")
                    ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                    tid(ui.button("Add comment", on_click=add).props("unelevated no-caps"), "review-comment-add")

    def draw(self) -> None:
        """The pending comments and the button that sends them to the running agent."""
        self.card.clear()
        session = self.reviewed.live_session
        with self.card:
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
                    remove = ui.button(icon="close", on_click=lambda i=index: self._drop(i))
                    tid(remove.props("flat round dense size=sm").tooltip("Remove"), "review-pending-remove")
            reason = NO_SESSION if session is None else None if self.pending else "Add a comment first"
            label = f"Send to agent ({len(self.pending)})"
            action_button(label, "send", "review-send", self.send, reason, primary=True, wide=True)
            if session is not None:
                ui.label(f"Typed into {session.name}'s terminal as its next instruction.").classes(
                    "text-xs text-grey-7"
                )
            else:
                ui.label(f"No session runs here: {NO_SESSION}.").classes("text-xs text-grey-7")

    def _drop(self, index: int) -> None:
        if 0 <= index < len(self.pending):
            del self.pending[index]
        self.draw()

    async def send(self) -> None:
        """Hand every pending comment to the newest running session as one instruction."""
        session = self.reviewed.live_session
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
            await self.on_sent()


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
