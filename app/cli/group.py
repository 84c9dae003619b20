"""How every command ends: errors become one line on stderr and a documented exit code (docs/cli.md).

0 done; 1 refused by the server (or could not be done: a file that cannot be written…); 2 wrong usage; 3 no server
could be found or reached; 130 interrupted. A traceback is printed only with `maestro --debug …`.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click

from app.cli.client import ApiError, NoServer
from app.cli.common import in_session
from app.cli.errors import Refused, Unreachable, describe

EXIT_INTERRUPTED = 130


class MaestroGroup(click.Group):
    """The root group: turns what a command raised into the error it means for a person."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; server refusals, unreachable servers and surprises become one-line click errors."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            raise as_click_error(exc) from exc


def as_click_error(exc: Exception) -> click.ClickException:
    """The click error, with its exit code, that stands for `exc`."""
    if isinstance(exc, NoServer):
        return Unreachable(str(exc))
    if isinstance(exc, ApiError):
        return Refused(describe(exc, session_env=in_session()))
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return Refused(f"{exc.strerror}{where}")
    return Refused(f"unexpected {type(exc).__name__}: {exc} (run `maestro --debug …` to see where)")


def run(command: click.Command, args: list[str] | None = None) -> int:
    """Run the command line and return its exit code; every error is one line on stderr."""
    try:
        result = command.main(args=args, prog_name="maestro", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        click.echo(f"Error: {one_line(exc)}", err=True)
        return exc.exit_code
    except BrokenPipeError:
        # `maestro task list | head`: the reader left; say nothing more (and let Python's exit flush say nothing).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return result if isinstance(result, int) else 0


def one_line(exc: click.ClickException) -> str:
    """The error's message on one line; a usage error says where to read how the command is used."""
    message = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        message += f" (see `{exc.ctx.command_path} -h`)"
    return message
