"""The `maestro` command: runs the server, and talks to a running one over HTTP."""

from __future__ import annotations

import click

from app import __version__
from app.cli.events_cmd import events
from app.cli.report_cmd import report
from app.cli.server_cmds import open_cmd, serve, status, stop, url
from app.cli.session_cmds import session
from app.cli.task_cmds import task


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maestro")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Maestro: run many coding agents in parallel and keep them in order.

    With no command, starts the server and opens it in your browser (`maestro serve --open`).
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve, open_browser=True)


for command in (serve, status, stop, open_cmd, url, events, report, task, session):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="maestro")
