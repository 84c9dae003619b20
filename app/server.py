"""Run Maestro under uvicorn in the foreground: bind, announce, open the browser, shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import re
import socket
import sys
import webbrowser
from collections.abc import Iterator

import uvicorn

from app import __version__
from app.home import RuntimeInfo, live_runtime, remove_runtime, write_runtime
from app.settings import Settings, host_has_port, is_loopback

log = logging.getLogger("maestro")
PORT_RETRIES = 20


class PortInUse(OSError):
    """The requested port is taken."""


def run_server(settings: Settings, *, open_browser: bool, port_explicit: bool) -> int:
    """Serve until Ctrl-C or SIGTERM; returns the process exit code (0 after a graceful shutdown)."""
    configure_logging()
    running = live_runtime(settings.home)
    if running is not None:
        print(f"Maestro is already running at {running.url} (pid {running.pid}).", file=sys.stderr)
        if open_browser:
            print("Use `maestro open` to open it in your browser.", file=sys.stderr)
        return 1
    try:
        sock = bind_socket(settings.host, settings.port, retries=0 if port_explicit else PORT_RETRIES)
    except PortInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = settings.with_port(sock.getsockname()[1])

    from app.web import create_app  # deferred: the CLI's other commands never load the server

    app = create_app(settings)
    server = _Server(
        uvicorn.Config(
            app,
            lifespan="on",
            access_log=False,  # an access log would record /?token=... login links
            log_config=None,
            proxy_headers=False,
            server_header=False,
            ws_per_message_deflate=False,
            ws_max_size=settings.max_body_bytes,
            ws_ping_interval=20.0,  # dead-peer detection for every WebSocket (event stream, terminals)
            ws_ping_timeout=20.0,
            timeout_graceful_shutdown=5,
        )
    )
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve(server, sock, settings, app, open_browser))
    except KeyboardInterrupt:
        pass
    finally:
        remove_runtime(settings.home, os.getpid())
        sock.close()
    return 0 if server.started else 1


def _loop_factory():
    """uvloop where available (measurably faster request handling), the standard loop elsewhere (Windows)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def bind_socket(host: str, port: int, *, retries: int) -> socket.socket:
    """Bind a listening socket, trying the next ports when the default one is taken."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    last_error: OSError | None = None
    for candidate in range(port, port + retries + 1) if port else [0]:
        sock = socket.socket(family, socket.SOCK_STREAM)
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), candidate))
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            last_error = exc
            continue
        # Accepted connections inherit this: without it, a response written as head + body stalls ~40 ms on
        # keep-alive connections (Nagle waiting for the client's delayed ACK).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock
    hint = "" if retries else " (pass --port 0 to use any free port)"
    raise PortInUse(f"port {port} on {host} is already in use{hint}") from last_error


def public_url(settings: Settings) -> str:
    """The URL users open: a loopback name, or the first allowed host when bound beyond loopback."""
    host = settings.host
    if not is_loopback(host):
        name = settings.allowed_hosts[0]
    elif host == "localhost":
        name = "127.0.0.1"
    else:
        name = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{name}/" if host_has_port(name) else f"http://{name}:{settings.port}/"


async def _serve(server: uvicorn.Server, sock: socket.socket, settings: Settings, app, open_browser: bool) -> None:
    announcer = asyncio.create_task(_announce(server, settings, app, open_browser))
    try:
        await server.serve(sockets=[sock])
    finally:
        announcer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await announcer
    log.info("Maestro stopped")


async def _announce(server: uvicorn.Server, settings: Settings, app, open_browser: bool) -> None:
    """Once the server answers: publish server.json, print the URL and open a logged-in browser."""
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.02)
    # Startup built hundreds of thousands of long-lived objects (NiceGUI, Litestar, Piccolo); freezing them keeps
    # the collector from re-scanning them on every full collection (those scans were the latency spikes).
    gc.freeze()
    url = public_url(settings)
    write_runtime(
        settings.home,
        RuntimeInfo(url=url, host=settings.host, port=settings.port, pid=os.getpid(), version=__version__),
    )
    print(f"Maestro {__version__} is running at {url}", flush=True)
    print(f"Data: {settings.home}    Stop: Ctrl-C or `maestro stop`", flush=True)
    if open_browser:
        token, _ = app.policy.issue_login_token()
        await asyncio.to_thread(webbrowser.open, f"{url}?token={token}")
    else:
        print("Open it signed in: `maestro open` (or `maestro url --login` for a link).", flush=True)


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal that stopped it; after a graceful shutdown we exit 0 instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


class _RedactTokens(logging.Filter):
    """Defence in depth: no log line may carry a token, even from a library."""

    pattern = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message.lower():
            record.msg, record.args = self.pattern.sub(r"\1[redacted]", message), None
        return True


class _DropDenialHandshakeError(logging.Filter):
    """uvicorn logs a refused WebSocket (an HTTP denial response sent by the gate) as an ASGI error; it is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


def configure_logging(level: int = logging.INFO) -> None:
    """One plain, timestamped format for Maestro, uvicorn and Litestar."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(_RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.error").addFilter(_DropDenialHandshakeError())
    for noisy in ("httpx", "httpcore", "nicegui", "asyncio", "aiosqlite", "piccolo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
