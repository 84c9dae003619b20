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
import threading
from collections.abc import Iterator

import uvicorn

from app import __version__
from app.desktop import open_ui
from app.errors import Unavailable
from app.home import RuntimeInfo, live_runtime, remove_runtime, write_runtime
from app.resources import maestro_command
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
            print(f"Use `{maestro_command(os.environ.get('PATH'))} open` to open it in your browser.", file=sys.stderr)
        return 1
    try:
        sock = bind_socket(settings.host, settings.port, retries=0 if port_explicit else PORT_RETRIES)
    except PortInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = settings.with_port(sock.getsockname()[1])

    from app.web import create_app  # deferred: the CLI's other commands never load the server

    app = create_app(settings)
    watched = _StartupWatch(app)
    server = _Server(
        uvicorn.Config(
            watched,
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
    except SystemExit:  # uvicorn's answer to a failed startup; reported below, with its cause
        if server.started:
            raise
    finally:
        remove_runtime(settings.home, os.getpid())
        sock.close()
    if server.started:
        return 0
    _report_failed_start(watched.failure)
    return 1


class _StartupWatch:
    """Passes everything to the app, keeping the reason the app gives uvicorn when its startup fails."""

    def __init__(self, app) -> None:
        self.app = app
        self.failure: str | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_watched(message) -> None:
            if message["type"] == "lifespan.startup.failed":
                self.failure = message.get("message") or ""
            await send(message)

        await self.app(scope, receive, send_watched)


def _report_failed_start(failure: str | None) -> None:
    """Say why on stderr, then make sure the process really ends.

    A library may leave a non-daemon thread behind after a half-done startup (aiosqlite did); the interpreter
    would wait for it forever, leaving a process alive and not listening. A start that failed has nothing to save,
    so in that case it ends at once.
    """
    cause = startup_cause(failure or "")
    print(f"error: Maestro could not start: {cause}", file=sys.stderr, flush=True)
    stray = [t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    if stray:
        log.warning("threads left by the failed start: %s; exiting anyway", ", ".join(stray))
        logging.shutdown()
        sys.stdout.flush()
        os._exit(1)


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Refused|Unavailable|Timeout\w*))(?::\s*(.*))?$")


def startup_cause(traceback_text: str) -> str:
    """The last raised exception in a formatted traceback (exception groups included), as `Type: message`."""
    cause = ""
    for raw in traceback_text.splitlines():
        line = raw.strip().lstrip("|").strip()
        match = _EXCEPTION_LINE.match(line)
        if match and not match.group(1).endswith("ExceptionGroup"):
            cause = line
    return cause or "the application's startup failed (see the log above)"


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
    command = maestro_command(os.environ.get("PATH"))
    print(f"Maestro {__version__} is running at {url}", flush=True)
    print(f"Data: {settings.home}    Stop: Ctrl-C or `{command} stop`", flush=True)
    if open_browser:
        token, _ = app.policy.issue_login_token()
        link = f"{url}?token={token}"
        opened = await asyncio.to_thread(open_ui, link, dict(os.environ))
        if opened == "none":  # SSH, no display: the single-use link is the way in
            print(f"No browser can be opened here. Sign in with this link (valid 2 minutes, once):\n{link}", flush=True)
    else:
        print(f"Open it signed in: `{command} open` (or `{command} url --login` for a link).", flush=True)


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


class _OutagesWithoutTraceback(logging.Filter):
    """A storage outage (`Unavailable`) is an operating condition, not a bug: any component that logs one (the
    event hub's poll, the activity monitor) gets one line naming the cause instead of a traceback per attempt."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, Unavailable):
            record.msg, record.args = f"{record.getMessage()}: {exc.detail}", None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class _DropDenialHandshakeError(logging.Filter):
    """uvicorn logs a refused WebSocket (an HTTP denial response sent by the gate) as an ASGI error; it is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


def configure_logging(level: int = logging.INFO) -> None:
    """One plain, timestamped format for Maestro, uvicorn and Litestar."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(_OutagesWithoutTraceback())
    handler.addFilter(_RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.error").addFilter(_DropDenialHandshakeError())
    for noisy in ("httpx", "httpcore", "nicegui", "asyncio", "aiosqlite", "piccolo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
