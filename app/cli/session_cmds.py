"""`maestro session spawn|list|show|stop`: start agent sessions and watch them (spawning needs an orchestrator)."""

from __future__ import annotations

from typing import Any, get_args

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.cli.report_cmd import api_client, echo_json
from app.cli.task_cmds import print_table, project_or_env
from app.models.common import ROLES, SessionStatus

console = Console(highlight=False)

STATUS_STYLE = {"running": "green", "idle": "yellow", "needs_input": "bold yellow", "failed": "red", "lost": "red"}


def _status(value: str) -> str:
    style = STATUS_STYLE.get(value)
    return f"[{style}]{value}[/]" if style else value


@click.group("session")
def session() -> None:
    """Spawn, list, show and stop sessions (inside a session the project is the session's)."""


@session.command("spawn")
@click.option("--task", "task_ids", multiple=True, metavar="TASK_ID", help="A task for the session. Repeatable.")
@click.option("--profile", default="claude", show_default=True, help="The agent profile to run (see the profiles).")
@click.option("--role", type=click.Choice(ROLES), default="worker", show_default=True)
@click.option("--name", default=None, help="Display name [default: the profile's name].")
@click.option("--skill", "skills", multiple=True, metavar="NAME", help="A skill for the session. Repeatable.")
@click.option(
    "--project", "project_id", default=None, metavar="PROJECT_ID", help="The project [default: $MAESTRO_PROJECT_ID]."
)
@click.option("--json", "as_json", is_flag=True, help="Print the new session as JSON.")
def spawn(
    task_ids: tuple[str, ...],
    profile: str,
    role: str,
    name: str | None,
    skills: tuple[str, ...],
    project_id: str | None,
    as_json: bool,
) -> None:
    """Start a session running PROFILE in the project's working directory, with its tasks and skills."""
    project_id = project_or_env(project_id)
    if not project_id:
        raise click.UsageError("no project: pass --project prj_… (inside a session it is implied)")
    body: dict[str, Any] = {
        "project_id": project_id,
        "task_ids": list(task_ids),
        "profile": profile,
        "role": role,
        "skills": list(skills),
    }
    if name is not None:
        body["name"] = name
    with api_client() as client:
        created = client.post("/sessions", body)
    if as_json:
        echo_json(created)
    else:
        click.echo(f"{created['id']} {created['status']}")


@session.command("list")
@click.option(
    "--project",
    "project_id",
    default=None,
    metavar="PROJECT_ID",
    help="Only this project's sessions [default: $MAESTRO_PROJECT_ID; without it, every project's].",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(get_args(SessionStatus)),
    help="Only sessions in this status. Repeatable.",
)
@click.option("--task", "task_id", default=None, metavar="TASK_ID", help="Only sessions linked to this task.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as a JSON list.")
def list_cmd(project_id: str | None, statuses: tuple[str, ...], task_id: str | None, limit: int, as_json: bool) -> None:
    """List sessions, newest first: id, status, profile, role, name and tasks."""
    params: dict[str, Any] = {"project_id": project_or_env(project_id), "task_id": task_id}
    params = {key: value for key, value in params.items() if value is not None}
    if statuses:
        params["status"] = list(statuses)
    with api_client() as client:
        items = client.get("/sessions", limit=limit, **params)
    if as_json:
        echo_json(items)
        return
    if not items:
        console.print("[dim]no sessions[/]")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("id", "status", "profile", "role"):
        table.add_column(column, no_wrap=True)
    table.add_column("name", overflow="fold")
    # One id per line: a wrapped id could not be copied or grepped.
    table.add_column("tasks", no_wrap=True)
    for item in items:
        tasks = "\n".join(link["task_id"] for link in item["tasks"])
        table.add_row(item["id"], _status(item["status"]), item["profile"], item["role"], escape(item["name"]), tasks)
    print_table(table)


@session.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print the session as JSON.")
def show(session_id: str, as_json: bool) -> None:
    """Show one session: status, profile, role, its tasks with their link status."""
    with api_client() as client:
        item = client.get(f"/sessions/{session_id}")
    if as_json:
        echo_json(item)
        return
    console.print(f"[bold]{escape(item['name'])}[/]  {item['id']}  {_status(item['status'])}")
    rows = [
        ("project", item["project_id"]),
        ("profile", item["profile"]),
        ("role", item["role"]),
        ("parent", item["parent_session_id"]),
        ("directory", item["cwd"]),
        ("started", item["started_at"]),
        ("ended", item["ended_at"]),
        ("exit code", item["exit_code"]),
    ]
    for label, value in rows:
        if value is not None:
            console.print(f"[dim]{label:<10}[/]{escape(str(value))}")
    for link in item["tasks"]:
        console.print(f"[dim]task[/]      {link['task_id']} ({link['status']})")


@session.command("stop")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print the stopped session as JSON.")
def stop(session_id: str, as_json: bool) -> None:
    """Stop a running session (its program gets HUP, TERM, then KILL)."""
    with api_client() as client:
        stopped = client.post(f"/sessions/{session_id}/stop")
    if as_json:
        echo_json(stopped)
    else:
        click.echo(f"{stopped['id']} {stopped['status']}")
