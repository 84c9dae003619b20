"""`maestro session attach`: this terminal becomes a running session's terminal, like `tmux attach` (docs/cli.md).

Raw mode, so every key (Ctrl-C, Ctrl-Z, Ctrl-D…) goes to the session; its output comes back through the terminal
WebSocket with flow-control acks; window resizes follow; one escape key detaches and leaves the session running.
The terminal's mode is restored however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import click
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from app.cli.common import SESSION_ID, api_client
from app.cli.errors import Refused, Unreachable
from app.models import close_codes
from app.models.common import ENDED_STATUSES

try:
    import termios
    import tty
except ImportError:  # Windows has no termios: attach says so instead of failing on import
    termios = tty = None  # type: ignore[assignment]

DEFAULT_ESCAPE = "^]"
# What a program may have switched on in the terminal that the shell would suffer from after a detach: colours, a
# hidden cursor, mouse reporting, focus events, bracketed paste, application cursor keys and keypad. Switching these
# off is harmless when they were off; the alternate screen is left only when the output entered it (leaving it also
# restores a saved cursor position, which must not happen otherwise).
RESET = b"\x1b[0m\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1004l\x1b[?2004l\x1b[?1l\x1b>"
ALT_SCREEN = {b"\x1b[?1049h": True, b"\x1b[?1047h": True, b"\x1b[?47h": True}
ALT_SCREEN |= {key[:-1] + b"l": False for key in list(ALT_SCREEN)}
LEAVE_ALT_SCREEN = b"\x1b[?1049l"
# Close codes that mean the server went away, not that it refused: exit code 3.
GONE = {
    close_codes.SERVICE_RESTART: "Maestro is shutting down or restarting",
    close_codes.INTERNAL_ERROR: "the terminal stream failed on the server",
    1001: "the server is going away",
    1006: "the connection dropped",
}


@dataclass
class Outcome:
    """How an attachment ended."""

    kind: str  # detached | ended | closed | refused | lost
    exit_code: int | None = None
    close_code: int | None = None
    reason: str = ""


def _control_key(ctx: click.Context, param: click.Parameter, spec: str) -> str:
    if len(spec) != 2 or spec[0] != "^" or not ("@" <= spec[1].upper() <= "_"):
        raise click.BadParameter(f"'{spec}' is not a control key like ^] or ^B (^@ to ^_)", ctx=ctx, param=param)
    return spec


def escape_keys(spec: str) -> tuple[bytes, ...]:
    """The bytes a terminal may send for the escape key `^X`: the control byte, and the forms a program may have
    asked the terminal for (the kitty keyboard protocol, xterm's modifyOtherKeys)."""
    char = spec[1].upper()
    code = ord(char.lower()) if char.isalpha() else ord(char)
    return (bytes([ord(char) - 64]), f"\x1b[{code};5u".encode(), f"\x1b[27;5;{code}~".encode())


def key_name(spec: str) -> str:
    """`^]` as a person reads it: Ctrl-]."""
    return f"Ctrl-{spec[1].upper()}"


@click.command("attach")
@click.argument("session_id", type=SESSION_ID)
@click.option(
    "--escape",
    "escape",
    default=DEFAULT_ESCAPE,
    show_default=True,
    metavar="^X",
    callback=_control_key,
    help="The key that detaches (a control key: ^] is Ctrl-], ^B is Ctrl-B). Every other key goes to the session.",
)
def attach(session_id: str, escape: str) -> None:
    """Attach this terminal to a running session: type into it, see its output and scrollback; Ctrl-] detaches.

    Detaching leaves the session running. Ctrl-C, Ctrl-Z and Ctrl-D go to the session, not to this command.
    """
    keys = escape_keys(escape)
    if termios is None:
        raise Refused("attach needs a POSIX terminal (termios); use the browser's terminal on this system")
    if not (os.isatty(sys.stdin.fileno()) and os.isatty(sys.stdout.fileno())):
        raise click.UsageError("attach needs an interactive terminal: its stdin and stdout must be a tty")
    with api_client() as client:
        session = client.get(f"/sessions/{session_id}")
        if session["status"] in ENDED_STATUSES:
            raise Refused(f"session {session_id} has ended ({_ending(session)}): there is nothing to attach to")
        url = client.target.url.replace("http", "ws", 1) + f"/api/v1/sessions/{session_id}/terminal"
        token = client.target.token
        name = _printable(session["name"])
        hint = f"attached to {name} ({session_id}); {key_name(escape)} detaches, the session keeps running"
        terminal = Terminal(sys.stdin.fileno(), sys.stdout.fileno(), keys, click.style(hint, dim=True))
        with terminal.raw():
            outcome = asyncio.run(terminal.attach(url, token))
        if outcome.kind == "ended":
            with contextlib.suppress(Exception):
                session = client.get(f"/sessions/{session_id}")
    _finish(session_id, session, outcome)


def _finish(session_id: str, session: dict, outcome: Outcome) -> None:
    """Say how it ended; the exit code: 0 detached or ended, 1 refused, 3 the server went away."""
    if outcome.kind == "detached":
        click.echo(
            f"detached from {session_id}; it keeps running (`maestro session attach {session_id}` returns)", err=True
        )
        return
    if outcome.kind == "ended":
        if session.get("exit_code") is None:
            session = {**session, "status": "ended", "exit_code": outcome.exit_code}
        click.echo(f"session {session_id} ended: {_ending(session)}", err=True)
        return
    if outcome.kind == "refused":
        raise Refused(outcome.reason)
    if outcome.kind == "lost":
        raise Unreachable(f"lost the connection to Maestro: {outcome.reason}")
    code, reason = outcome.close_code, outcome.reason
    if code in GONE:
        raise Unreachable(f"lost the terminal of {session_id}: {reason or GONE[code]} [close {code}]")
    if code == close_codes.NO_TERMINAL:
        reason = f"session {session_id} has no running terminal here: it ended, or runs on another Maestro instance"
    raise Refused(f"{reason or 'the server closed the terminal'} [close {code}]")


def _ending(session: dict) -> str:
    code = session.get("exit_code")
    return session["status"] + (f", exit code {code}" if code is not None else "")


class Terminal:
    """The local terminal attached to one session's terminal WebSocket."""

    def __init__(self, fd_in: int, fd_out: int, escape: tuple[bytes, ...], hint: str) -> None:
        self.fd_in = fd_in
        self.fd_out = fd_out
        self.escape = escape
        self.hint = hint  # shown once attached: from then on, keys go to the session
        self.size: os.terminal_size | None = None
        self.alt_screen = False
        self._tail = b""  # the end of the last output, where an escape sequence may have been cut in two
        self._outgoing: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self._detach = False

    @contextlib.contextmanager
    def raw(self) -> Iterator[None]:
        """Raw mode while attached; on every way out, the program's terminal modes undone and the saved mode back."""
        saved = termios.tcgetattr(self.fd_in)
        try:
            tty.setraw(self.fd_in, termios.TCSANOW)
            yield
        finally:
            with contextlib.suppress(OSError):
                self._write(RESET + (LEAVE_ALT_SCREEN if self.alt_screen else b"") + b"\r\n")
            termios.tcsetattr(self.fd_in, termios.TCSADRAIN, saved)

    async def attach(self, url: str, token: str | None) -> Outcome:
        """Connect, pump keys and output until detached, the session ends or the connection does."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            # No compression: the server is local, and deflating every frame would only cost CPU on both ends.
            async with connect(url, additional_headers=headers, max_size=None, compression=None) as socket:
                return await self._attached(socket)
        except InvalidStatus as exc:
            return Outcome("refused", reason=_refusal(exc))
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            return Outcome("lost", reason=str(exc) or type(exc).__name__)

    async def _attached(self, socket: ClientConnection) -> Outcome:
        loop = asyncio.get_running_loop()
        self._resized()
        loop.add_reader(self.fd_in, self._on_input)
        handlers = {
            signal.SIGWINCH: self._resized,
            signal.SIGINT: lambda: self._outgoing.put_nowait(b"\x03"),  # a Ctrl-C from `kill` goes where keys go
            signal.SIGTERM: self._request_detach,
            signal.SIGHUP: self._request_detach,
        }
        for signum, handler in handlers.items():
            loop.add_signal_handler(signum, handler)
        self._write(self.hint.encode() + b"\r\n")  # from here on, keys and signals are handled as it says
        sender = asyncio.create_task(self._send(socket))
        exit_code = None
        try:
            exit_code = await self._receive(socket)
        except ConnectionClosed:
            pass
        finally:
            loop.remove_reader(self.fd_in)
            for signum in handlers:
                loop.remove_signal_handler(signum)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
        if exit_code is not None:
            return Outcome("ended", exit_code=exit_code)
        if self._detach:
            return Outcome("detached")
        received = socket.protocol.close_rcvd
        if received is None:
            return Outcome("lost", close_code=1006, reason="the connection dropped")
        return Outcome("closed", close_code=received.code, reason=received.reason)

    async def _receive(self, socket: ClientConnection) -> int | None:
        """Output to the terminal, each frame acknowledged once written; the program's exit code when it ends."""
        exit_code = None
        async for message in socket:
            if isinstance(message, bytes):
                self._output(message)
                self._outgoing.put_nowait(json.dumps({"type": "ack", "bytes": len(message)}))
                continue
            with contextlib.suppress(ValueError):
                frame = json.loads(message)
                if frame.get("type") == "gap":
                    self._write(f"\r\n[… {frame.get('bytes')} bytes of output dropped …]\r\n".encode())
                elif frame.get("type") == "exit":
                    exit_code = frame.get("exit_code")
        return exit_code

    async def _send(self, socket: ClientConnection) -> None:
        """The one writer of the socket, so keys, resizes and acks leave in the order they were made."""
        while (item := await self._outgoing.get()) is not None:
            await socket.send(item)
        await socket.close()

    def _on_input(self) -> None:
        try:
            data = os.read(self.fd_in, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # the terminal itself went away
        if not data:
            self._request_detach()
            return
        self._resized()  # a resize made before these keys were typed reaches the session before them
        cut = min((i for i in (data.find(key) for key in self.escape) if i >= 0), default=-1)
        if cut >= 0:
            if cut:
                self._outgoing.put_nowait(data[:cut])
            self._request_detach()
            return
        self._outgoing.put_nowait(data)

    def _resized(self) -> None:
        with contextlib.suppress(OSError):
            size = os.get_terminal_size(self.fd_out)
            if size != self.size:
                self.size = size
                self._outgoing.put_nowait(json.dumps({"type": "resize", "cols": size.columns, "rows": size.lines}))

    def _request_detach(self) -> None:
        if not self._detach:
            self._detach = True
            self._outgoing.put_nowait(None)  # the sender closes the socket after what is queued before it

    def _output(self, data: bytes) -> None:
        seen = self._tail + data
        last = max(ALT_SCREEN, key=seen.rfind)
        if seen.rfind(last) >= 0:
            self.alt_screen = ALT_SCREEN[last]
        self._tail = seen[-16:]
        try:
            self._write(data)
        except OSError:
            self._request_detach()  # nowhere to show it: the terminal is gone

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd_out, view) :]
            except BlockingIOError:
                select.select([], [self.fd_out], [])


def _refusal(exc: InvalidStatus) -> str:
    """Why the server refused the upgrade: its own words when it sent them, else what a 401/403 means here."""
    status = exc.response.status_code
    with contextlib.suppress(ValueError, TypeError, KeyError):
        return f"{_printable(json.loads(exc.response.body)['detail'])} [HTTP {status}]"
    if status == 403 and os.environ.get("MAESTRO_TOKEN"):
        return f"this token may not attach (terminals are the user's, not a session's) [HTTP {status}]"
    if status == 401:
        return f"the token was not accepted [HTTP {status}]"
    return f"the server refused the terminal [HTTP {status}]"


def _printable(value: object) -> str:
    """Untrusted text (a session name, a server's reason) without control characters: shown, never obeyed."""
    return "".join(c if c.isprintable() else "?" for c in str(value))
