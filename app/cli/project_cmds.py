"""`maestro project list|create|show|update|delete`: the projects (a working directory and its tasks and sessions)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click
import msgspec

from app.cli.client import ApiError
from app.cli.common import (
    PROJECT,
    TASK_STYLE,
    all_tasks,
    api_client,
    body_of,
    console,
    echo_json,
    join_words,
    json_option,
    new_table,
    print_table,
    resolve_project,
    styled,
    text,
    when,
)
from app.cli.errors import Refused
from app.models.projects import ProjectCreate, ProjectUpdate
from app.models.worktrees import ISOLATIONS, MERGE_STRATEGIES

PROJECT_ARG = click.argument("project", type=PROJECT, metavar="PROJECT")
DIRECTORY = click.Path(file_okay=False, path_type=Path)


@click.group("project")
def project() -> None:
    """List, create, show, update and delete projects. PROJECT is an id (prj_…) or a project's name."""


@project.command("list")
@json_option("Print the projects as a JSON array.")
def list_cmd(as_json: bool) -> None:
    """List the projects by name, with their working directories."""
    with api_client() as client:
        items = client.get("/projects")
    if as_json:
        echo_json(items)
        return
    if not items:
        console.print("[dim]no projects yet: `maestro project create NAME --dir PATH`[/]")
        return
    table = new_table("name", "id", "directory")
    for item in items:
        table.add_row(text(item["name"]), item["id"], text(item["working_dir"]))
    print_table(table)


@project.command("create")
@click.argument("name", nargs=-1, required=True)
@click.option("--dir", "working_dir", type=DIRECTORY, default=".", show_default=True, help="Its working directory.")
@click.option("--description", default=None, help="Markdown description.")
@json_option("Print the new project as JSON.")
def create(name: tuple[str, ...], working_dir: Path, description: str | None, as_json: bool) -> None:
    """Create a project called NAME whose agents work in --dir (default: here)."""
    values: dict[str, Any] = {"name": join_words(name, "name"), "working_dir": str(working_dir.expanduser().resolve())}
    if description is not None:
        values["description"] = description
    body = body_of(ProjectCreate, values)
    with api_client() as client:
        created = client.post("/projects", body)
    if as_json:
        echo_json(created)
    else:
        console.print(f"created project [bold]{text(created['name'])}[/] {created['id']} in {created['working_dir']}")


@project.command("show")
@PROJECT_ARG
@json_option("Print the project as JSON.")
def show(project: str, as_json: bool) -> None:
    """Show a project: directory, description, how many tasks and sessions it has by status, its agent limit."""
    with api_client() as client:
        project_id = resolve_project(client, project)
        item = client.get(f"/projects/{project_id}")
        if as_json:
            echo_json(item)
            return
        tasks = all_tasks(client, project_id=project_id, include_archived="true")
        sessions = client.get("/sessions", project_id=project_id, limit=500)
    console.print(f"[bold]{text(item['name'])}[/]  {item['id']}")
    console.print(f"[dim]directory  [/]{text(item['working_dir'])}")
    console.print(f"[dim]created    [/]{when(item['created_at'])}")
    by_status = Counter(task["status"] for task in tasks)
    summary = ", ".join(f"{count} {styled(status, TASK_STYLE)}" for status, count in sorted(by_status.items()))
    console.print(f"[dim]tasks      [/]{len(tasks)}{f' ({summary})' if summary else ''}")
    live = sum(1 for s in sessions if s["status"] in ("spawning", "running", "idle", "needs_input", "stalled"))
    console.print(f"[dim]sessions   [/]{len(sessions)} ({live} live)")
    console.print(f"[dim]agents     [/]at most {item['max_agents']} planned run(s) at once")
    if item["description"].strip():
        console.print()
        console.print(text(item["description"].rstrip()))


@project.command("update")
@PROJECT_ARG
@click.option("--name", default=None, help="A new name.")
@click.option("--dir", "working_dir", type=DIRECTORY, default=None, help="A new working directory.")
@click.option("--description", default=None, help="A new description (Markdown; '' clears it).")
@click.option("--isolation", type=click.Choice(ISOLATIONS), default=None, help="Where agents work by default.")
@click.option("--base", "base_ref", default=None, metavar="REF", help="The branch worktrees start from ('' = current).")
@click.option(
    "--setup", "setup_command", default=None, metavar="CMD", help="Run in a fresh worktree first ('' = none)."
)
@click.option(
    "--copy", "copy_files", multiple=True, metavar="FILE", help="An untracked file copied into new worktrees."
)
@click.option("--merge-strategy", type=click.Choice(MERGE_STRATEGIES), default=None, help="How worktrees merge.")
@click.option(
    "--max-agents", type=click.IntRange(1, 64), default=None, metavar="N", help="Planned runs that may run at once."
)
@json_option("Print the updated project as JSON.")
def update(
    project: str,
    name: str | None,
    working_dir: Path | None,
    description: str | None,
    isolation: str | None,
    base_ref: str | None,
    setup_command: str | None,
    copy_files: tuple[str, ...],
    merge_strategy: str | None,
    max_agents: int | None,
    as_json: bool,
) -> None:
    """Rename a project, change its directory or description, how its agents use git worktrees, or how many planned
    runs Maestro starts at once."""
    values: dict[str, Any] = {"name": name, "description": description, "max_agents": max_agents}
    if working_dir is not None:
        values["working_dir"] = str(working_dir.expanduser().resolve())
    values = {key: value for key, value in values.items() if value is not None}
    git = {
        "isolation": isolation,
        "base_ref": base_ref,
        "setup_command": setup_command,
        "merge_strategy": merge_strategy,
    }
    git = {key: value for key, value in git.items() if value is not None}
    if copy_files:
        git["copy_files"] = [name for name in copy_files if name]
    if not values and not git:
        raise click.UsageError("nothing to change: give --name, --dir, --description, --max-agents or a git option")
    with api_client() as client:
        project_id = resolve_project(client, project)
        if git:  # the settings are replaced as a whole: start from the stored ones
            values["git"] = {**client.get(f"/projects/{project_id}")["git"], **git}
        updated = client.patch(f"/projects/{project_id}", body_of(ProjectUpdate, values))
    if as_json:
        echo_json(updated)
    else:
        console.print(f"updated project [bold]{text(updated['name'])}[/] {updated['id']}")


@project.command("delete")
@PROJECT_ARG
@click.option("--cascade", is_flag=True, help="Also delete its tasks and sessions (without it, only an empty one).")
@json_option('Print {"deleted": id} as JSON.')
def delete(project: str, cascade: bool, as_json: bool) -> None:
    """Delete a project; one that still has tasks or sessions only with --cascade."""
    with api_client() as client:
        project_id = resolve_project(client, project)
        name = client.get(f"/projects/{project_id}")["name"]
        try:
            client.delete(f"/projects/{project_id}", **({"cascade": "true"} if cascade else {}))
        except ApiError as exc:
            if exc.status_code != 409 or not isinstance(exc.extra, dict):
                raise
            counts = msgspec.convert(exc.extra, dict[str, int])
            raise Refused(
                f"project '{name}' still has {counts.get('tasks', 0)} task(s) and {counts.get('sessions', 0)} "
                "session(s); add --cascade to delete it with everything in it"
            ) from exc
    if as_json:
        echo_json({"deleted": project_id})
    else:
        console.print(f"deleted project [bold]{text(name)}[/] {project_id}")
