"""`maestro events`: print the event log, or follow it live (reconnecting and resuming by seq)."""

from __future__ import annotations

import asyncio
import json
import os

import click
from rich.console import Console

from app.cli.client import ApiClient, ApiError, NoServer, locate
from app.cli.event_stream_client import EventFollower, StreamRefused
from app.settings import default_home

console = Console(highlight=False)


@click.command("events")
@click.option("--after", type=click.IntRange(min=0), default=None, help="Only events with a greater seq.")
@click.option("--project", "project_id", default=None, help="Only this project's events (prj_…).")
@click.option("--types", default=None, help="Comma-separated type prefixes, e.g. task.,session.status_changed")
@click.option("--follow", "-f", is_flag=True, help="Keep streaming new events until Ctrl-C.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Without --follow: how many of the newest events to print.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
def events(
    after: int | None, project_id: str | None, types: str | None, follow: bool, limit: int, as_json: bool
) -> None:
    """Print recent events, or follow them live with --follow."""
    try:
        target = locate(default_home(os.environ))
        with ApiClient(target) as client:
            last = client.get("/events", limit=1)["last_seq"]
            start = max(0, last - limit) if after is None else after
            params = {"after": start, "limit": limit, **({"project_id": project_id} if project_id else {})}
            page = [] if follow and after is None else client.get("/events", **params)["items"]
    except (NoServer, ApiError) as exc:
        raise click.ClickException(str(exc)) from exc
    prefixes = tuple(p.strip() for p in (types or "").split(",") if p.strip())
    for event in page:
        if not prefixes or event["type"].startswith(prefixes):
            _print(event, as_json)
    if not follow:
        return
    resume = page[-1]["seq"] if page else (last if after is None else after)
    follower = EventFollower(target.url, target.token or "", after=resume, project_id=project_id, types=prefixes)
    try:
        asyncio.run(_follow(follower, as_json))
    except KeyboardInterrupt:
        pass
    except StreamRefused as exc:
        raise click.ClickException(str(exc)) from exc


async def _follow(follower: EventFollower, as_json: bool) -> None:
    async for event in follower:
        _print(event, as_json)


def _print(event: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(event, separators=(",", ":")))
    elif event.get("type") == "reset":
        if event.get("reason") == "ahead":
            console.print(f"[yellow]reset[/]: the log ends at seq {event['last_seq']}; following from there")
        else:
            console.print(f"[yellow]reset[/]: history before seq {event['pruned_through']} was removed by retention")
    else:
        console.print(
            f"[dim]#{event['seq']:<6}[/] {event['ts'][11:19]} [bold]{event['type']:<24}[/] "
            f"{event.get('entity_id') or '':<27} [dim]{event['actor']}[/]"
        )
