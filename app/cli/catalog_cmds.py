"""`maestro profile list|show`, `maestro skill list|show`, `maestro manifest show`: what agents run with."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import click
import msgspec

from app.cli.common import (
    PROJECT,
    SESSION_ID,
    api_client,
    chosen_project,
    console,
    echo_json,
    env_value,
    err_console,
    json_option,
    new_table,
    print_table,
    text,
)
from app.cli.errors import Refused
from app.models.common import NAME_MAX, is_name
from app.models.manifests import MANIFEST_FILE, Manifest
from app.models.profiles import Profile, ProfileListing
from app.settings import default_home

# The fallback when nothing is configured: the agent most users run. A spawn whose program is missing names the
# profiles that are installed (see missing_program_hint).
FALLBACK_PROFILE = "claude"
CONFIG_FILE = "config.toml"  # MAESTRO_HOME/config.toml, the file the server reads profiles from
CONFIG_TABLE = "cli"  # its [cli] table: `default_profile = "codex"`


def program_installed(profile: Profile) -> bool:
    """True unless the server says it cannot find the profile's program on the sessions' PATH."""
    return profile.missing_program is None


def default_profile() -> tuple[str, str]:
    """The profile `session spawn` runs without --profile, and where that choice comes from.

    $MAESTRO_DEFAULT_PROFILE, else `default_profile` in the [cli] table of MAESTRO_HOME/config.toml, else (inside a
    session) the session's own profile, else `claude`.
    """
    if value := env_value("MAESTRO_DEFAULT_PROFILE"):
        return value, "$MAESTRO_DEFAULT_PROFILE"
    path = default_home(os.environ) / CONFIG_FILE
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get(CONFIG_TABLE, {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        table = {}  # no file, or one the server reports itself (GET /profiles warnings)
    value = table.get("default_profile") if isinstance(table, dict) else None
    if isinstance(value, str) and value:
        return value, f"default_profile in {path}"
    manifest = _session_manifest()
    if manifest is not None:
        return manifest.session.profile, "this session's own profile"
    return FALLBACK_PROFILE, "the built-in default"


def missing_program_hint(profiles: list[Profile], profile: str, program: str) -> str:
    """The error for a spawn whose program is missing: which profiles would work, and how to make one the default."""
    installed = [p.name for p in profiles if program_installed(p)]
    return (
        f"profile '{profile}' runs '{program}', which is not installed here (not found on PATH). "
        f"Profiles whose programs are installed: {', '.join(installed) or 'none'}. "
        "Pass --profile NAME, or make one the default: MAESTRO_DEFAULT_PROFILE=NAME, or "
        f'`default_profile = "NAME"` under [{CONFIG_TABLE}] in {default_home(os.environ) / CONFIG_FILE}'
    )


@click.group("profile")
def profile() -> None:
    """Agent profiles: how each kind of agent is started (built-ins and MAESTRO_HOME/config.toml)."""


@profile.command("list")
@json_option("Print the profiles as a JSON array (each with `installed` and `default`).")
def profile_list(as_json: bool) -> None:
    """List the profiles: whether their program is installed here, and which one `session spawn` uses."""
    with api_client() as client:
        listing = msgspec.convert(client.get("/profiles"), ProfileListing)
    chosen, why = default_profile()
    rows = [
        {**msgspec.to_builtins(p), "installed": program_installed(p), "default": p.name == chosen}
        for p in listing.items
    ]
    if as_json:
        echo_json(rows)
        return
    table = new_table("name", "installed", "program", "source", "description")
    for row in rows:
        name = f"[bold]{row['name']}[/] (default)" if row["default"] else row["name"]
        installed = "yes" if row["installed"] else "[red]no[/]"
        table.add_row(name, installed, text(row["argv"][0]), row["source"], text(row["description"]))
    print_table(table)
    console.print(f"[dim]default: {chosen} ({text(why)})[/]")
    for warning in listing.warnings:
        err_console.print(f"[yellow]warning[/]: {text(warning.path)}: {text(warning.message)}")


@profile.command("show")
@click.argument("name")
@json_option("Print the profile as JSON (with `installed`).")
def profile_show(name: str, as_json: bool) -> None:
    """Show a profile: its command line, environment, how the prompt is passed, and whether it is installed."""
    _check_name(name, "profile")
    with api_client() as client:
        found = msgspec.convert(client.get(f"/profiles/{name}"), Profile)
    installed = program_installed(found)
    if as_json:
        echo_json({**msgspec.to_builtins(found), "installed": installed})
        return
    console.print(f"[bold]{found.name}[/]  {text(found.description)}")
    console.print(f"[dim]{'command':<10}[/]{text(' '.join(found.argv))}")
    console.print(f"[dim]{'prompt':<10}[/]{found.prompt_via}")
    console.print(f"[dim]{'source':<10}[/]{found.source}{' (overrides the built-in)' if found.overridden else ''}")
    console.print(f"[dim]{'installed':<10}[/]{'yes' if installed else '[red]no[/] (' + text(found.argv[0]) + ')'}")
    for key, value in found.env.items():
        console.print(f"[dim]{'env':<10}[/]{text(key)}={text(value)}")


def _check_name(name: str, what: str) -> None:
    if not is_name(name):
        raise click.BadParameter(
            f"'{name}' is not a {what} name: letters, digits, '.', '_' and '-', starting with a letter or a digit, "
            f"at most {NAME_MAX} characters",
            param_hint="NAME",
        )


@click.group("skill")
def skill() -> None:
    """Skills: SKILL.md instructions given to agents (global, and the project's own)."""


SKILL_PROJECT = click.option(
    "--project",
    type=PROJECT,
    default=None,
    help="Also this project's skills (id or name) [default: $MAESTRO_PROJECT_ID].",
)


@skill.command("list")
@SKILL_PROJECT
@json_option("Print the skills as a JSON array.")
def skill_list(project: str | None, as_json: bool) -> None:
    """List the skills: global ones, and with a project its own (which win on a name clash)."""
    with api_client() as client:
        project_id = chosen_project(client, project)
        listing = client.get("/skills", **({"project_id": project_id} if project_id else {}))
    if as_json:
        echo_json(listing["items"])
        return
    if not listing["items"]:
        console.print("[dim]no skills (add MAESTRO_HOME/skills/<name>/SKILL.md, or .maestro/skills in a project)[/]")
    else:
        table = new_table("name", "scope", "description")
        for item in listing["items"]:
            table.add_row(item["name"], item["scope"], text(item["description"]))
        print_table(table)
    for warning in listing["warnings"]:
        err_console.print(f"[yellow]skipped[/] {text(warning['path'])}: {text(warning['message'])}")


@skill.command("show")
@click.argument("name")
@SKILL_PROJECT
@json_option("Print the skill, with its instructions, as JSON.")
def skill_show(name: str, project: str | None, as_json: bool) -> None:
    """Show a skill's description, where it comes from, and its instructions."""
    _check_name(name, "skill")
    with api_client() as client:
        project_id = chosen_project(client, project)
        item = client.get(f"/skills/{name}", **({"project_id": project_id} if project_id else {}))
    if as_json:
        echo_json(item)
        return
    console.print(f"[bold]{item['name']}[/]  ({item['scope']})  {text(item['description'])}")
    console.print(f"[dim]{text(item['path'])}[/]")
    console.print()
    console.print(text((item.get("instructions") or "").rstrip()))


@click.group("manifest")
def manifest() -> None:
    """The session manifest: what the server told an agent (docs/manifest.md)."""


@manifest.command("show")
@click.option(
    "--session",
    "session_id",
    type=SESSION_ID,
    default=None,
    help="Another session's manifest (from MAESTRO_HOME/sessions) [default: this session's, $MAESTRO_MANIFEST].",
)
@json_option("Print the manifest document as it is.")
def manifest_show(session_id: str | None, as_json: bool) -> None:
    """Show a session's manifest: the session, its project, tasks with their context, skills, how to report."""
    if session_id:
        path = default_home(os.environ) / "sessions" / session_id / MANIFEST_FILE
    elif env_value("MAESTRO_MANIFEST"):
        path = Path(env_value("MAESTRO_MANIFEST") or "")
    else:
        raise click.UsageError("no manifest: inside a session it is $MAESTRO_MANIFEST; elsewhere pass --session ses_…")
    document = _read_manifest(path)
    if as_json:
        echo_json(document)
        return
    _print_manifest(document)


def _session_manifest() -> Manifest | None:
    """This session's manifest, when running inside one and it can be read."""
    path = env_value("MAESTRO_MANIFEST")
    if not path:
        return None
    try:
        return _read_manifest(Path(path))
    except Refused:
        return None


def _read_manifest(path: Path) -> Manifest:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise Refused(
            f"no manifest at {path} (is the session id right, and is this its server's MAESTRO_HOME?)"
        ) from exc
    except OSError as exc:
        raise Refused(f"cannot read the manifest {path}: {exc.strerror}") from exc
    try:
        return msgspec.json.decode(raw, type=Manifest)
    except msgspec.ValidationError as exc:
        raise Refused(f"{path} is not a manifest this version of maestro understands: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise Refused(f"{path} is not valid JSON: {exc}") from exc


def _print_manifest(document: Manifest) -> None:
    session, project_ = document.session, document.project
    console.print(f"[bold]{text(session.name)}[/]  {session.id}  {session.role}, profile {session.profile}")
    console.print(f"[dim]{'project':<10}[/]{text(project_.name)} [dim]{project_.id}[/]  {text(project_.working_dir)}")
    if session.parent_session_id:
        console.print(f"[dim]{'parent':<10}[/]{session.parent_session_id}")
    for task in document.tasks:
        console.print()
        console.print(f"[bold]{text(task.title)}[/]  {task.status}, {task.priority}  [dim]{task.id}[/]")
        lines: list[tuple[str, Any]] = [
            ("within", " › ".join(text(a.title) for a in task.ancestors)),
            ("subtasks", ", ".join(f"{text(s.title)} ({s.status})" for s in task.subtasks)),
            ("needs", ", ".join(f"{text(d.title)} ({d.status})" for d in task.dependencies)),
            ("needed by", ", ".join(f"{text(d.title)} ({d.status})" for d in task.dependents)),
        ]
        for label, value in lines:
            if value:
                console.print(f"  [dim]{label:<10}[/]{value}")
    if document.skills:
        console.print()
        console.print(f"[dim]{'skills':<10}[/]{', '.join(text(s.name) for s in document.skills)}")
    console.print()
    console.print(f"[dim]report with[/] {text(document.reporting.cli.get('progress', 'maestro report …'))}")
