"""What the commands share: the server client, output (rich tables or JSON), the session's environment, and
request bodies checked with the server's own models before they are sent."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.cli.client import ApiClient, ApiError, locate
from app.cli.errors import PATTERN_WORDS, Refused, explain
from app.models.common import ProjectId, SessionId, TaskId
from app.settings import default_home

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# Ids must never be cut or wrapped (people and agents copy them), so a narrow terminal gets longer lines rather
# than a squeezed table; 120 fits every column next to a 40-character title.
TABLE_WIDTH = 120

TASK_STYLE = {"in_progress": "cyan", "in_review": "magenta", "blocked": "red", "completed": "green", "cancelled": "dim"}
SESSION_STYLE = {
    "running": "green",
    "idle": "yellow",
    "needs_input": "bold yellow",
    "stalled": "bold red",
    "failed": "red",
    "lost": "red",
}


def env_value(name: str) -> str | None:
    """A MAESTRO_* variable set by the server for agent sessions, or None when unset or empty."""
    return os.environ.get(name) or None


def in_session() -> bool:
    """True inside a session the server spawned (its id and token are in the environment)."""
    return bool(env_value("MAESTRO_SESSION_ID") and env_value("MAESTRO_TOKEN"))


@contextlib.contextmanager
def api_client() -> Iterator[ApiClient]:
    """A client for the server this command talks to (errors become exit codes in app.cli.MaestroGroup)."""
    with ApiClient(locate(default_home(os.environ))) as client:
        yield client


def json_option(help_text: str = "Print JSON (one object or one array) and nothing else.") -> Callable[[F], F]:
    """The --json flag every command has."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def echo_json(value: Any) -> None:
    """Print a value (a server answer, or a model) as indented JSON on stdout."""
    click.echo(json.dumps(msgspec.to_builtins(value), indent=2, ensure_ascii=False))


def join_words(words: tuple[str, ...], what: str) -> str:
    """The words of an argument joined by spaces, so a forgotten pair of quotes still works; `-` reads stdin."""
    text = " ".join(words)
    if text == "-":
        text = sys.stdin.read().strip()
    if not text.strip():
        raise click.UsageError(f"the {what} must not be empty")
    return text


def project_or_env(project_id: str | None) -> str | None:
    """--project, else the session's project from MAESTRO_PROJECT_ID."""
    return project_id or env_value("MAESTRO_PROJECT_ID")


def new_table(*columns: str) -> Table:
    """A borderless table with bold headers; ids and statuses never wrap."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        wraps = column in ("title", "name", "message", "description", "directory", "what")
        table.add_column(column, no_wrap=not wraps, overflow="fold")
    return table


def print_table(table: Table) -> None:
    """Print a table at least TABLE_WIDTH wide, so its ids stay whole on a narrow terminal or pipe."""
    Console(highlight=False, width=max(console.width, TABLE_WIDTH)).print(table)


def styled(value: str, styles: dict[str, str]) -> str:
    """A status word in its colour (rich markup)."""
    style = styles.get(value)
    return f"[{style}]{value}[/]" if style else value


def text(value: Any) -> str:
    """Untrusted text (titles, names, messages) made safe for rich markup: shown as it is, never interpreted."""
    return escape(str(value))


def when(value: str | None) -> str:
    """A server timestamp in local time, to the minute (today: the time only)."""
    if not value:
        return ""
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone()
    today = dt.datetime.now().astimezone().date()
    return moment.strftime("%H:%M:%S" if moment.date() == today else "%Y-%m-%d %H:%M")


def check_folder(path: Path) -> None:
    """A file is to be written at `path`: its folder must exist (said before anything is downloaded)."""
    if not path.parent.is_dir():
        raise click.UsageError(f"no such folder: {path.parent}")


def body_of(model: type[Any], values: dict[str, Any]) -> dict[str, Any]:
    """A request body checked with the server's own model: a value it would refuse is a usage error, in words."""
    try:
        msgspec.convert(values, model)
    except msgspec.ValidationError as exc:
        raise click.UsageError(explain(str(exc), model=model, body=values)) from exc
    # Only what was given goes out: the server's defaults apply to the rest (and an older server is not sent
    # fields it does not know).
    return values


def decoded(model: type[T], value: Any) -> T:
    """A server answer as the server's own model (timestamps parsed, fields typed)."""
    return msgspec.convert(value, model, strict=False)


class IdType(click.ParamType):
    """A `prj_`/`tsk_`/`ses_` id, checked with the models' id types before anything is sent."""

    def __init__(self, kind: str, id_type: Any) -> None:
        self.name = f"{kind}_id"
        self.kind = kind
        self.id_type = id_type

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The id as given; a malformed one is a usage error that says what an id looks like."""
        try:
            return msgspec.convert(value, self.id_type)
        except msgspec.ValidationError:
            self.fail(f"'{value}' is not {PATTERN_WORDS[self.id_type.__metadata__[0].pattern]}", param, ctx)


PROJECT_ID = IdType("project", ProjectId)
TASK_ID = IdType("task", TaskId)
SESSION_ID = IdType("session", SessionId)


class ProjectRef(click.ParamType):
    """A project id, or a project's name (resolved with `resolve_project` once a client exists)."""

    name = "project"


PROJECT = ProjectRef()


def resolve_project(client: ApiClient, ref: str | None) -> str | None:
    """The id of the project named by `ref` (an id, or a name, exact or in any letter case); None stays None."""
    if ref is None or ref.startswith("prj_"):
        return None if ref is None else PROJECT_ID.convert(ref, None, None)
    try:
        projects = client.get("/projects")
    except ApiError as exc:
        if exc.status_code == 403:
            raise Refused(f"'{ref}' is not a project id, and this token may not look projects up by name") from exc
        raise
    for match in (lambda p: p["name"] == ref, lambda p: p["name"].casefold() == ref.casefold()):
        found = [p["id"] for p in projects if match(p)]
        if len(found) == 1:
            return found[0]
    names = ", ".join(repr(p["name"]) for p in projects) or "none yet (`maestro project create`)"
    raise Refused(f"no project named '{ref}'; the projects are: {names}")


def all_tasks(client: ApiClient, **filters: Any) -> list[dict[str, Any]]:
    """Every task matching the filters of GET /tasks, page after page (for trees and summaries)."""
    tasks: list[dict[str, Any]] = []
    params: dict[str, Any] = {key: value for key, value in filters.items() if value is not None}
    params["limit"] = 500
    while True:
        page = client.get("/tasks", **params)
        tasks.extend(page["items"])
        if not page["next_cursor"]:
            return tasks
        params["cursor"] = page["next_cursor"]


def chosen_project(client: ApiClient, ref: str | None) -> str | None:
    """The project a command is about: --project (an id or a name), else the session's ($MAESTRO_PROJECT_ID)."""
    return resolve_project(client, ref) or project_or_env(None)


def project_names(client: ApiClient) -> dict[str, str]:
    """Project names by id, for showing titles instead of ids; empty when the token may not list projects."""
    try:
        return {p["id"]: p["name"] for p in client.get("/projects")}
    except ApiError:
        return {}
