"""`maestro session spawn|list|show|stop|recording`: start agent sessions and watch them (spawning needs the
user's token or an orchestrator's)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from app.cli.attach import attach
from app.cli.catalog_cmds import default_profile, missing_program_hint
from app.cli.client import ApiClient, ApiError
from app.cli.common import (
    PROJECT,
    SESSION_ID,
    SESSION_STYLE,
    TASK_ID,
    TASK_STYLE,
    api_client,
    body_of,
    check_folder,
    chosen_project,
    console,
    echo_json,
    json_option,
    new_table,
    print_table,
    styled,
    text,
    when,
)
from app.cli.errors import Refused
from app.cli.task_views import reason_text
from app.cli.worktree_cmds import resolve_worktree
from app.models.common import ROLES, SESSION_STATUSES
from app.models.profiles import ProfileListing
from app.models.sessions import SessionSpawn

SESSION_ARG = click.argument("session_id", type=SESSION_ID, metavar="SESSION_ID")
MAX_TITLES = 50  # beyond this many linked tasks a listing shows ids rather than asking for each title


@click.group("session")
def session() -> None:
    """Sessions: agents (or shells) running in terminals. Inside a session the project is the session's."""


@session.command("spawn")
@click.option("--task", "task_ids", multiple=True, type=TASK_ID, help="A task for the session. Repeatable.")
@click.option(
    "--profile",
    default=None,
    help="The agent profile to run [default: $MAESTRO_DEFAULT_PROFILE, [cli] default_profile in config.toml, "
    "inside a session its own profile, else claude].",
)
@click.option("--role", type=click.Choice(ROLES), default="worker", show_default=True)
@click.option("--name", default=None, help="Display name [default: the profile's name].")
@click.option("--skill", "skills", multiple=True, metavar="NAME", help="A skill for the session. Repeatable.")
@click.option("--project", type=PROJECT, default=None, help="The project (id or name) [default: $MAESTRO_PROJECT_ID].")
@click.option(
    "--instructions",
    default=None,
    metavar="TEXT",
    help="An extra instruction, added to the agent's prompt and manifest ('-' reads it from stdin).",
)
@click.option(
    "--worktree/--in-place",
    "own_worktree",
    default=None,
    help="Work in a new git worktree on its own branch, or in the project's directory [default: the project's].",
)
@click.option("--base", "base_ref", default=None, metavar="REF", help="The branch a new worktree starts from.")
@click.option(
    "--share", "share", default=None, metavar="WORKTREE", help="Work in this worktree (wtr_, ses_ or tsk_ id)."
)
@json_option("Print the new session as JSON.")
def spawn(
    task_ids: tuple[str, ...],
    profile: str | None,
    role: str,
    name: str | None,
    skills: tuple[str, ...],
    project: str | None,
    instructions: str | None,
    own_worktree: bool | None,
    base_ref: str | None,
    share: str | None,
    as_json: bool,
) -> None:
    """Start a session running a profile in the project's working directory (or its own git worktree), with its
    tasks and skills.

    Prints the new session's id and status (`ses_… running`).
    """
    if profile is None:
        profile, _ = default_profile()
    with api_client() as client:
        project_id = chosen_project(client, project)
        if not project_id and task_ids:
            project_id = client.get(f"/tasks/{task_ids[0]}")["project_id"]
        if not project_id:
            raise click.UsageError("no project: pass --project (or --task; inside a session it is implied)")
        values: dict[str, Any] = {
            "project_id": project_id,
            "task_ids": list(task_ids),
            "profile": profile,
            "role": role,
            "skills": list(skills),
        }
        if name is not None:
            values["name"] = name
        if instructions is not None:
            values["instructions"] = click.get_text_stream("stdin").read() if instructions == "-" else instructions
        if own_worktree is not None:
            values["isolation"] = "worktree" if own_worktree else "in_place"
        if base_ref is not None:
            values["base_ref"] = base_ref
        if share is not None:
            values["worktree_id"] = resolve_worktree(client, share)
        try:
            created = client.post("/sessions", body_of(SessionSpawn, values))
        except ApiError as exc:
            raise _spawn_refusal(client, exc) from exc
    if as_json:
        echo_json(created)
    else:
        click.echo(f"{created['id']} {created['status']}")


def _spawn_refusal(client: ApiClient, exc: ApiError) -> Exception:
    """A missing program names the profiles that would work; any other refusal stands as it is."""
    extra = exc.extra if isinstance(exc.extra, dict) else {}
    if exc.status_code != 400 or "program" not in extra or "profile" not in extra:
        return exc
    listing = msgspec.convert(client.get("/profiles"), ProfileListing)
    return Refused(missing_program_hint(listing.items, str(extra["profile"]), str(extra["program"])))


