"""Review comments sent to an agent: the person's notes on lines of its diff become the agent's next instruction.

The notes are written to a file in the session's folder (the agent reads it whole, however long) and one line
pointing at it is typed into the agent's terminal, as a person would type it; the timeline keeps a copy. A
multi-line text typed into a terminal would reach most agents as several separate submissions.
"""

from __future__ import annotations

import datetime as dt

from app.db.writer import Writer
from app.errors import Conflict
from app.home import write_private
from app.models.common import ENDED_STATUSES
from app.models.worktrees import ReviewComment
from app.services.sessions import records as sessions
from app.services.sessions.runner import SessionRunner
from app.services.timeline import add_entry

PREVIEW = 160  # characters of the first comment shown in the typed line


def review_text(review: ReviewComment) -> str:
    """The review as Markdown: the summary, then each comment under its file and line."""
    lines = ["# Review comments", ""]
    if review.summary.strip():
        lines += [review.summary.strip(), ""]
    for comment in review.comments:
        where = f"{comment.path}:{comment.line}" if comment.line is not None else comment.path
        lines += [f"## {where}", "", comment.text.strip(), ""]
    lines.append("Address each comment, commit, then report progress (or complete) with `maestro report`.")
    return "\n".join(lines) + "\n"


async def send_review(writer: Writer, runner: SessionRunner, session_id: str, review: ReviewComment, actor: str) -> str:
    """Deliver the review to a running session: a file in its folder, one line typed in its terminal, and a
    timeline note. Returns the file's path. Conflict when the session has ended (start a new one instead)."""
    session = await sessions.get_session(session_id)
    if session.status in ENDED_STATUSES:
        raise Conflict(
            f"session {session_id} has ended ({session.status}); start a new session in the same worktree "
            "to hand it these comments",
            {"status": session.status},
        )
    runner.get(session_id)  # NotFound when it does not run here
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    path = runner.folder(session_id) / f"review-{stamp}.md"
    text = review_text(review)
    write_private(path, text)
    count = len(review.comments)
    first = " ".join(review.comments[0].text.split())
    preview = first if len(first) <= PREVIEW else first[: PREVIEW - 1] + "…"
    line = f"Review: {count} comment{'s' if count != 1 else ''} on your changes in {path} (first: {preview})"
    runner.type_line(session_id, line)
    await add_entry(
        writer,
        kind="note",
        message=text.strip(),
        task_id=session.tasks[0].task_id if session.tasks else None,
        session_id=session_id,
        on="session",
        actor=actor,
    )
    return str(path)
