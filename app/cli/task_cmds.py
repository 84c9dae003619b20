"""`maestro task …`: create, change, move and delete tasks and their dependencies (reading them: task_views)."""

from __future__ import annotations

import datetime as dt
from typing import IO, Any

import click

from app.cli.client import ApiClient
from app.cli.common import (
    PROJECT,
    TASK_ID,
    TASK_STYLE,
    api_client,
    body_of,
    chosen_project,
    console,
    echo_json,
    join_words,
    json_option,
    new_table,
    print_table,
    styled,
    text,
    when,
)
from app.cli.task_views import list_cmd, show
from app.models.common import PRIORITIES, TASK_STATUSES
from app.models.tasks import DependencyCreate, TaskCreate, TaskMove, TaskUpdate

TASK_ARG = click.argument("task_id", type=TASK_ID, metavar="TASK_ID")


class DueDate(click.ParamType):
    """A date as YYYY-MM-DD, or `none` to clear it."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The date in ISO form, or `none`."""
        if str(value).lower() == "none":
            return "none"
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            self.fail(f"'{value}' is not a date like 2030-01-31 (or `none`)", param, ctx)


def _description(description: str | None, description_file: IO[str] | None) -> str | None:
    if description is not None and description_file is not None:
        raise click.UsageError("give --description or --description-file, not both")
    return description_file.read() if description_file is not None else description


DESCRIPTION_FILE = click.option(
    "--description-file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    metavar="PATH|-",
    help="Read the description from a file, or stdin with `-`.",
)


@click.group("task")
def task() -> None:
    """Tasks: list (or a tree), create, show, update, move, delete, dependencies and timelines.

    Inside a session the project is the session's.
    """


task.add_command(list_cmd)
task.add_command(show)


@task.command("create")
@click.argument("title", nargs=-1, required=True)
@click.option("--parent", "parent_id", type=TASK_ID, default=None, help="Create it as a subtask of this task.")
@click.option(
    "--project",
    type=PROJECT,
    default=None,
    help="The project (id or name) [default: $MAESTRO_PROJECT_ID, else the parent's].",
)
@click.option("--description", default=None, help="Markdown description.")
@DESCRIPTION_FILE
@click.option("--priority", type=click.Choice(PRIORITIES), default=None, help="[default: medium]")
@click.option("--status", type=click.Choice(TASK_STATUSES), default=None, help="[default: todo]")
@click.option("--skill", "skills", multiple=True, metavar="NAME", help="A skill for its sessions. Repeatable.")
@click.option("--due", type=DueDate(), default=None, help="Due date, YYYY-MM-DD.")
@json_option("Print the created task as JSON.")
def create(
    title: tuple[str, ...],
    parent_id: str | None,
    project: str | None,
    description: str | None,
    description_file: IO[str] | None,
    priority: str | None,
    status: str | None,
    skills: tuple[str, ...],
    due: str | None,
    as_json: bool,
) -> None:
    """Create a task titled TITLE and print its id (so that `id=$(maestro task create …)` works)."""
    values: dict[str, Any] = {"title": join_words(title, "title"), "skills": list(skills)}
    given = {
        "parent_id": parent_id,
        "description": _description(description, description_file),
        "priority": priority,
        "status": status,
        "due_date": None if due == "none" else due,
    }
    values.update({key: value for key, value in given.items() if value is not None})
    with api_client() as client:
        values["project_id"] = chosen_project(client, project) or _parents(client, parent_id)
        created = client.post("/tasks", body_of(TaskCreate, values))
    if as_json:
        echo_json(created)
    else:
        click.echo(created["id"])


def _parents(client: ApiClient, parent_id: str | None) -> str:
    if parent_id is None:
        raise click.UsageError("no project: pass --project or --parent tsk_… (inside a session it is implied)")
    return client.get(f"/tasks/{parent_id}")["project_id"]


@task.command("update")
@TASK_ARG
@click.option("--title", default=None, help="A new title.")
@click.option("--description", default=None, help="A new description (Markdown; '' clears it).")
@DESCRIPTION_FILE
@click.option("--status", type=click.Choice(TASK_STATUSES), default=None, help="A new status.")
@click.option("--priority", type=click.Choice(PRIORITIES), default=None, help="A new priority.")
@click.option("--skill", "skills", multiple=True, metavar="NAME", help="Replace the skills with these. Repeatable.")
@click.option("--no-skills", is_flag=True, help="Remove every skill.")
@click.option("--due", type=DueDate(), default=None, help="A new due date (YYYY-MM-DD), or `none` to clear it.")
@click.option("--prompt", "initial_prompt", default=None, help="A new initial prompt for its agents.")
@click.option("--archive/--unarchive", "archived", default=None, help="Archive it (hidden in lists), or bring it back.")
@json_option("Print the updated task as JSON.")
def update(
    task_id: str,
    title: str | None,
    description: str | None,
    description_file: IO[str] | None,
    status: str | None,
    priority: str | None,
    skills: tuple[str, ...],
    no_skills: bool,
    due: str | None,
    initial_prompt: str | None,
    archived: bool | None,
    as_json: bool,
) -> None:
    """Change a task: only the options given change (its place in the tree: `task move`)."""
    if skills and no_skills:
        raise click.UsageError("give --skill or --no-skills, not both")
    given = {
        "title": title,
        "description": _description(description, description_file),
        "status": status,
        "priority": priority,
        "skills": list(skills) if skills else ([] if no_skills else None),
        "initial_prompt": initial_prompt,
        "archived": archived,
    }
    values: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    if due is not None:
        values["due_date"] = None if due == "none" else due  # null clears it
    if not values:
        raise click.UsageError("nothing to change: give at least one option (see -h)")
    body = body_of(TaskUpdate, values)
    with api_client() as client:
        updated = client.patch(f"/tasks/{task_id}", body)
    if as_json:
        echo_json(updated)
        return
    changes = ", ".join(f"{key} {_shown(updated.get(key))}" for key in body if key not in ("description", "archived"))
    if "archived" in body:
        changes = ", ".join(filter(None, [changes, "archived" if updated["archived_at"] else "unarchived"]))
    console.print(f"updated [bold]{text(updated['title'])}[/] {task_id}{': ' + text(changes) if changes else ''}")


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "(none)"
    return "(none)" if value in (None, "") else str(value)


