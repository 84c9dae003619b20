"""The holder: a small process that owns one session's pty, so the agent outlives the server.

Run as ``python -m app.terminals.holder SPEC`` (the server does it; see ``app.terminals.held``). SPEC is a 0600 JSON
file (``HolderSpec``) that the holder deletes once read: the child's environment carries the session token.

- Start: the launched process reads the spec, forks and waits; the fork (the holder, re-parented away from the
  server) checks the socket's directory (ours, mode 0700), binds the unix socket (0600), spawns the program with the
  pty host's ``Terminal`` and tells the launcher ``ok`` (or ``error <kind> <message>``), which prints it and exits.
  So the server learns at once whether the holder runs, and never has a holder as its child to reap.
- Serving: one server connection at a time, from our own uid only (SO_PEERCRED); a new one replaces the old (the
  server restarted). Each connection gets HELLO; ATTACH{offset} attaches a ``Viewer`` whose reads go out as OUTPUT
  frames, the server's ACKs are that viewer's acknowledgements, so a server that stops acknowledging pauses the pty
  exactly as a stalled browser tab does in-process (``holder_link.py``). Without a server the pty is drained into
  the ring, as always.
- Exit: EXITED{code} follows the last output. The exit status is kept until a server sends COLLECT (then the holder
  exits), or until no server was connected for ``exit_wait_s``. With ``orphan_grace_s`` set, a child left without
  a server that long is stopped (HUP, TERM, KILL). SIGTERM stops the child (a connected server still hears the
  output and EXITED) and exits without waiting to be collected; so does a holder whose socket file is removed (no
  server could ever find it again). The holder never listens on TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from app.terminals.holder_link import ServerLink, listen
from app.terminals.holder_protocol import REPLACED, VERSION, HolderRefused, HolderSpec, frame
from app.terminals.process import process_start_time
from app.terminals.pty_host import ProgramNotFoundError, Terminal
from app.terminals.viewer import Viewer

log = logging.getLogger("maestro.holder")
FORK_SERVER = "--fork-server"

RECORDING_FLUSH_S = 1.0  # a killed holder loses at most this much of the recording
SOCKET_CHECK_S = 1.0  # how often the holder checks that its socket is still there to be found


class Holder:
    """Runs one program in a pty and serves it to the server over a unix socket (see the module docstring)."""

    def __init__(self, spec: HolderSpec) -> None:
        self.spec = spec
        self.socket_path = Path(spec.socket_path)
        self.terminal: Terminal = None  # type: ignore[assignment]  # set by start
        self.start_time: int | None = None
        self._link: ServerLink | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._done: asyncio.Future[None] | None = None
        self._stopping: asyncio.Task[int] | None = None
        self._server: asyncio.AbstractServer | None = None
        self._flushed_at = 0
        # Until the server first attaches, a viewer that never reads holds the program back as the server's first
        # viewer would in-process: a program flooding at once loses nothing before the server sees it.
        self._placeholder: Viewer | None = None
        self._socket_id: tuple[int, int] | None = None  # (device, inode) of the socket bound

    async def start(self) -> None:
        """Bind the socket and spawn the program; HolderRefused, ProgramNotFoundError or OSError when it cannot."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        listener = listen(self.socket_path)
        self._socket_id = _file_id(self.socket_path)
        spec = self.spec
        try:
            self.terminal = Terminal.spawn(
                spec.argv,
                cwd=spec.cwd,
                env=spec.env,
                cols=spec.cols,
                rows=spec.rows,
                scrollback_bytes=spec.scrollback_bytes,
                recording_path=Path(spec.recording_path) if spec.recording_path else None,
                recording_max_bytes=spec.recording_max_bytes,
                on_exit=self._child_exited,
            )
            self.start_time = process_start_time(self.terminal.pid)
            self._placeholder = self.terminal.attach(0)
            self._server = await loop.create_unix_server(lambda: ServerLink(self), sock=listener)
        except BaseException:
            listener.close()
            with contextlib.suppress(OSError):
                os.unlink(self.socket_path.name)
            raise
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._terminate)
        loop.call_later(RECORDING_FLUSH_S, self._flush_recording)
        loop.call_later(SOCKET_CHECK_S, self._check_socket)
        self._no_server()

    async def serve(self) -> None:
        """Until collected (or given up, or told to terminate): then a child still running is stopped, a connected
        server gets the rest of the output and EXITED, and everything is closed."""
        assert self._done is not None
        await self._done
        if self._server is not None:
            self._server.close()  # no new connections
        if not self.terminal.finished:
            await self.terminal.stop(self.spec.stop_grace_s)
        if self._link is not None:
            await self._link.finish_output(timeout=2.0)
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path.name)

    def hello(self) -> dict[str, object]:
        """What a connecting server learns first: who runs, how much output there is, whether it ended."""
        terminal, now = self.terminal, time.monotonic()
        return {
            "version": VERSION,
            "holder_pid": os.getpid(),
            "pid": terminal.pid,
            "start_time": self.start_time,
            "output_bytes": terminal.output_bytes,
            "first": terminal.output_since(0, 0)[0],  # the oldest scrollback kept (at a line start once cut)
            "scrollback_bytes": self.spec.scrollback_bytes,
            "cols": terminal.cols,
            "rows": terminal.rows,
            "exit_code": terminal.exit_code if terminal.finished else None,
            "output_age_s": now - terminal.last_output_at,
            "input_age_s": now - terminal.last_input_at if terminal.last_input_at else None,
        }

    # ------------------------------------------------------------------------------------------ server coming and going
    def connected(self, link: ServerLink) -> None:
        """A server connected: it replaces the one before (which restarted, or lost its connection)."""
        old, self._link = self._link, link
        if old is not None:
            log.info("a new server connection replaces the old one")
            old.close(last_words=frame(REPLACED))
        self._cancel_timer()

    def disconnected(self, link: ServerLink) -> None:
        """A server connection ended (the server stopped, restarted or detached)."""
        if link is self._link:
            self._link = None
            self.first_attached()  # or never will: nothing may hold the program back without a server
            self._no_server()

    def first_attached(self) -> None:
        """The server's own viewer is attached (or the server went away): the placeholder lets go."""
        if self._placeholder is not None:
            self._placeholder.detach()
            self._placeholder = None

    def _no_server(self) -> None:
        if self._link is not None or self._done is None or self._done.done():
            return
        if self.terminal.finished:
            self._arm(self.spec.exit_wait_s, self._give_up)
        elif self.spec.orphan_grace_s is not None:
            self._arm(self.spec.orphan_grace_s, self._orphaned)

    def _arm(self, delay: float, callback) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _orphaned(self) -> None:
        self._timer = None
        if self._link is None and not self.terminal.finished:
            log.warning("no server for %ss: stopping pid %s", self.spec.orphan_grace_s, self.terminal.pid)
            self.stop_child(self.spec.stop_grace_s)

    def _give_up(self) -> None:
        self._timer = None
        log.warning("exit of pid %s not collected within %ss: exiting", self.terminal.pid, self.spec.exit_wait_s)
        self._finish()

    # ------------------------------------------------------------------------------------------ child
    def stop_child(self, grace: float) -> None:
        """HUP, TERM, KILL the child's group and session (the exit is reported as usual)."""
        if self._stopping is None and not self.terminal.finished:
            self._stopping = asyncio.ensure_future(self.terminal.stop(grace))

    def _child_exited(self, code: int) -> None:
        log.info("pid %s exited with %s", self.terminal.pid, code)
        self.terminal.flush_recording()
        self._no_server()  # with a server connected, EXITED follows the output (see ServerLink._send_output)

    def collected(self) -> None:
        """The server recorded the exit: nothing is left to keep (the log included: the session ended normally)."""
        if self.spec.log_path:
            with contextlib.suppress(OSError):
                os.unlink(self.spec.log_path)
        self._finish()

    def _terminate(self) -> None:
        log.info("terminated by signal: stopping pid %s", self.terminal.pid)
        self._finish()

    def _finish(self) -> None:
        self._cancel_timer()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _check_socket(self) -> None:
        # Removed or replaced (its MAESTRO_HOME deleted, a test's directory cleaned up): no server can ever find this
        # holder again, so nothing it runs may go on unseen, and no exit status is worth keeping.
        if _file_id(self.socket_path) != self._socket_id and self._link is None:
            log.warning("socket %s is gone: stopping pid %s and exiting", self.socket_path, self.terminal.pid)
            self._finish()
        elif self._done is not None and not self._done.done():
            asyncio.get_running_loop().call_later(SOCKET_CHECK_S, self._check_socket)

    def _flush_recording(self) -> None:
        if self.terminal.finished:
            return
        if self.terminal.output_bytes != self._flushed_at:
            self._flushed_at = self.terminal.output_bytes
            self.terminal.flush_recording()
        asyncio.get_running_loop().call_later(RECORDING_FLUSH_S, self._flush_recording)


