"""`maestro report`: an agent tells Maestro how its session is going (progress, blocked, needs input, done, error)."""

from __future__ import annotations

import click

from app.cli.client import ApiClient, ApiError, NoServer
from app.cli.common import (
    SESSION_ID,
    TASK_ID,
    api_client,
    body_of,
    echo_json,
    env_value,
    join_words,
    json_option,
)
from app.models.common import REPORT_KINDS
from app.models.reports import ReportCreate

# The command line spells the kind with a dash (a shell word); the API with an underscore.
KINDS = {kind.replace("_", "-"): kind for kind in REPORT_KINDS}


def _kind(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # The manifest lists the API's spellings (`needs_input`); an agent copying one should not fail.
    spelled = value.strip().lower().replace("_", "-")
    if spelled not in KINDS:
        raise click.BadParameter(f"'{value}' is not one of {', '.join(KINDS)}", ctx=ctx, param=param)
    return KINDS[spelled]


@click.command("report")
@click.argument("kind", metavar="progress|blocked|needs-input|complete|error", callback=_kind)
@click.argument("message", nargs=-1, required=True)
@click.option(
    "--task",
    "task_id",
    type=TASK_ID,
    default=None,
    help="The task this report is about [default: the session's task, when it has exactly one].",
)
@click.option("--no-task", is_flag=True, help="Report on the session only, even when it has exactly one task.")
@click.option(
    "--session",
    "session_id",
    type=SESSION_ID,
    default=None,
    help="The session to report on [default: $MAESTRO_SESSION_ID].",
)
@json_option("Print the server's answer (the timeline entry, the session and its task links) as JSON.")
def report(
    kind: str, message: tuple[str, ...], task_id: str | None, no_task: bool, session_id: str | None, as_json: bool
) -> None:
    """Report on a session: progress, blocked, needs-input, complete or error. MESSAGE `-` reads stdin.

    Inside a Maestro session the session, its task and the token come from the environment; from your own
    terminal pass --session ses_… (your user token is used).
    """
    if task_id and no_task:
        raise click.UsageError("give --task or --no-task, not both")
    session_id = session_id or env_value("MAESTRO_SESSION_ID")
    if not session_id:
        raise click.UsageError(
            "no session to report on: `maestro report` runs inside a Maestro session (MAESTRO_SESSION_ID is set "
            "there), or pass --session ses_…"
        )
    text = join_words(message, "message")
    with api_client() as client:
        if task_id is None and not no_task:
            task_id = _sole_task(client, session_id)
        body = body_of(ReportCreate, {"kind": kind, "message": text, **({"task_id": task_id} if task_id else {})})
        answer = client.post(f"/sessions/{session_id}/reports", body)
        title = _title(client, task_id) if task_id and not as_json else None
    if as_json:
        echo_json(answer)
        return
    about = f" on '{title}' ({task_id})" if title else (f" on task {task_id}" if task_id else "")
    click.echo(f"reported {kind}{about} in session {session_id} (session {answer['session']['status']})")


def _sole_task(client: ApiClient, session_id: str) -> str | None:
    """The session's task when it has exactly one (from the server; inside the session, the environment when the
    server cannot be reached, so that a report can still be queued)."""
    try:
        task_ids = [link["task_id"] for link in client.get(f"/sessions/{session_id}")["tasks"]]
    except NoServer:
        if session_id != env_value("MAESTRO_SESSION_ID"):
            raise
        task_ids = [t for t in (env_value("MAESTRO_TASK_IDS") or "").split(",") if t]
    return task_ids[0] if len(task_ids) == 1 else None


def _title(client: ApiClient, task_id: str) -> str | None:
    try:
        return client.get(f"/tasks/{task_id}")["title"]
    except ApiError:
        return None
