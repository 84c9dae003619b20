"""The `maestro` command: runs the server, and talks to a running one over HTTP."""

from __future__ import annotations

import sys

import click

from app import __version__
from app.cli.catalog_cmds import manifest, profile, skill
from app.cli.completion_cmd import completion
from app.cli.events_cmd import events
from app.cli.group import MaestroGroup, run
from app.cli.project_cmds import project
from app.cli.report_cmd import report
from app.cli.run_cmds import RUN_COMMANDS
from app.cli.server_cmds import open_cmd, serve, status, stop, url
from app.cli.session_cmds import session
from app.cli.sync_cmd import outbox_cmd, sync
from app.cli.task_cmds import task
from app.cli.transfer_cmds import export, import_cmd
from app.cli.worktree_cmds import worktree


@click.group(cls=MaestroGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maestro")
@click.option("--debug", is_flag=True, help="On an unexpected error, print the traceback too.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Maestro: run many coding agents in parallel and keep them in order.

    With no command, starts the server and opens it in your browser (`maestro serve --open`).
    Exit codes: 0 done, 1 refused by the server, 2 wrong usage, 3 server not running or unreachable.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve, open_browser=True)


for command in RUN_COMMANDS:
    task.add_command(command)
for command in (serve, status, stop, open_cmd, url, events, report, task, session, sync, outbox_cmd):
    cli.add_command(command)
for command in (project, worktree, profile, skill, manifest, export, import_cmd, completion):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point: every error is one line on stderr with its exit code (app.cli.group)."""
    sys.exit(run(cli))
