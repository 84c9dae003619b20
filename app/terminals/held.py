"""A terminal whose pty lives in a holder process (``app.terminals.holder``), seen from the server.

``HeldTerminal`` offers what the server uses of ``Terminal`` (attach, write, resize, stop, wait, the counters and
the viewer protocol), so browser tabs and CLI attaches work on it unchanged; the program keeps running when the
server goes away (``detach``), and a restarted server finds it again (``reconnect``).

- Output: OUTPUT frames feed a scrollback ring mirroring the holder's (same offsets) and the local viewers.
- Flow control, end to end: the holder is acknowledged what the local input owner acknowledged (all that arrived
  when there is no owner), so the holder's viewer lags exactly as the owner does and pauses the pty at the same mark
  as ``Terminal`` pauses its reader, with the same bound on what the owner buffers. The socket is read all the while
  (a dead holder must be noticed at once); what arrives is bounded by the holder's pause mark. Small amounts are
  acknowledged ``ACK_DELAY_S`` later, together, so typing does not wake the holder twice per key.
- Input: sent at once; ``write``'s limit is checked against what the holder last reported queued plus what was sent
  since (an upper bound of its queue), so a refusal is decided here, synchronously, as in-process.
- A holder that dies while connected makes the session ``lost``: ``on_lost(reason)`` is called, the program's
  process group and session are killed if they are still its own (by pid and start time), viewers end.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
    OUTPUT,
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
    peer_uid,
)
from app.terminals.input_queue import INTERRUPT_CHARS, MAX_INPUT
from app.terminals.process import process_start_time, same_process, signal_session
from app.terminals.pty_host import MAX_COLS, MAX_ROWS, STREAM_BYTES, STREAM_GAP_S, ProgramNotFoundError
from app.terminals.ring import ScrollbackRing
from app.terminals.viewer import Viewer

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0  # the holder process starting (an interpreter start and a fork: ~0.1 s on an idle machine)
CONNECT_TIMEOUT_S = 5.0  # connecting and hearing HELLO
CATCH_UP_TIMEOUT_S = 5.0  # a reconnect taking in the holder's scrollback
COLLECT_TIMEOUT_S = 2.0  # a collected holder closing its end
STOP_MARGIN_S = 10.0  # beyond HUP-TERM-KILL: a holder that reports no exit by then is considered lost
ACK_EVERY = 128 * 1024  # output acknowledged to the holder at once from this much on (it pauses at PAUSE_ABOVE)
ACK_DELAY_S = 0.01  # less is acknowledged this much later
INPUT_FRAME = 1024 * 1024  # input is sent in frames of at most this size
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; longer paths are reached through the directory's fd
APP_ROOT = Path(__file__).resolve().parents[2]  # where `app` is importable from, for the holder's interpreter


class HolderGone(Exception):
    """The holder of a session cannot be reached or is not the session's (``reason`` says which and why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _clamp(cols: int, rows: int) -> tuple[int, int]:
    return max(1, min(MAX_COLS, int(cols))), max(1, min(MAX_ROWS, int(rows)))


