"""`maestro sync` and `maestro outbox list|retry|drop`: send the changes queued while the server could not be
reached, and look after the ones it refused (docs/cli.md, Offline outbox)."""

from __future__ import annotations

import os

import click

from app.cli import outbox
from app.cli.common import api_client, echo_json, json_option, new_table, print_table, text
from app.cli.errors import Refused, Unreachable
from app.cli.outbox_store import Store
from app.settings import default_home


@click.command("sync")
@json_option("Print what was sent, what was set aside and what still waits, as one JSON object.")
def sync(as_json: bool) -> None:
    """Send the changes queued while Maestro could not be reached: oldest first, each once.

    A change the server refuses (the task was deleted meanwhile, …) is not retried: it is set aside and listed by
    `maestro outbox list`. Exit code 1 when one was set aside, 3 when changes still wait for the server.
    """
    _replay(as_json)


def _replay(as_json: bool) -> None:
    with api_client() as client:
        box = client.outbox or outbox.for_target(client.target, force=True)
        if box is None:
            result = outbox.Replay()
        else:
            box.replayed = True  # this command's requests must not start a second replay
            result = box.replay(client)
    if as_json:
        echo_json(result.as_json())
    elif not (result.sent or result.set_aside or result.waiting):
        aside = len(_store().changes("set_aside"))
        click.echo("nothing queued" + (f" ({aside} set aside: `maestro outbox list`)" if aside else ""))
    else:
        outbox.announce(result, err=False, waiting=False)  # the error below says what still waits
        if result.stopped is None and result.waiting:
            click.echo(f"{result.waiting} queued with your own token: your own `maestro sync` sends them")
    if result.stopped is not None and result.waiting:
        n = result.waiting
        raise Unreachable(f"{n} change{'s' if n != 1 else ''} still queued: {result.stopped}")
    if result.set_aside:
        n = len(result.set_aside)
        raise Refused(f"{n} change{'s were' if n != 1 else ' was'} not applied (set aside: `maestro outbox list`)")


def _store() -> Store:
    """The outbox of this home (inside a session: the server's home, where the session's changes wait)."""
    home = outbox.outbox_home(default_home(os.environ), os.environ)
    assert home is not None  # default_home always names one
    return Store(home)


@click.group("outbox", invoke_without_command=True)
@click.pass_context
def outbox_cmd(ctx: click.Context) -> None:
    """The changes waiting to be sent, and those the server refused (set aside). Without a command: `list`."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd)


@outbox_cmd.command("list")
@json_option("Print the changes as a JSON list (without their tokens).")
def list_cmd(as_json: bool = False) -> None:
    """List the queued changes, oldest first: waiting ones, and set-aside ones with the server's reason."""
    changes = _store().changes()
    if as_json:
        echo_json([change.public() for change in changes])
        return
    if not changes:
        click.echo("the outbox is empty")
        return
    table = new_table("#", "state", "queued", "by", "what")
    for change in changes:
        what = text(change.command)
        if change.reason:
            what += f"\n[red]{text(change.reason)}[/]"
        state = "waiting" if change.state == "pending" else "[red]set aside[/]"
        table.add_row(str(change.id), state, change.queued_at, text(change.actor), what)
    print_table(table)


@outbox_cmd.command("retry")
@click.argument("change_id", metavar="N", type=click.IntRange(1))
@click.option("--as-me", is_flag=True, help="Send it with your own token (for a session's change whose token died).")
@json_option("Print the replay as one JSON object, as `maestro sync --json` does.")
def retry(change_id: int, as_me: bool, as_json: bool) -> None:
    """Put set-aside change N back in the queue (at its old place) and send the queue."""
    if as_me and os.environ.get("MAESTRO_TOKEN"):
        raise Refused(
            "--as-me sends a change with your own token: run it from your own terminal, not with MAESTRO_TOKEN"
        )
    store = _store()
    if store.find(change_id) is None:
        raise Refused(f"there is no change #{change_id} in {store.path} (`maestro outbox list`)")
    store.requeue(change_id, as_user=as_me)
    _replay(as_json)


@outbox_cmd.command("drop")
@click.argument("change_id", metavar="N", type=click.IntRange(1))
@json_option("Print the dropped change as JSON.")
def drop(change_id: int, as_json: bool) -> None:
    """Forget change N: it is never sent."""
    store = _store()
    change = store.find(change_id)
    if change is None or not store.remove(change_id):
        raise Refused(f"there is no change #{change_id} in {store.path} (`maestro outbox list`)")
    if as_json:
        echo_json(change.public())
    else:
        click.echo(f"dropped change #{change_id}: {change.command}")
