"""`maestro events`: print the event log as readable lines, or follow it live (reconnecting, resuming by seq)."""

from __future__ import annotations

import asyncio
import json

import click

from app.cli.client import ApiClient
from app.cli.common import PROJECT, api_client, chosen_project, console, echo_json, json_option
from app.cli.errors import Refused
from app.cli.event_lines import Narrator
from app.cli.event_stream_client import EventFollower, StreamRefused


@click.command("events")
@click.option("--after", type=click.IntRange(min=0), default=None, help="Only events with a greater seq.")
@click.option(
    "--project",
    type=PROJECT,
    default=None,
    help="Only this project's events (id or name) [default: $MAESTRO_PROJECT_ID].",
)
@click.option("--types", default=None, help="Comma-separated type prefixes, e.g. task.,session.status_changed")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until Ctrl-C.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Without --follow: how many of the newest events to print.",
)
@json_option("Print the events as a JSON array; with --follow, one JSON object per line (JSON Lines).")
def events(after: int | None, project: str | None, types: str | None, follow: bool, limit: int, as_json: bool) -> None:
    """Print recent events (what happened, to what, by whom), or follow them live with --follow."""
    prefixes = tuple(p.strip() for p in (types or "").split(",") if p.strip())
    with api_client() as client:
        project_id = chosen_project(client, project)
        scope = {"project_id": project_id} if project_id else {}
        last = client.get("/events", limit=1, **scope)["last_seq"]
        start = max(0, last - limit) if after is None else after
        page = [] if follow and after is None else client.get("/events", after=start, limit=limit, **scope)["items"]
        page = [event for event in page if not prefixes or event["type"].startswith(prefixes)]
        narrator = Narrator(client)
        if as_json and not follow:
            echo_json(page)
            return
        for event in page:
            _print(event, narrator, as_json)
        if not follow:
            if not page and not as_json:
                console.print("[dim]no events[/]")
            return
        resume = page[-1]["seq"] if page else (last if after is None else after)
        _follow(client, resume, project_id, prefixes, narrator, as_json)


def _follow(
    client: ApiClient, after: int, project_id: str | None, prefixes: tuple[str, ...], narrator: Narrator, as_json: bool
) -> None:
    target = client.target
    follower = EventFollower(target.url, target.token or "", after=after, project_id=project_id, types=prefixes)

    async def run() -> None:
        async for event in follower:
            _print(event, narrator, as_json)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except StreamRefused as exc:
        raise Refused(str(exc)) from exc


def _print(event: dict, narrator: Narrator, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(event, separators=(",", ":")), nl=True)
    elif event.get("type") == "reset":
        if event.get("reason") == "ahead":
            console.print(f"[yellow]reset[/]: the log ends at seq {event['last_seq']}; following from there")
        else:
            console.print(f"[yellow]reset[/]: history before seq {event['pruned_through']} was removed by retention")
    else:
        console.print(narrator.line(event))
