"""`maestro task create|list|show`: tasks of a project, for agents (session token) and users alike."""

from __future__ import annotations

from typing import IO, Any, get_args

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.cli.client import ApiClient
from app.cli.report_cmd import api_client, echo_json, env_value, join_words
from app.models.common import Priority, TaskStatus

console = Console(highlight=False)

# Ids must never be cut or wrapped (agents copy them), so a narrow terminal gets longer lines rather than
# a squeezed table; 120 fits every column next to a 40-character title.
TABLE_WIDTH = 120

STATUS_STYLE = {"in_progress": "cyan", "in_review": "magenta", "blocked": "red", "completed": "green"}


def print_table(table: Table) -> None:
    """Print a table at least TABLE_WIDTH wide, so its ids stay whole on a narrow terminal or pipe."""
    Console(highlight=False, width=max(console.width, TABLE_WIDTH)).print(table)


def project_or_env(project_id: str | None) -> str | None:
    """--project, else the session's project from MAESTRO_PROJECT_ID."""
    return project_id or env_value("MAESTRO_PROJECT_ID")


@click.group("task")
def task() -> None:
    """Create, list and show tasks (inside a session the project is the session's)."""


@task.command("create")
@click.argument("title", nargs=-1, required=True)
@click.option("--parent", "parent_id", default=None, metavar="TASK_ID", help="Create it as a subtask of this task.")
@click.option(
    "--project",
    "project_id",
    default=None,
    metavar="PROJECT_ID",
    help="The project (prj_…) [default: $MAESTRO_PROJECT_ID, else the parent's].",
)
@click.option("--description", default=None, help="Markdown description.")
@click.option(
    "--description-file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    metavar="PATH|-",
    help="Read the description from a file, or stdin with `-`.",
)
@click.option("--priority", type=click.Choice(get_args(Priority)), default=None, help="[default: medium]")
@click.option("--json", "as_json", is_flag=True, help="Print the created task as JSON.")
def create(
    title: tuple[str, ...],
    parent_id: str | None,
    project_id: str | None,
    description: str | None,
    description_file: IO[str] | None,
    priority: str | None,
    as_json: bool,
) -> None:
    """Create a task titled TITLE and print its id."""
    if description is not None and description_file is not None:
        raise click.UsageError("give --description or --description-file, not both")
    if description_file is not None:
        description = description_file.read()
    body: dict[str, Any] = {"title": join_words(title, "title")}
    for key, value in (("parent_id", parent_id), ("description", description), ("priority", priority)):
        if value is not None:
            body[key] = value
    with api_client() as client:
        body["project_id"] = project_or_env(project_id) or _project_of_parent(client, parent_id)
        created = client.post("/tasks", body)
    if as_json:
        echo_json(created)
    else:
        click.echo(created["id"])


def _project_of_parent(client: ApiClient, parent_id: str | None) -> str:
    if parent_id is None:
        raise click.UsageError("no project: pass --project prj_… or --parent tsk_… (inside a session it is implied)")
    return client.get(f"/tasks/{parent_id}")["project_id"]


@task.command("list")
@click.option(
    "--project",
    "project_id",
    default=None,
    metavar="PROJECT_ID",
    help="Only this project's tasks [default: $MAESTRO_PROJECT_ID; without it, every project's].",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(get_args(TaskStatus)),
    help="Only tasks in this status. Repeatable.",
)
@click.option("--parent", "parent_id", default=None, metavar="TASK_ID|root", help="Only children of this task.")
@click.option("--search", default=None, help="Only tasks whose title or description contains this text.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as a JSON list.")
def list_cmd(
    project_id: str | None,
    statuses: tuple[str, ...],
    parent_id: str | None,
    search: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List tasks, oldest first: id, status, priority and title."""
    params: dict[str, Any] = {"project_id": project_or_env(project_id), "parent_id": parent_id, "q": search}
    params = {key: value for key, value in params.items() if value is not None}
    if statuses:
        params["status"] = list(statuses)
    with api_client() as client:
        page = client.get("/tasks", limit=limit, **params)
    if as_json:
        echo_json(page["items"])
        return
    if not page["items"]:
        console.print("[dim]no tasks[/]")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("priority", no_wrap=True)
    table.add_column("title", overflow="fold")
    for item in page["items"]:
        style = STATUS_STYLE.get(item["status"], "")
        status = f"[{style}]{item['status']}[/]" if style else item["status"]
        table.add_row(item["id"], status, item["priority"], escape(item["title"]))
    print_table(table)
    if page["next_cursor"]:
        console.print(f"[dim]… more tasks than --limit {limit}[/]")


@task.command("show")
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
def show(task_id: str, as_json: bool) -> None:
    """Show one task: status, place in the tree, dependencies, sessions and description."""
    with api_client() as client:
        item = client.get(f"/tasks/{task_id}")
    if as_json:
        echo_json(item)
        return
    console.print(f"[bold]{escape(item['title'])}[/]  {item['id']}")
    rows = [
        ("status", item["status"]),
        ("priority", item["priority"]),
        ("project", item["project_id"]),
        ("parent", item["parent_id"]),
        ("depends on", ", ".join(item["dependencies"])),
        ("blocked by", ", ".join(item["blocked_by"])),
        ("sessions", ", ".join(item["session_ids"])),
        ("skills", ", ".join(item["skills"])),
        ("due", item["due_date"]),
    ]
    for label, value in rows:
        if value:
            console.print(f"[dim]{label:<11}[/]{escape(str(value))}")
    if item["description"].strip():
        console.print()
        console.print(escape(item["description"].rstrip()))
