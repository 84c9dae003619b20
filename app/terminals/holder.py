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
  exactly as a stalled browser tab does in-process. Without a server the pty is drained into the ring, as always.
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
import socket
import stat
import struct
import sys
import time
from pathlib import Path

from app.terminals.holder_protocol import (
    ACK,
    ATTACH,
    ATTACHED,
    COLLECT,
    EXITED,
    FLOW,
    FLUSH,
    FLUSHED,
    GAP,
    HELLO,
    INPUT,
    INPUT_REFUSED,
    INPUT_STATE,
    NO_LIMIT,
    REPLACED,
    RESIZE,
    STOP,
    U16_PAIR,
    U32,
    U64,
    U64_PAIR,
    VERSION,
    FrameReader,
    HolderRefused,
    HolderSpec,
    ProtocolError,
    check_private_dir,
    frame,
    json_frame,
    load_json,
    output_header,
    peer_uid,
)
from app.terminals.process import process_start_time
from app.terminals.pty_host import ProgramNotFoundError, Terminal
from app.terminals.viewer import Viewer

log = logging.getLogger("maestro.holder")

# How soon the server hears how much input the pty took (and, while some waits, how much is left). Not at once: a
# report per key would wake the server a second time for every echo; its estimate is an upper bound meanwhile.
INPUT_REPORT_S = 0.02
RECORDING_FLUSH_S = 1.0  # a killed holder loses at most this much of the recording
SOCKET_CHECK_S = 1.0  # how often the holder checks that its socket is still there to be found


def _listen(socket_path: Path) -> socket.socket:
    """Bind the socket (mode 0600) in its private directory. The holder works in that directory and binds the bare
    name, so a long MAESTRO_HOME never meets the 108-byte limit of a unix socket address."""
    directory, name = socket_path.parent, socket_path.name
    check_private_dir(directory)
    os.chdir(directory)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(name).st_mode):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(name)
            except OSError:
                os.unlink(name)  # left by a holder that died: nobody serves it
            else:
                raise HolderRefused(f"another holder serves {socket_path}")
            finally:
                probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(name)
    finally:
        os.umask(old_umask)
    os.chmod(name, 0o600)
    sock.listen(4)
    sock.setblocking(False)
    return sock


