"""Server lifecycle commands: serve, status, stop, open, url."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time

import click
from rich.console import Console

from app.cli.client import ApiClient, ApiError, NoServer, locate
from app.cli.errors import Refused
from app.desktop import open_ui
from app.home import ask_to_keep_sessions, live_runtime, pid_alive, read_runtime
from app.settings import DEFAULT_PORT, UnsafeBindError, default_home, settings_from_env

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help=f"Port to listen on [default: {DEFAULT_PORT}, or the next free one; 0 = any free port].",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Extra Host name clients may use (required to listen beyond loopback). Repeatable.",
)
@click.option(
    "--open/--no-browser", "open_browser", default=False, help="Open the browser, signed in, once the server answers."
)
def serve(host: str, port: int | None, allowed_hosts: tuple[str, ...], open_browser: bool) -> None:
    """Run Maestro in the foreground until Ctrl-C or SIGTERM."""
    from app.server import run_server  # deferred: only this command loads the server stack

    try:
        settings = settings_from_env(
            host=host, port=DEFAULT_PORT if port is None else port, allowed_hosts=allowed_hosts or None
        )
    except (UnsafeBindError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(run_server(settings, open_browser=open_browser, port_explicit=port is not None))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Is a server running, where, and which version (exit 3 when not running)."""
    home = default_home(os.environ)
    info = live_runtime(home)
    if info is None:
        stale = read_runtime(home)
        if as_json:
            click.echo(json.dumps({"running": False, "home": str(home), "stale_pid": stale.pid if stale else None}))
        else:
            console.print(f"Maestro is [bold]not running[/] (data: {home}).")
            if stale:
                console.print(f"[dim]Ignoring a stale server.json left by pid {stale.pid}.[/]")
        sys.exit(3)
    ready = _readiness(home)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "running": True,
                    "home": str(home),
                    "url": info.url,
                    "pid": info.pid,
                    "version": info.version,
                    "ready": ready,
                }
            )
        )
        return
    console.print(f"Maestro {info.version} is [bold green]running[/] at {info.url} (pid {info.pid}).")
    console.print(f"Data: {home}    Ready: {ready}")


@click.command()
@click.option("--timeout", default=15.0, show_default=True, help="Seconds to wait for a graceful exit.")
@click.option(
    "--keep-sessions", is_flag=True, help="Leave the sessions running; the next `maestro serve` reattaches them."
)
@click.option("--json", "as_json", is_flag=True, help='Print {"stopped", "pid"} as JSON.')
def stop(timeout: float, keep_sessions: bool, as_json: bool) -> None:
    """Stop the running server gracefully (SIGTERM; its sessions are stopped too, unless --keep-sessions)."""
    home = default_home(os.environ)
    info = live_runtime(home)
    if info is None:
        if as_json:
            click.echo(json.dumps({"stopped": False, "pid": None, "running": False}))
        else:
            console.print("Maestro is not running.")
        return
    if keep_sessions:
        ask_to_keep_sessions(home, info.pid)
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    with console.status(f"Stopping Maestro (pid {info.pid})…") if not as_json else contextlib.nullcontext():
        while time.monotonic() < deadline:
            # The server removes server.json as the last step of a graceful shutdown.
            if read_runtime(home) is None or not pid_alive(info.pid):
                if as_json:
                    click.echo(json.dumps({"stopped": True, "pid": info.pid, "running": False}))
                else:
                    console.print("Maestro stopped.")
                return
            time.sleep(0.1)
    raise Refused(f"pid {info.pid} did not exit within {timeout:g} s")


@click.command("open")
@click.option("--json", "as_json", is_flag=True, help='Print {"opened": app-window|browser|none, "url"} as JSON.')
def open_cmd(as_json: bool) -> None:
    """Open the running Maestro in your browser, signed in."""
    link = _login_link()
    opened = open_ui(link, os.environ)
    if as_json:
        # The single-use link is printed only when no browser took it: it signs in whoever opens it first.
        click.echo(json.dumps({"opened": opened, "url": link if opened == "none" else None}))
        return
    if opened == "none":
        console.print(f"No browser can be opened here. Open this link (valid 2 minutes, once):\n{link}")
        return
    console.print("Opened Maestro in an app window." if opened == "app-window" else "Opened Maestro in your browser.")


@click.command()
@click.option("--login", is_flag=True, help="Print a single-use link that signs a browser in.")
@click.option("--json", "as_json", is_flag=True, help='Print {"url"} as JSON.')
def url(login: bool, as_json: bool) -> None:
    """Print the running server's URL."""
    if login:
        found = _login_link()
    else:
        info = live_runtime(default_home(os.environ))
        if info is None:
            raise NoServer("Maestro is not running. Start it with `maestro`.")
        found = info.url
    click.echo(json.dumps({"url": found}) if as_json else found)


def _login_link() -> str:
    with ApiClient(locate(default_home(os.environ))) as client:
        return client.post("/login-links")["url"]


def _readiness(home) -> str:
    try:
        with ApiClient(locate(home), timeout=5) as client:
            return client.get("/ready")["status"]
    except ApiError as exc:
        return f"not ready ({exc.detail})"
    except NoServer:
        return "not answering"