class _Link(asyncio.Protocol):
    """The connection to the holder: frames in, frames out."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.hello: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.hello.add_done_callback(_quiet)  # a connection that ends before HELLO may have nobody waiting
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.terminal: HeldTerminal | None = None
        self._reader = FrameReader(self._handle)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        try:
            self._reader.feed(data)
        except (ProtocolError, ValueError, KeyError, TypeError) as exc:
            self._fail(f"the holder sent a bad frame: {exc}")
            return
        if self.terminal is not None:
            self.terminal._batch_done()

    def eof_received(self) -> bool:
        return False  # close: the holder went away

    def connection_lost(self, exc: Exception | None) -> None:
        why = f"the holder's connection closed ({exc})" if exc else "the holder's connection closed"
        if not self.hello.done():
            self.hello.set_exception(HolderGone(why))
        if not self.closed.done():
            self.closed.set_result(None)
        if self.terminal is not None:
            self.terminal._link_lost(why)

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _fail(self, why: str) -> None:
        log.error("%s", why)
        if self.terminal is not None:
            self.terminal._link_lost(why)
        if self.transport is not None:
            self.transport.abort()

    def _handle(self, kind: int, payload: memoryview) -> None:
        terminal = self.terminal
        if kind == HELLO:
            if not self.hello.done():
                self.hello.set_result(load_json(payload))
            return
        if terminal is None:
            raise ProtocolError(f"frame type {kind} before HELLO was taken")
        if kind == OUTPUT:
            terminal._output(U64.unpack_from(payload)[0], bytes(payload[8:]))
        elif kind == ATTACHED:
            terminal._attached(U64.unpack(payload)[0])
        elif kind == FLOW:
            terminal._paused = payload[0] == 1
        elif kind == GAP:
            terminal._gap(*U64_PAIR.unpack(payload))
        elif kind == INPUT_STATE:
            terminal._input_state(*U64_PAIR.unpack(payload))
        elif kind == EXITED:
            terminal._exited_with(int(load_json(payload)["code"]))
        elif kind == FLUSHED:
            terminal._flushed()
        elif kind == REPLACED:
            terminal._taken_over()
        elif kind == INPUT_REFUSED:
            log.warning("the holder of pid %s refused %s bytes of input", terminal.pid, U64.unpack(payload)[0])
        else:
            raise ProtocolError(f"unknown frame type {kind}")


class HeldTerminal:
    """A program running under a holder process. Create with ``HeldTerminal.start`` or ``HeldTerminal.reconnect``."""

    def __init__(
        self,
        link: _Link,
        hello: dict[str, Any],
        *,
        socket_path: Path,
        holder_pid: int,
        on_exit: Callable[[int], None] | None,
        on_lost: Callable[[str], None] | None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._link = link
        self.pid: int = int(hello["pid"])
        self.pid_start_time: int | None = hello["start_time"]
        self.cols, self.rows = int(hello["cols"]), int(hello["rows"])
        self.exit_code: int | None = None
        self.finished = False
        self.lost: str | None = None  # why the holder was lost while the program ran (the session is lost)
        now = time.monotonic()
        self.last_output_at = now - float(hello.get("output_age_s") or 0.0)
        input_age = hello.get("input_age_s")
        self.last_input_at = 0.0 if input_age is None else now - float(input_age)
        self._holder_pid = holder_pid
        self._holder_start_time = process_start_time(holder_pid)
        self._socket_path = socket_path
        self._on_exit = on_exit
        self._on_lost = on_lost
        self._ready = False  # start/reconnect returned: callbacks are called at once
        self._deferred: list[tuple[Callable[[Any], None], object]] = []
        self._ring = ScrollbackRing(int(hello["scrollback_bytes"]))
        self._ring.total = int(hello["first"])  # an empty ring whose next byte has the holder's offset
        self._burst = 0
        self._viewers: list[Viewer] = []
        self._owner: Viewer | None = None
        self._input_seq = 0
        self._paused = False  # the holder's flow control stopped reading the pty (it says so: FLOW)
        self._acked_to = self._ring.total  # the offset up to which output was acknowledged to the holder
        self._ack_timer: asyncio.TimerHandle | None = None
        self._input_sent = 0
        self._holder_received = 0
        self._holder_pending = 0
        self._flushes: list[asyncio.Future[None]] = []
        self._closing = False  # detach or collect: the connection ends on purpose
        self._started = False  # ATTACHED arrived: the mirror's offsets are the holder's
        self._waiter: asyncio.Future[None] | None = None  # start or reconnect waiting for ATTACHED, the scrollback
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._exited.add_done_callback(_quiet)
        link.terminal = self

    # ------------------------------------------------------------------------------------------ constructors
    @classmethod
    async def start(
        cls,
        argv: list[str],
        *,
        cwd: str,
        env: dict[str, str],
        cols: int,
        rows: int,
        socket_dir: Path,
        name: str,
        scrollback_bytes: int = 2 * 1024 * 1024,
        recording_path: Path | None = None,
        recording_max_bytes: int = 50 * 1024 * 1024,
        on_exit: Callable[[int], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
        orphan_grace_s: float | None = None,
    ) -> HeldTerminal:
        """Start ``argv`` under a new holder serving ``socket_dir/<name>.sock`` and attach to it at offset 0.

        Raises ProgramNotFoundError when ``argv[0]`` is not on the PATH of ``env`` and NotADirectoryError when
        ``cwd`` is not a directory, before anything starts; HolderGone when the holder fails to start or answer.
        ``orphan_grace_s``: stop the program after that long without a server (None: it runs on). ``on_exit(code)``
        once the program exited and its output arrived; ``on_lost(reason)`` when its holder dies under it (the
        program is killed); neither before this returned.
        """
        spec = _spec(
            argv,
            cwd=cwd,
            env=env,
            cols=cols,
            rows=rows,
            socket_dir=Path(socket_dir),
            name=name,
            scrollback_bytes=scrollback_bytes,
            recording_path=recording_path,
            recording_max_bytes=recording_max_bytes,
            orphan_grace_s=orphan_grace_s,
        )
        socket_path = Path(spec.socket_path)
        holder_pid = await _launch(spec, socket_path.with_suffix(".spec"))
        try:
            link, hello = await _connect(socket_path)
            if hello.get("holder_pid") != holder_pid:
                link.close()
                raise HolderGone(f"{socket_path} is served by pid {hello.get('holder_pid')}, not the new holder")
        except BaseException:
            with contextlib.suppress(OSError):
                os.kill(holder_pid, signal.SIGTERM)  # it stops its program (HUP, TERM, KILL) and exits
            raise
        terminal = cls(link, hello, socket_path=socket_path, holder_pid=holder_pid, on_exit=on_exit, on_lost=on_lost)
        try:
            await terminal._attach(0)
        except BaseException:
            terminal._closing = True
            link.close()
            with contextlib.suppress(OSError):
                os.kill(holder_pid, signal.SIGTERM)  # it stops its program (HUP, TERM, KILL) and exits
            raise
        return terminal._go_live()

    @classmethod
    async def reconnect(
        cls,
        socket_path: Path,
        *,
        expect_pid: int,
        expect_start_time: int | None,
        on_exit: Callable[[int], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> HeldTerminal:
        """Connect to a running holder again (the server restarted) and take in its scrollback.

        HolderGone when the socket is missing, not private, refuses, or its program is not ``expect_pid`` started at
        ``expect_start_time`` (a reused pid is never mistaken). The output the holder had when it answered is
        mirrored before this returns, so a viewer can resume from the offset it had. An exit that happened while no
        server was connected is reported at once: ``exit_code`` is set, and ``on_exit`` runs from the loop right
        after this returns (as any callback that fires while ``start`` or ``reconnect`` runs); record it, then
        ``collect``.
        """
        socket_path = Path(socket_path)
        link, hello = await _connect(socket_path)
        if hello["pid"] != expect_pid or hello["start_time"] != expect_start_time:
            link.close()
            raise HolderGone(
                f"{socket_path} holds pid {hello['pid']} started at {hello['start_time']}, "
                f"not the session's pid {expect_pid} started at {expect_start_time}"
            )
        holder_pid = int(hello["holder_pid"])
        terminal = cls(link, hello, socket_path=socket_path, holder_pid=holder_pid, on_exit=on_exit, on_lost=on_lost)
        try:
            await terminal._attach(int(hello["first"]))
        except BaseException:
            terminal._closing = True  # a failed reconnect leaves the holder and its program as they were
            link.close()
            raise
        await terminal._catch_up(int(hello["output_bytes"]), exited=hello["exit_code"] is not None)
        return terminal._go_live()

    async def _attach(self, offset: int) -> None:
        """ATTACH, and wait for the holder to say where output starts (before any local viewer can attach)."""
        self._link.send(frame(ATTACH, U64.pack(offset)))
        await self._wait_for(lambda: self._started or self.finished, CONNECT_TIMEOUT_S)
        if not self._started and not self.finished:
            raise HolderGone(f"the holder at {self._socket_path} did not answer ATTACH")
        if self.lost is not None:
            raise HolderGone(self.lost)

    async def _catch_up(self, offset: int, *, exited: bool) -> None:
        """Wait (a bounded time) until the mirror holds the output up to ``offset`` (and the exit, if there was one)."""
        await self._wait_for(lambda: self.finished or (self._ring.total >= offset and not exited), CATCH_UP_TIMEOUT_S)

    async def _wait_for(self, done: Callable[[], bool], timeout: float) -> None:
        deadline = self._loop.time() + timeout
        while not done() and self._loop.time() < deadline:
            waiter = self._loop.create_future()
            self._waiter = waiter
            try:
                await asyncio.wait_for(waiter, max(0.0, deadline - self._loop.time()))
            except TimeoutError:
                break
            finally:
                self._waiter = None

    # ------------------------------------------------------------------------------------------ public API
    @property
    def socket_path(self) -> Path:
        """The holder's unix socket (what ``reconnect`` needs, with the pid and start time)."""
        return self._socket_path

    @property
    def holder_pid(self) -> int:
        """The holder process's pid."""
        return self._holder_pid

    @property
    def output_bytes(self) -> int:
        """Bytes of output so far (the holder's offsets): the offset of the next byte."""
        return self._ring.total

    @property
    def alive(self) -> bool:
        """True until the program's exit is known (or its holder was lost)."""
        return self.exit_code is None and self.lost is None

    @property
    def paused(self) -> bool:
        """True while flow control keeps the holder from reading the pty (the holder reports it)."""
        return self._paused and not self.finished

    @property
    def input_pending(self) -> int:
        """Bytes of input not yet taken by the program, as far as the holder last said (an upper bound)."""
        return max(0, self._input_sent - self._holder_received + self._holder_pending)

    @property
    def streaming(self) -> bool:
        """True while the program prints a continuous stream (viewers then gather larger chunks per read)."""
        return self._burst >= STREAM_BYTES and time.monotonic() - self.last_output_at < STREAM_GAP_S

    def attach(self, offset: int = 0) -> Viewer:
        """A new viewer whose reads start at output byte ``offset`` (ValueError past the end); see ``Terminal``."""
        if not 0 <= offset <= self.output_bytes:
            raise ValueError(f"offset {offset} is outside the output (0..{self.output_bytes})")
        viewer = Viewer(self, self._loop, offset)
        if self._closing:
            viewer.detach()  # this server let go of the program: nothing will come
        elif not self.finished:
            self._viewers.append(viewer)
            if self._owner is None or not self._owner.input_seq:
                self._owner = viewer
            self._update_flow()
        return viewer

    def write(self, data: bytes, limit: int | None = None) -> bool:
        """Send input; never blocks. False, sending nothing, when the holder's queue could pass ``limit`` bytes."""
        if self.finished or self._closing or not data:
            return True
        if limit is not None:
            queued = 0 if data[0] in INTERRUPT_CHARS else self.input_pending  # an interrupt flushes the queue
            if queued + len(data) > limit:
                return False
        wire_limit = NO_LIMIT if limit is None else min(limit, NO_LIMIT - 1)
        view = memoryview(data)
        for start in range(0, len(data), INPUT_FRAME):
            piece = view[start : start + INPUT_FRAME]
            self._link.send(frame(INPUT, U32.pack(wire_limit) + piece))
        self._input_sent += len(data)
        self.last_input_at = time.monotonic()
        return True

    def output_since(self, offset: int, limit: int) -> tuple[int, bytes]:
        """Up to ``limit`` bytes of scrollback from ``offset`` on, and the offset they really start at."""
        return self._ring.read(offset, limit)

    def holds_back(self, viewer: Viewer) -> bool:
        """True for the input owner, the one viewer whose lag pauses the program."""
        return viewer is self._owner

    def resize(self, cols: int, rows: int) -> None:
        """Set the window size (clamped to 1..1000 columns, 1..500 rows); the child gets SIGWINCH."""
        cols, rows = _clamp(cols, rows)
        if self.finished or self._closing:
            return
        self._link.send(frame(RESIZE, U16_PAIR.pack(cols, rows)))
        self.cols, self.rows = cols, rows

    def flush_recording(self) -> asyncio.Future[None]:
        """Ask the holder to write buffered recording events out; the future resolves once it did (or cannot).

        Unlike ``Terminal.flush_recording`` the flush happens in another process: await the result before reading
        the file. (The holder also flushes on its own every second while output flows.)
        """
        done: asyncio.Future[None] = self._loop.create_future()
        if self.finished or self._closing:
            done.set_result(None)
        else:
            self._flushes.append(done)
            self._link.send(frame(FLUSH))
        return done

    async def wait(self) -> int:
        """The exit code, once the program exited and its output arrived; HolderGone if the holder was lost."""
        return await asyncio.shield(self._exited)

    async def stop(self, grace: float = 3.0) -> int:
        """HUP to the process group (and session), TERM after grace/2, KILL after grace (done by the holder); the exit
        code. HolderGone when the holder is lost meanwhile (the program is then killed here, see ``lost``)."""
        if not self.finished and not self._closing:
            self._link.send(json_frame(STOP, {"grace": grace}))
            try:
                return await asyncio.wait_for(self.wait(), grace + 5.0 + STOP_MARGIN_S)
            except TimeoutError:
                self._link_lost(f"the holder did not stop pid {self.pid} within {grace + 5.0 + STOP_MARGIN_S:.0f}s")
                self._link.close()
        return await self.wait()

    async def detach(self) -> None:
        """The server goes away, the program keeps running: close the connection (viewers here end), nothing else."""
        if self._closing:
            return
        self._closing = True
        self._end_viewers()
        self._link.close()
        await _wait_closed(self._link, COLLECT_TIMEOUT_S)
        if not self._exited.done():
            self._exited.set_exception(HolderGone("detached: this server no longer follows the session"))

    async def collect(self) -> None:
        """The exit is recorded: tell the holder to go, and wait until it closed its end (it exits right after)."""
        if self._closing:
            return
        self._closing = True
        self._end_viewers()
        self._link.send(frame(COLLECT))
        await _wait_closed(self._link, COLLECT_TIMEOUT_S)
        self._link.close()

    # ------------------------------------------------------------------------------------------ viewers
    def viewer_acked(self, viewer: Viewer) -> None:
        """A viewer acknowledged output: when it is the owner, the holder may be acknowledged again."""
        if viewer is self._owner:
            self._update_flow()

    def viewer_input(self, viewer: Viewer, data: bytes) -> bool:
        """Input typed by a viewer: it becomes the input owner. False when refused (see ``write``)."""
        if viewer in self._viewers and viewer is not self._owner:
            self._owner = viewer
            self._update_flow()
        self._input_seq += 1
        viewer.input_seq = self._input_seq
        return self.write(data, MAX_INPUT)

    def viewer_detached(self, viewer: Viewer) -> None:
        """A viewer went away: it no longer holds the program back; the owner passes on as in ``Terminal``."""
        with contextlib.suppress(ValueError):
            self._viewers.remove(viewer)
        if viewer is self._owner:
            self._owner = max(reversed(self._viewers), key=lambda v: v.input_seq, default=None)
        self._update_flow()

    def _end_viewers(self) -> None:
        for viewer in list(self._viewers):
            viewer.detach()
        self._viewers.clear()
        self._owner = None

    # ------------------------------------------------------------------------------------------ from the holder
    def _output(self, offset: int, data: bytes) -> None:
        if offset != self._ring.total:
            if offset < self._ring.total:
                raise ProtocolError(f"output at {offset} repeats what arrived (up to {self._ring.total})")
            self._gap(self._ring.total, offset)
        ring = self._ring
        now = time.monotonic()
        self._burst = len(data) if now - self.last_output_at > STREAM_GAP_S else self._burst + len(data)
        self.last_output_at = now
        ring.append(data)
        for viewer in self._viewers:
            viewer.feed(data)

    def _attached(self, offset: int) -> None:
        """The holder's answer to ATTACH: output starts at ``offset`` (nothing has arrived before it)."""
        if not self._started:
            self._started = True
            self._ring.total = self._acked_to = offset
            self._wake_waiter()

    def _gap(self, start: int, end: int) -> None:
        ring = self._ring
        if end <= ring.total:
            return
        if start < ring.total:
            raise ProtocolError(f"output gap [{start}, {end}) overlaps what arrived (up to {ring.total})")
        # Only when the holder's scrollback is smaller than its pause mark: its own viewer lost output. Start over
        # at the new offset; local viewers end and reconnect from the scrollback (a live viewer cannot be told of a
        # gap, and bytes at the wrong offsets are worse).
        log.error("output of pid %s jumped from %s to %s", self.pid, ring.total, end)
        self._end_viewers()
        self._ring = ScrollbackRing(ring.cap)
        self._ring.total = end
        self._acked_to = max(self._acked_to, end)  # the holder's viewer never handed these out

    def _batch_done(self) -> None:
        """After a read from the socket: acknowledge what may be, wake a reconnect waiting for the scrollback."""
        self._update_flow()
        self._wake_waiter()

    def _wake_waiter(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _acknowledged(self) -> int:
        """The offset the holder may count as acknowledged: where the input owner's acknowledgements reached (all that
        arrived when there is no owner). So the holder's viewer lags as the owner does, and the pty pauses at the
        same mark as in-process. (Measured: with a reader keeping up, this almost never pauses a stream.)"""
        owner = self._owner
        return self._ring.total - owner.unacked if owner is not None else self._ring.total

    def _update_flow(self) -> None:
        if self.finished or self._closing:
            return
        due = self._acknowledged() - self._acked_to
        if due >= ACK_EVERY:
            self._send_ack()
        elif due > 0 and self._ack_timer is None:
            # A little (an echo, a prompt): acknowledged a moment later with whatever follows, rather than waking
            # the holder once per key. The holder only pauses PAUSE_ABOVE bytes behind.
            self._ack_timer = self._loop.call_later(ACK_DELAY_S, self._send_ack)

    def _send_ack(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        target = self._acknowledged()
        if target > self._acked_to and not self._closing and not self.finished:
            self._link.send(frame(ACK, U64.pack(target - self._acked_to)))
            self._acked_to = target

    def _input_state(self, received: int, pending: int) -> None:
        self._holder_received, self._holder_pending = received, pending

    def _flushed(self) -> None:
        if self._flushes:
            done = self._flushes.pop(0)
            if not done.done():
                done.set_result(None)

    def _exited_with(self, code: int) -> None:
        if self.finished:
            return
        self.exit_code = code
        self._finish()
        self._exited.set_result(code)
        self._notify(self._on_exit, code)

    def _finish(self) -> None:
        self.finished = True
        self._paused = False
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        for flush in self._flushes:
            if not flush.done():
                flush.set_result(None)
        self._flushes.clear()
        for viewer in self._viewers:
            viewer.wake()  # a viewer returns what it holds, then None
        self._viewers.clear()
        self._owner = None
        self._wake_waiter()

    def _link_lost(self, why: str) -> None:
        """The connection ended, unasked, while the program ran: the session is lost. Nothing of it may run on
        unseen, so the holder and the program's group and session are killed (each only if still the same)."""
        if self._closing or self.finished:
            return
        self.lost = why
        self._finish()
        self._exited.set_exception(HolderGone(why))
        if same_process(self._holder_pid, self._holder_start_time):
            with contextlib.suppress(OSError):
                os.kill(self._holder_pid, signal.SIGKILL)
        self._kill_program()
        log.warning("holder of pid %s lost: %s", self.pid, why)
        self._notify(self._on_lost, why)

    def _notify(self, callback: Callable[[Any], None] | None, value: object) -> None:
        """Call ``on_exit``/``on_lost``; until ``start``/``reconnect`` returned, from the loop right after it did, so
        the caller holds the terminal (and has registered it) before it hears of an exit."""
        if callback is None:
            return
        if not self._ready:
            self._deferred.append((callback, value))
            return
        try:
            callback(value)
        except Exception:
            log.exception("%s callback of terminal %s failed", getattr(callback, "__name__", "a"), self.pid)

    def _go_live(self) -> HeldTerminal:
        """``start``/``reconnect`` return this: callbacks held back meanwhile run from the loop, just after."""
        self._ready = True
        for callback, value in self._deferred:
            self._loop.call_soon(self._notify, callback, value)
        self._deferred.clear()
        return self

    def _taken_over(self) -> None:
        """Another server connected to the holder (a restarted server while this one still ran): the program is
        its now. This one lets go without killing anything; ``lost`` says why, ``on_lost`` is not called."""
        if self._closing or self.finished:
            return
        self._closing = True
        self.lost = "taken over: another server connected to this session's holder"
        self._end_viewers()
        self._finish()
        self._exited.set_exception(HolderGone(self.lost))
        self._link.close()

    def _kill_program(self) -> None:
        """SIGKILL the program's group and session, if they are still its own.

        Its pid alive with another start time: reused, never signalled. Gone (or a zombie nobody reaps): the ids
        may still name leftover processes, and Linux does not hand out a pid while a group or session still uses it
        as its id, so whatever carries them is ours.
        """
        if self.pid_start_time is None:
            return  # no way to tell the program from a stranger here (no /proc)
        if process_start_time(self.pid) in (None, self.pid_start_time):
            signal_session(self.pid, signal.SIGKILL)


async def dismiss_holder(socket_path: Path, grace: float = 3.0) -> bool:
    """End a holder this server will not take back (a session it marks lost or stale): its program is stopped (HUP,
    TERM, KILL over ``grace``) and it exits. True once it was told; False when nothing answers there (a socket file
    left by a dead holder is removed)."""
    socket_path = Path(socket_path)
    try:
        link, _ = await _connect(socket_path)
    except HolderGone:
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.lstat(socket_path).st_mode) and not _answers(socket_path):
                os.unlink(socket_path)
        return False
    link.send(json_frame(STOP, {"grace": grace}))
    link.send(frame(COLLECT))
    await _wait_closed(link, grace + 5.0 + COLLECT_TIMEOUT_S)
    link.close()
    return True


def _answers(socket_path: Path) -> bool:
    """True when something listens at a unix socket (a non-blocking connect: local, never waits)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        with _address(socket_path) as address:
            probe.connect(address)
    except BlockingIOError:
        return True  # its backlog is full: it listens
    except OSError:
        return False
    finally:
        probe.close()
    return True


@contextlib.contextmanager
def _address(socket_path: Path) -> Iterator[str]:
    """The address to connect to: the path, or when it is too long for a unix address, the same file reached
    through the directory's descriptor (Linux /proc), valid inside the ``with``."""
    address = str(socket_path)
    if len(os.fsencode(address)) <= MAX_SOCKET_PATH:
        yield address
        return
    dir_fd = os.open(socket_path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{dir_fd}/{socket_path.name}"
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------------------------------------- helpers
def _quiet(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception retrieved (nobody has to wait on an exit)."""
    if not future.cancelled():
        future.exception()


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if missing; HolderRefused when it exists but is not ours alone."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private_dir(path)
    return path


async def _wait_closed(link: _Link, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(link.closed), timeout)


def _holder_env() -> dict[str, str]:
    """The holder's own environment: only what Python needs (the program's is in the spec)."""
    # PYTHONSAFEPATH: `-m` would otherwise put the working directory (the socket directory) first on sys.path.
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": str(APP_ROOT), "PYTHONSAFEPATH": "1"}
    for key in ("LANG", "LC_ALL", "LC_CTYPE"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _spec(
    argv: list[str],
    *,
    cwd: str,
    env: dict[str, str],
    cols: int,
    rows: int,
    socket_dir: Path,
    name: str,
    scrollback_bytes: int,
    recording_path: Path | None,
    recording_max_bytes: int,
    orphan_grace_s: float | None,
) -> HolderSpec:
    """Check what can be refused before anything starts (as ``Terminal.spawn`` does) and make the holder's spec.

    A few stats and a mkdir, like ``Terminal.spawn``'s own checks: not worth a thread hop."""
    if not argv or not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError("argv must be a non-empty list of strings")
    if not name or "/" in name or name.startswith(".") or len(name) > 64:
        raise ValueError(f"bad holder name: {name!r}")
    if shutil.which(argv[0], path=env.get("PATH", os.defpath)) is None:
        raise ProgramNotFoundError(argv[0])
    if not os.path.isdir(cwd):
        raise NotADirectoryError(errno.ENOTDIR, f"working directory does not exist: {cwd}", cwd)
    try:
        socket_dir = private_dir(socket_dir)
    except HolderRefused as exc:
        raise HolderGone(str(exc)) from None
    return HolderSpec(
        argv=list(argv),
        cwd=os.path.abspath(cwd),  # the holder works in its socket directory
        env=dict(env),
        cols=cols,
        rows=rows,
        socket_path=os.path.abspath(socket_dir / f"{name}.sock"),
        scrollback_bytes=scrollback_bytes,
        recording_path=os.path.abspath(recording_path) if recording_path is not None else None,
        recording_max_bytes=recording_max_bytes,
        orphan_grace_s=orphan_grace_s,
        log_path=os.path.abspath(socket_dir / f"{name}.log"),
    )


def _write_spec(spec: HolderSpec, spec_path: Path) -> None:
    """The spec file, created 0600 (it holds the session's environment and token; the holder deletes it)."""
    _remove(spec_path)
    fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(spec.dumps())


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


async def _launch(spec: HolderSpec, spec_path: Path) -> int:
    """Write the spec, start the holder and wait for its first words; the holder's pid."""
    _write_spec(spec, spec_path)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.terminals.holder",
            str(spec_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=spec_path.parent,
            env=_holder_env(),
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), START_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise HolderGone(f"the holder did not start within {START_TIMEOUT_S:.0f}s") from None
    finally:
        _remove(spec_path)  # normally the holder did; not when it failed before reading it
    words = out.decode(errors="replace").strip()
    kind, _, rest = words.partition(" ")
    if proc.returncode == 0 and kind == "ok":
        return int(rest.split()[0])
    what, _, message = rest.partition(" ")
    if kind == "error" and what == "program":
        raise ProgramNotFoundError(spec.argv[0])
    if kind == "error" and what == "cwd":
        raise NotADirectoryError(errno.ENOTDIR, f"working directory does not exist: {spec.cwd}", spec.cwd)
    detail = message or words or err.decode(errors="replace").strip()[-500:] or f"exit status {proc.returncode}"
    raise HolderGone(f"the holder failed to start: {detail}")


def _check_socket(socket_path: Path) -> None:
    """HolderGone unless the socket exists, is ours and private, in a private directory."""
    try:
        check_private_dir(socket_path.parent)
        st = os.lstat(socket_path)
    except FileNotFoundError:
        raise HolderGone(f"no holder socket at {socket_path}: the holder is gone") from None
    except HolderRefused as exc:
        raise HolderGone(str(exc)) from None
    if not stat.S_ISSOCK(st.st_mode):
        raise HolderGone(f"{socket_path} is not a socket")
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise HolderGone(f"{socket_path} is not private (uid {st.st_uid}, mode {st.st_mode & 0o777:o})")


async def _connect(socket_path: Path) -> tuple[_Link, dict[str, Any]]:
    """Connect to a holder, check who answers (our uid) and read its HELLO."""
    _check_socket(socket_path)
    loop = asyncio.get_running_loop()
    try:
        with _address(socket_path) as address:
            connecting = loop.create_unix_connection(_Link, address)
            transport, link = await asyncio.wait_for(connecting, CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise HolderGone(f"cannot connect to the holder at {socket_path}: {exc}") from None
    try:
        holder_pid, uid = peer_uid(transport.get_extra_info("socket"))
        if uid != os.getuid():
            raise HolderGone(f"{socket_path} is served by uid {uid}, not ours")
        try:
            hello = await asyncio.wait_for(asyncio.shield(link.hello), CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise HolderGone(f"the holder at {socket_path} did not say hello") from None
        if hello.get("version") != VERSION:
            raise HolderGone(f"the holder at {socket_path} speaks protocol {hello.get('version')}, not {VERSION}")
        if hello.get("holder_pid") != holder_pid:
            raise HolderGone(
                f"the holder at {socket_path} claims pid {hello.get('holder_pid')}, the kernel {holder_pid}"
            )
    except BaseException:
        transport.abort()
        raise
    return link, hello
