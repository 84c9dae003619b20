"""The holder's side of its unix socket: binding it privately, and one server connection (``ServerLink``).

A connection from another uid is closed at once (SO_PEERCRED). Each accepted one gets HELLO; ATTACH{offset}
attaches a ``Viewer`` whose reads go out as OUTPUT frames, and the server's ACKs are that viewer's
acknowledgements, so a server that stops acknowledging pauses the pty exactly as a stalled browser tab does
in-process. The ``Holder`` (``holder.py``) decides what a connection coming and going means.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import struct
from pathlib import Path
from typing import TYPE_CHECKING

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
    RESIZE,
    STOP,
    U16_PAIR,
    U32,
    U64,
    U64_PAIR,
    FrameReader,
    HolderRefused,
    ProtocolError,
    check_private_dir,
    frame,
    json_frame,
    load_json,
    output_header,
    peer_uid,
)
from app.terminals.viewer import Viewer

if TYPE_CHECKING:
    from app.terminals.holder import Holder

log = logging.getLogger("maestro.holder")

# How soon the server hears how much input the pty took (and, while some waits, how much is left). Not at once: a
# report per key would wake the server a second time for every echo; its estimate is an upper bound meanwhile.
INPUT_REPORT_S = 0.02


def listen(socket_path: Path) -> socket.socket:
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


class ServerLink(asyncio.Protocol):
    """One server connection: its frames handled, the output pumped to it from its viewer."""

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
        """A server connected: refused unless it runs as our uid, else it replaces any other and gets HELLO."""
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
        """Frames from the server; a bad one ends the connection (never the holder)."""
        if self.closed:
            return
        try:
            self._reader.feed(data)
        except (ProtocolError, ValueError, struct.error) as exc:
            log.warning("closing the server connection: %s", exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """The server went away (stopped, restarted or detached): the holder carries on without it."""
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
        """Queue a frame for the server (dropped once this connection is closed)."""
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