class _Link(asyncio.Protocol):
    """One server connection."""

    def __init__(self, holder: Holder) -> None:
        self._holder = holder
        self._reader = FrameReader(self._handle)
        self.transport: asyncio.Transport | None = None
        self.viewer: Viewer | None = None
        self._pump: asyncio.Task[None] | None = None
        self.input_received = 0
        self._input_report: asyncio.Handle | None = None
        self.closed = False
        self._paused = False  # what the server was last told of flow control
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # the connection ended

    # ------------------------------------------------------------------------------------------ connection
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport
        try:
            peer_pid, uid = peer_uid(transport.get_extra_info("socket"))
        except OSError:
            peer_pid, uid = 0, -1
        if uid != os.getuid():
            log.warning(
                "refused a connection from pid %s, uid %s (only uid %s may connect)", peer_pid, uid, os.getuid()
            )
            self.closed = True
            transport.abort()
            return
        self._holder.connected(self)
        transport.write(json_frame(HELLO, self._holder.hello()))

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._reader.feed(data)
        except (ProtocolError, ValueError, struct.error) as exc:
            log.warning("closing the server connection: %s", exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()
        if not self.gone.done():
            self.gone.set_result(None)
        self._holder.disconnected(self)

    def close(self, last_words: bytes = b"") -> None:
        """End this connection (after ``last_words`` and what is queued): its viewer no longer holds the pty back."""
        if self.closed and self.viewer is None:
            return
        self.closed = True
        self._stop_pump()
        if self._input_report is not None:
            self._input_report.cancel()
        if self.transport is not None:
            if last_words:
                self.transport.write(last_words)
            self.transport.close()

    async def finish_output(self, timeout: float) -> None:
        """Let the output pump send what is left (and EXITED), then close and wait until the server has it all."""
        if self._pump is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._pump), timeout)
        self.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.gone), timeout)

    def send(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    # ------------------------------------------------------------------------------------------ frames
    def _handle(self, kind: int, payload: memoryview) -> None:
        holder, terminal = self._holder, self._holder.terminal
        if kind == ACK:
            if self.viewer is not None:
                self.viewer.ack(U64.unpack(payload)[0])
                self._report_flow()
        elif kind == INPUT:
            limit = U32.unpack_from(payload)[0]
            data = bytes(payload[4:])
            self.input_received += len(data)
            if not terminal.write(data, None if limit == NO_LIMIT else limit):
                self.send(frame(INPUT_REFUSED, U64.pack(len(data))))
            self._schedule_input_report()
        elif kind == ATTACH:
            self._attach(U64.unpack(payload)[0])
        elif kind == RESIZE:
            terminal.resize(*U16_PAIR.unpack(payload))
        elif kind == STOP:
            holder.stop_child(float(load_json(payload).get("grace", holder.spec.stop_grace_s)))
        elif kind == FLUSH:
            terminal.flush_recording()
            self.send(frame(FLUSHED))
        elif kind == COLLECT:
            holder.collected()
        else:
            raise ProtocolError(f"unknown frame type {kind}")

    def _attach(self, offset: int) -> None:
        terminal = self._holder.terminal
        self._stop_pump()
        # Where the scrollback still has it (at a line start when it was cut), so the server's mirror starts there
        # rather than hearing of a gap after its viewers attached. ValueError (closing us) past the end.
        start = terminal.output_since(offset, 0)[0]
        self.viewer = terminal.attach(start)
        self._holder.first_attached()
        self.send(frame(ATTACHED, U64.pack(start)))
        self._paused = False
        self._report_flow()
        self._pump = asyncio.ensure_future(self._send_output(self.viewer))

    def _report_flow(self) -> None:
        """Tell the server when the pty's reading pauses or resumes (what ``HeldTerminal.paused`` says)."""
        paused = self._holder.terminal.paused
        if paused != self._paused:
            self._paused = paused
            self.send(frame(FLOW, b"\x01" if paused else b"\x00"))

    def _stop_pump(self) -> None:
        if self.viewer is not None:
            self.viewer.detach()
            self.viewer = None
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None

    async def _send_output(self, viewer: Viewer) -> None:
        terminal = self._holder.terminal
        transport = self.transport
        assert transport is not None
        while (chunk := await viewer.read()) is not None:
            if viewer.gap is not None:
                transport.write(frame(GAP, U64_PAIR.pack(*viewer.gap)))
            # Header and bytes in one call: uvloop sends both with one writev, without copying the chunk.
            transport.writelines((output_header(viewer.offset - len(chunk), len(chunk)), chunk))
            self._report_flow()
        if not viewer.detached and terminal.finished:
            transport.write(json_frame(EXITED, {"code": terminal.exit_code}))

    def _schedule_input_report(self) -> None:
        if self._input_report is None and not self.closed:
            self._input_report = asyncio.get_running_loop().call_later(INPUT_REPORT_S, self._report_input)

    def _report_input(self) -> None:
        # The server bounds what it sends by what it knows is queued here (see HeldTerminal.write).
        self._input_report = None
        pending = self._holder.terminal.input_pending
        self.send(frame(INPUT_STATE, U64_PAIR.pack(self.input_received, pending)))
        if pending:
            self._schedule_input_report()


class Holder:
    """Runs one program in a pty and serves it to the server over a unix socket (see the module docstring)."""

    def __init__(self, spec: HolderSpec) -> None:
        self.spec = spec
        self.socket_path = Path(spec.socket_path)
        self.terminal: Terminal = None  # type: ignore[assignment]  # set by start
        self.start_time: int | None = None
        self._link: _Link | None = None
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
        listener = _listen(self.socket_path)
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
            self._server = await loop.create_unix_server(lambda: _Link(self), sock=listener)
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
    def connected(self, link: _Link) -> None:
        """A server connected: it replaces the one before (which restarted, or lost its connection)."""
        old, self._link = self._link, link
        if old is not None:
            log.info("a new server connection replaces the old one")
            old.close(last_words=frame(REPLACED))
        self._cancel_timer()

    def disconnected(self, link: _Link) -> None:
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
        self._no_server()  # with a server connected, EXITED follows the output (see _Link._send_output)

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
    """Entry point: ``python -m app.terminals.holder SPEC``; prints ``ok HOLDER_PID PID START_TIME`` or ``error …``."""
    if len(args) != 1:
        print("usage: python -m app.terminals.holder SPEC", file=sys.stderr)
        return 2
    # Descriptors the server's loop let us inherit (uvloop leaves one of its pipes open across exec) would be held
    # for the holder's whole life, and a server waiting for them to close would wait for ever.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    try:
        spec = _read_spec(Path(args[0]))
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