# ---------------------------------------------------------------------------------------------- process
def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a file, None when it is gone."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _read_spec(path: Path) -> HolderSpec:
    """Read and delete the spec (it holds the session's environment, token included)."""
    try:
        data = path.read_bytes()
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    return HolderSpec.loads(data)


def _redirect_stdio(log_path: str | None) -> None:
    """Standard input from /dev/null, output and errors to the log (or /dev/null): nothing ties us to the server."""
    null = os.open(os.devnull, os.O_RDWR)
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log_path else null
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    for fd in {null, out}:
        if fd > 2:
            os.close(fd)


def _error_words(exc: BaseException) -> str:
    if isinstance(exc, ProgramNotFoundError):
        return f"error program {exc.program}"
    if isinstance(exc, NotADirectoryError):
        return f"error cwd {exc.filename}"
    if isinstance(exc, HolderRefused):
        return f"error refused {exc}"
    return f"error other {type(exc).__name__}: {exc}"


async def _run(spec: HolderSpec, ready_fd: int) -> int:
    holder = Holder(spec)
    try:
        await holder.start()
    except Exception as exc:
        log.error("cannot start: %s", exc)
        os.write(ready_fd, _error_words(exc).encode(errors="replace")[:4000])
        os.close(ready_fd)
        return 1
    try:
        os.write(ready_fd, f"ok {os.getpid()} {holder.terminal.pid} {holder.start_time}".encode())
        os.close(ready_fd)
    except OSError:  # the launcher is gone: the server gave up on this start, nobody will ever connect
        log.error("the server went away while the holder started: stopping pid %s", holder.terminal.pid)
        holder.collected()
    await holder.serve()
    return 0