@session.command("list")
@click.option(
    "--project",
    type=PROJECT,
    default=None,
    help="Only this project's sessions (id or name) [default: $MAESTRO_PROJECT_ID; without it, every project's].",
)
@click.option(
    "--status", "statuses", multiple=True, type=click.Choice(SESSION_STATUSES), help="Only this status. Repeatable."
)
@click.option("--task", "task_id", type=TASK_ID, default=None, help="Only sessions linked to this task.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True, help="At most this many.")
@json_option("Print the sessions as a JSON array.")
def list_cmd(project: str | None, statuses: tuple[str, ...], task_id: str | None, limit: int, as_json: bool) -> None:
    """List sessions, newest first: name, status, profile, role, tasks and id."""
    with api_client() as client:
        project_id = chosen_project(client, project)
        params: dict[str, Any] = {"project_id": project_id, "task_id": task_id}
        params = {key: value for key, value in params.items() if value is not None}
        if statuses:
            params["status"] = list(statuses)
        items = client.get("/sessions", limit=limit, **params)
        if as_json:
            echo_json(items)
            return
        titles = _titles(client, {link["task_id"] for item in items for link in item["tasks"]})
    if not items:
        console.print("[dim]no sessions[/]")
        return
    table = new_table("name", "status", "profile", "role", "tasks", "started", "id")
    for item in items:
        tasks = "\n".join(text(titles.get(link["task_id"], link["task_id"])) for link in item["tasks"])
        table.add_row(
            text(item["name"]),
            styled(item["status"], SESSION_STYLE),
            item["profile"],
            item["role"],
            tasks,
            when(item["started_at"]),
            item["id"],
        )
    print_table(table)


def _titles(client: ApiClient, task_ids: set[str]) -> dict[str, str]:
    """Task titles by id, each asked for once (ids stay ids past MAX_TITLES, or when a task is gone)."""
    titles: dict[str, str] = {}
    for task_id in sorted(task_ids)[:MAX_TITLES]:
        try:
            titles[task_id] = client.get(f"/tasks/{task_id}")["title"]
        except ApiError:
            pass
    return titles


@session.command("show")
@SESSION_ARG
@json_option("Print the session as JSON.")
def show(session_id: str, as_json: bool) -> None:
    """Show a session: status, profile, role, directory, times, its tasks and its latest reports."""
    with api_client() as client:
        item = client.get(f"/sessions/{session_id}")
        if as_json:
            echo_json(item)
            return
        titles = _titles(client, {link["task_id"] for link in item["tasks"]})
        timeline = _latest_entries(client, session_id, 5)
        project_name = client.get(f"/projects/{item['project_id']}")["name"]
    console.print(f"[bold]{text(item['name'])}[/]  {item['id']}  {styled(item['status'], SESSION_STYLE)}")
    if item.get("status_reason"):
        console.print(f"[dim]{'why':<10}[/]{reason_text(item['status_reason'])}")
    rows = [
        ("project", f"{project_name} ({item['project_id']})"),
        ("profile", item["profile"]),
        ("role", item["role"]),
        ("parent", item["parent_session_id"]),
        ("directory", item["cwd"]),
        ("started", when(item["started_at"])),
        ("ended", when(item["ended_at"])),
        ("exit code", item["exit_code"]),
        ("reported", when(item.get("last_report_at"))),
    ]
    for label, value in rows:
        if value not in (None, ""):
            console.print(f"[dim]{label:<10}[/]{text(value)}")
    for link in item["tasks"]:
        title = text(titles.get(link["task_id"], link["task_id"]))
        console.print(f"[dim]{'task':<10}[/]{title} ({styled(link['status'], TASK_STYLE)})  [dim]{link['task_id']}[/]")
    for entry in timeline[-5:]:
        console.print(f"[dim]{when(entry['created_at']):<10}[/]{entry['kind']}: {text(entry['message'])}")


def _latest_entries(client: ApiClient, session_id: str, count: int) -> list[dict[str, Any]]:
    """The newest `count` timeline entries (the API pages oldest first)."""
    latest: list[dict[str, Any]] = []
    after = 0
    while True:
        page = client.get(f"/sessions/{session_id}/timeline", after=after, limit=500)
        latest = (latest + page)[-count:]
        if len(page) < 500:
            return latest
        after = page[-1]["id"]


@session.command("stop")
@SESSION_ARG
@json_option("Print the stopped session as JSON.")
def stop(session_id: str, as_json: bool) -> None:
    """Stop a running session (its program gets HUP, TERM, then KILL; the session ends `stopped`)."""
    with api_client() as client:
        stopped = client.post(f"/sessions/{session_id}/stop")
    if as_json:
        echo_json(stopped)
    else:
        console.print(f"stopped [bold]{text(stopped['name'])}[/] {stopped['id']} ({stopped['status']})")


@session.command("recording")
@SESSION_ARG
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Where to write it; `-` for stdout [default: SESSION_ID.cast here].",
)
@json_option('Print {"session_id", "path", "bytes"} as JSON (not with -o -).')
def recording(session_id: str, output: Path | None, as_json: bool) -> None:
    """Save a session's terminal recording (asciicast v2: `asciinema play FILE` replays it)."""
    to_stdout = output is not None and str(output) == "-"
    if to_stdout and as_json:
        raise click.UsageError("--json prints a summary on stdout; with -o - the recording goes there: pick one")
    target = output or Path(f"{session_id}.cast")
    if not to_stdout:
        check_folder(target)
    written = 0
    with api_client() as client, client.stream(f"/sessions/{session_id}/recording") as response:
        if to_stdout:
            for chunk in response.iter_bytes():
                sys.stdout.buffer.write(chunk)
                written += len(chunk)
            sys.stdout.buffer.flush()
            return
        partial = target.with_name(target.name + ".part")
        try:
            with partial.open("wb") as sink:
                for chunk in response.iter_bytes():
                    sink.write(chunk)
                    written += len(chunk)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)  # a failed download never leaves half a recording under the real name
    if as_json:
        echo_json({"session_id": session_id, "path": str(target.resolve()), "bytes": written})
    else:
        console.print(f"wrote the recording of {session_id} to {target} ({written:,} bytes)")


session.add_command(attach)  # `maestro session attach`, in app/cli/attach.py