@task.command("move")
@TASK_ARG
@click.option("--parent", "parent", default=None, metavar="TASK_ID|root", help="The new parent, or `root` for the top.")
@click.option("--position", type=click.IntRange(0, 1_000_000), default=None, help="0 = first [default: last].")
@json_option("Print the moved task as JSON.")
def move(task_id: str, parent: str | None, position: int | None, as_json: bool) -> None:
    """Move a task (with its subtree) under another parent, or to another place among its siblings."""
    if parent is None and position is None:
        raise click.UsageError("nowhere to go: give --parent TASK_ID|root and/or --position N")
    values: dict[str, Any] = {"position": position}
    if parent is not None:
        values["parent_id"] = None if parent == "root" else TASK_ID.convert(parent, None, None)
    with api_client() as client:
        moved = client.post(f"/tasks/{task_id}/move", body_of(TaskMove, values))
        under = client.get(f"/tasks/{moved['parent_id']}")["title"] if moved["parent_id"] and not as_json else None
    if as_json:
        echo_json(moved)
        return
    where = f"under [bold]{text(under)}[/]" if under else "to the top level"
    console.print(f"moved [bold]{text(moved['title'])}[/] {task_id} {where}, position {moved['position']}")


@task.command("delete")
@TASK_ARG
@json_option('Print {"deleted": [ids]} (the task and every subtask) as JSON.')
def delete(task_id: str, as_json: bool) -> None:
    """Delete a task with its whole subtree, their session links and dependencies."""
    with api_client() as client:
        tree = client.get(f"/tasks/{task_id}/tree", include_archived="true")
        client.delete(f"/tasks/{task_id}")
    deleted = _ids(tree)
    if as_json:
        echo_json({"deleted": deleted})
        return
    more = f" and {len(deleted) - 1} subtask(s)" if len(deleted) > 1 else ""
    console.print(f"deleted [bold]{text(tree['task']['title'])}[/] {task_id}{more}")


def _ids(node: dict[str, Any]) -> list[str]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        found.append(current["task"]["id"])
        stack.extend(reversed(current["children"]))
    return found


@task.group("dep")
def dep() -> None:
    """Dependencies: TASK_ID depends on (waits for) DEPENDS_ON."""


@dep.command("add")
@TASK_ARG
@click.argument("depends_on", type=TASK_ID, metavar="DEPENDS_ON")
@json_option("Print the updated task as JSON.")
def dep_add(task_id: str, depends_on: str, as_json: bool) -> None:
    """Make TASK_ID depend on DEPENDS_ON (same project; a cycle is refused)."""
    with api_client() as client:
        updated = client.post(f"/tasks/{task_id}/dependencies", body_of(DependencyCreate, {"depends_on": depends_on}))
        if as_json:
            echo_json(updated)
            return
        other = client.get(f"/tasks/{depends_on}")
    console.print(
        f"[bold]{text(updated['title'])}[/] now depends on [bold]{text(other['title'])}[/] "
        f"({styled(other['status'], TASK_STYLE)})"
    )


@dep.command("rm")
@TASK_ARG
@click.argument("depends_on", type=TASK_ID, metavar="DEPENDS_ON")
@json_option("Print the task as it is now, as JSON.")
def dep_rm(task_id: str, depends_on: str, as_json: bool) -> None:
    """Remove the dependency of TASK_ID on DEPENDS_ON."""
    with api_client() as client:
        client.delete(f"/tasks/{task_id}/dependencies/{depends_on}")
        updated = client.get(f"/tasks/{task_id}")
        if as_json:
            echo_json(updated)
            return
        other = client.get(f"/tasks/{depends_on}")
    console.print(f"[bold]{text(updated['title'])}[/] no longer depends on [bold]{text(other['title'])}[/]")


@task.command("timeline")
@TASK_ARG
@click.option("--after", type=click.IntRange(0), default=0, help="Only entries after this entry id.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True, help="At most this many.")
@json_option("Print the entries as a JSON array.")
def timeline(task_id: str, after: int, limit: int, as_json: bool) -> None:
    """The task's timeline, oldest first: what its agents reported, and notes."""
    with api_client() as client:
        entries = client.get(f"/tasks/{task_id}/timeline", after=after, limit=limit)
        if as_json:
            echo_json(entries)
            return
        title = client.get(f"/tasks/{task_id}")["title"]
    console.print(f"[bold]{text(title)}[/]  {task_id}")
    if not entries:
        console.print("[dim]nothing on its timeline yet[/]")
        return
    table = new_table("#", "when", "kind", "message", "session")
    for entry in entries:
        session = entry["session_id"] or ""
        table.add_row(str(entry["id"]), when(entry["created_at"]), entry["kind"], text(entry["message"]), session)
    print_table(table)