def _event_loop_runner() -> asyncio.Runner:
    """uvloop where available (as the server runs), the standard loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def main(args: list[str]) -> int:
    """Entry point: ``python -m app.terminals.holder SPEC``; prints ``ok HOLDER_PID PID START_TIME`` or ``error …``.

    ``python -m app.terminals.holder --fork-server FD SOCKET_DIR`` runs the fork server instead
    (``app.terminals.holder_forks``): the same start, forked from a process that has already imported all of this."""
    if len(args) == 3 and args[0] == FORK_SERVER:
        from app.terminals.holder_forks import serve_forks

        return serve_forks(int(args[1]))
    if len(args) != 1:
        print("usage: python -m app.terminals.holder SPEC", file=sys.stderr)
        return 2
    # Descriptors the server's loop let us inherit (uvloop leaves one of its pipes open across exec) would be held
    # for the holder's whole life, and a server waiting for them to close would wait for ever.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    return start_holder(args[0])


def start_holder(spec_path: str) -> int:
    """Read the spec, fork the holder and print its first words (this process is the launcher; it then exits)."""
    try:
        spec = _read_spec(Path(spec_path))
    except (OSError, ValueError) as exc:
        print(f"error spec {exc}", flush=True)
        return 1
    read_fd, ready_fd = os.pipe()
    if os.fork():  # the launcher: relay the holder's first words, then exit (the holder is nobody's child to reap)
        os.close(ready_fd)
        words = bytearray()
        while chunk := os.read(read_fd, 4096):
            words += chunk
        answer = words.decode(errors="replace") or "error other the holder died while starting"
        print(answer, flush=True)
        return 0 if answer.startswith("ok ") else 1
    os.close(read_fd)
    _redirect_stdio(spec.log_path)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s holder[{os.getpid()}] %(levelname)s %(message)s", stream=sys.stderr
    )
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # no terminal of our own; the server's session ending is no reason
    try:
        with _event_loop_runner() as runner:
            return runner.run(_run(spec, ready_fd))
    except Exception:
        log.exception("the holder failed")
        with contextlib.suppress(OSError):
            os.unlink(Path(spec.socket_path))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
