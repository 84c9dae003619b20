"""What a session's end means for its tasks: completion is explicit, so a link still open when its session ends
was left "ended without report", and a planned run's attempt ends there (its failure policy decides what next)."""

from __future__ import annotations

from typing import Any

from app.db.writer import Tx
from app.models.sessions import Session
from app.services.sessions.records import change_link_status_in
from app.services.tasks.commands import apply_task_changes
from app.services.tasks.queries import get_row
from app.services.tasks.runs import end_attempt_in, run_columns

OPEN_LINKS = ("working", "blocked")


def _after_claim(row: dict[str, Any], session: Session) -> bool:
    return row["run_since"] is None or session.created_at >= row["run_since"]


LIVE_RUNS = ("starting", "running")


async def session_ended_in(tx: Tx, session: Session) -> None:
    """Inside the write that ends `session`: mark its open task links ended without report and end their runs."""
    for link in session.tasks:
        if link.status not in (*OPEN_LINKS, "failed"):
            continue
        row = await get_row(link.task_id)
        # The run's own session: recorded, or (still starting) one the scheduler started after claiming it.
        ours = row["run_state"] in LIVE_RUNS and (
            row["run_session"] == session.id
            or (row["run_session"] is None and session.spawn_source == "maestro" and _after_claim(row, session))
        )
        if link.status == "failed":  # the agent reported an error on this task: its run failed, said so
            if ours:
                why = f"session {session.id} reported an error and ended"
                await end_attempt_in(tx, row, "failed", why, session.id)
            continue
        await change_link_status_in(tx, session.project_id, link, "ended_without_report")
        why = f"session {session.id} ended ({session.status}) without reporting it complete"
        if ours and session.status == "lost" and session.started_at is None:
            # Its program never ran (the server stopped while starting it): not an attempt, it starts again.
            why = f"session {session.id} never started (the server stopped first); it starts again"
            extra = run_columns(tx, "waiting", why, run_attempt=max((row["run_attempt"] or 1) - 1, 0))
            await apply_task_changes(tx, row["id"], {}, extra=extra)
        elif ours:
            await end_attempt_in(tx, row, "ended_without_report", why, session.id)
        elif row["run_state"] not in ("checking", "waiting", "queued") and row["status"] not in (
            "completed",
            "cancelled",
        ):
            await apply_task_changes(tx, row["id"], {}, extra=run_columns(tx, "ended_without_report", why))
