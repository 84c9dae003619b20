"""A terminal whose pty lives in a holder process (``app.terminals.holder``), seen from the server.

``HeldTerminal`` offers what the server uses of ``Terminal`` (attach, write, resize, stop, wait, the counters and
the viewer protocol), so browser tabs and CLI attaches work on it unchanged; the program keeps running when the
server goes away (``detach``), and a restarted server finds it again (``reconnect``).

- Output, local viewers and flow control end to end: its base, ``HeldOutput`` (``held_output.py``). The connection
  to the holder: ``held_link.py``; starting a holder process: ``held_launch.py``.
- Input: sent at once; ``write``'s limit is checked against what the holder last reported queued plus what was sent
  since (an upper bound of its queue), so a refusal is decided here, synchronously, as in-process.
- A holder that dies while connected makes the session ``lost``: ``on_lost(reason)`` is called, the program's
  process group and session are killed if they are still its own (by pid and start time), viewers end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.terminals.held_launch import launch, make_spec
from app.terminals.held_link import (
    COLLECT_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    HolderGone,
    HolderLink,
    connect,
    dismiss_holder,
    quiet,
    wait_closed,
)
from app.terminals.held_output import HeldOutput
from app.terminals.holder_protocol import (
    ATTACH,
    COLLECT,
    FLUSH,
    INPUT,
    NO_LIMIT,
    RESIZE,
    STOP,
    U16_PAIR,
    U32,
    U64,
    frame,
    json_frame,
)
from app.terminals.input_queue import INTERRUPT_CHARS, MAX_INPUT
from app.terminals.process import kill_session_if_ours, process_start_time, same_process
from app.terminals.pty_host import clamp_size
from app.terminals.viewer import Viewer

__all__ = ["HeldTerminal", "HolderGone", "dismiss_holder"]  # dismiss_holder lives in held_link, imported from here

log = logging.getLogger(__name__)

STOP_MARGIN_S = 10.0  # beyond HUP-TERM-KILL: a holder that reports no exit by then is considered lost
INPUT_FRAME = 1024 * 1024  # input is sent in frames of at most this size


class HeldTerminal(HeldOutput):
    """A program running under a holder process. Create with ``HeldTerminal.start`` or ``HeldTerminal.reconnect``."""

    def __init__(
        self,
        link: HolderLink,
        hello: dict[str, Any],
        *,
        socket_path: Path,
        holder_pid: int,
        on_exit: Callable[[int], None] | None,
        on_lost: Callable[[str], None] | None,
    ) -> None:
        super().__init__(link, hello)
        self.pid_start_time: int | None = hello["start_time"]
        self.cols, self.rows = int(hello["cols"]), int(hello["rows"])
        self.exit_code: int | None = None
        self.lost: str | None = None  # why the holder was lost while the program ran (the session is lost)
        input_age = hello.get("input_age_s")
        self.last_input_at = 0.0 if input_age is None else time.monotonic() - float(input_age)
        self._holder_pid = holder_pid
        self._holder_start_time = process_start_time(holder_pid)
        self._socket_path = socket_path
        self._on_exit = on_exit
        self._on_lost = on_lost
        self._ready = False  # start/reconnect returned: callbacks are called at once
        self._deferred: list[tuple[Callable[[Any], None], object]] = []
        self._input_seq = 0
        self._input_sent = 0
        self._holder_received = 0
        self._holder_pending = 0
        self._flushes: list[asyncio.Future[None]] = []
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._exited.add_done_callback(quiet)
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
        spec = make_spec(
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
        holder_pid = await launch(spec, socket_path.with_suffix(".spec"))
        try:
            link, hello = await connect(socket_path)
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
        expect_pid: int | None,
        expect_start_time: int | None,
        on_exit: Callable[[int], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> HeldTerminal:
        """Connect to a running holder again (the server restarted) and take in its scrollback.

        HolderGone when the socket is missing, not private, refuses, or its program is not ``expect_pid`` started at
        ``expect_start_time`` (a reused pid is never mistaken). ``expect_pid`` None takes the program the holder
        runs: the server died before it could note the pid, and the socket, private and named after the session,
        can only be that session's holder. The output the holder had when it answered is
        mirrored before this returns, so a viewer can resume from the offset it had. An exit that happened while no
        server was connected is reported at once: ``exit_code`` is set, and ``on_exit`` runs from the loop right
        after this returns (as any callback that fires while ``start`` or ``reconnect`` runs); record it, then
        ``collect``.
        """
        socket_path = Path(socket_path)
        link, hello = await connect(socket_path)
        if expect_pid is not None and (hello["pid"] != expect_pid or hello["start_time"] != expect_start_time):
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
    def alive(self) -> bool:
        """True until the program's exit is known (or its holder was lost)."""
        return self.exit_code is None and self.lost is None

    @property
    def input_pending(self) -> int:
        """Bytes of input not yet taken by the program, as far as the holder last said (an upper bound)."""
        return max(0, self._input_sent - self._holder_received + self._holder_pending)

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

    def resize(self, cols: int, rows: int) -> None:
        """Set the window size (clamped to 1..1000 columns, 1..500 rows); the child gets SIGWINCH."""
        cols, rows = clamp_size(cols, rows)
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
        await wait_closed(self._link, COLLECT_TIMEOUT_S)
        if not self._exited.done():
            self._exited.set_exception(HolderGone("detached: this server no longer follows the session"))

    async def collect(self) -> None:
        """The exit is recorded: tell the holder to go, and wait until it closed its end (it exits right after)."""
        if self._closing:
            return
        self._closing = True
        self._end_viewers()
        self._link.send(frame(COLLECT))
        await wait_closed(self._link, COLLECT_TIMEOUT_S)
        self._link.close()

    # ------------------------------------------------------------------------------------------ viewers
    def viewer_input(self, viewer: Viewer, data: bytes) -> bool:
        """Input typed by a viewer: it becomes the input owner. False when refused (see ``write``)."""
        if viewer in self._viewers and viewer is not self._owner:
            self._owner = viewer
            self._update_flow()
        self._input_seq += 1
        viewer.input_seq = self._input_seq
        return self.write(data, MAX_INPUT)

    # ------------------------------------------------------------------------------------------ from the holder
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
        for flush in self._flushes:
            if not flush.done():
                flush.set_result(None)
        self._flushes.clear()
        super()._finish()

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
        kill_session_if_ours(self.pid, self.pid_start_time)
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
