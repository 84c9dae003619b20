"""`maestro report`: an agent tells Maestro how its session is going (progress, blocked, needs input, done, error)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import click

from app.cli.client import ApiClient, ApiError, NoServer, locate
from app.models.common import REPORT_KINDS
from app.settings import default_home

# The command line spells the kind with a dash (a shell word); the API with an underscore.
KINDS = {kind.replace("_", "-"): kind for kind in REPORT_KINDS}


def env_value(name: str) -> str | None:
    """A MAESTRO_* variable set by the server for agent sessions, or None when unset or empty."""
    return os.environ.get(name) or None


def describe(exc: ApiError) -> str:
    """The server's detail, with the validation messages when it sent some, for a one-glance error."""
    text = exc.detail
    if isinstance(exc.extra, list):
        notes = [f"{e.get('key') or e.get('source')}: {e['message']}" for e in exc.extra if isinstance(e, dict)]
        if notes:
            text += " (" + "; ".join(notes) + ")"
    if exc.status_code == 401 and env_value("MAESTRO_SESSION_ID") and env_value("MAESTRO_TOKEN"):
        # A session token dies with its session: say so rather than leave the agent guessing about credentials.
        text += " (the session token works only while this session runs on the server that started it)"
    return f"{text} [HTTP {exc.status_code}]"


@contextlib.contextmanager
def api_client() -> Iterator[ApiClient]:
    """A client for the server this command talks to; an error answer or no server becomes a click error (exit 1)."""
    try:
        with ApiClient(locate(default_home(os.environ))) as client:
            yield client
    except NoServer as exc:
        raise click.ClickException(str(exc)) from exc
    except ApiError as exc:
        raise click.ClickException(describe(exc)) from exc


def echo_json(value: Any) -> None:
    """Print a server answer as indented JSON."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def join_words(words: tuple[str, ...], what: str) -> str:
    """The words of an argument joined by spaces, so a forgotten pair of quotes still works; `-` reads stdin."""
    text = " ".join(words)
    if text == "-":
        text = sys.stdin.read().strip()
    if not text.strip():
        raise click.UsageError(f"the {what} must not be empty")
    return text


def _kind(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # The manifest lists the API's spellings (`needs_input`); an agent copying one should not fail.
    spelled = value.strip().lower().replace("_", "-")
    if spelled not in KINDS:
        raise click.BadParameter(f"{value!r} is not one of {', '.join(KINDS)}", ctx=ctx, param=param)
    return KINDS[spelled]


@click.command("report")
@click.argument("kind", metavar="progress|blocked|needs-input|complete|error", callback=_kind)
@click.argument("message", nargs=-1, required=True)
@click.option("--task", "task_id", default=None, metavar="TASK_ID", help="The task (tsk_…) this report is about.")
@click.option(
    "--session",
    "session_id",
    default=None,
    metavar="SESSION_ID",
    help="The session to report on [default: $MAESTRO_SESSION_ID].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the server's answer as JSON.")
def report(kind: str, message: tuple[str, ...], task_id: str | None, session_id: str | None, as_json: bool) -> None:
    """Report on a session: progress, blocked, needs-input, complete or error. MESSAGE `-` reads stdin.

    Inside a Maestro session the session and token come from the environment; from your own terminal pass
    --session ses_… (your user token is used).
    """
    session_id = session_id or env_value("MAESTRO_SESSION_ID")
    if not session_id:
        raise click.ClickException(
            "no session to report on: `maestro report` runs inside a Maestro session (MAESTRO_SESSION_ID is set "
            "there), or pass --session ses_…"
        )
    body = {"kind": kind, "message": join_words(message, "message")}
    if task_id:
        body["task_id"] = task_id
    with api_client() as client:
        answer = client.post(f"/sessions/{session_id}/reports", body)
    if as_json:
        echo_json(answer)
        return
    about = f" task {task_id}" if task_id else ""
    click.echo(f"reported {kind} on {session_id}{about} (session {answer['session']['status']})")
