"""The pty host: one program in a real terminal, drained into a scrollback ring, fanned out to viewers.

POSIX backend on ptyprocess; nothing of ptyprocess leaks into the public interface, so a pywinpty backend can
provide the same ``Terminal``/``Viewer`` later.

- Output: the master fd is non-blocking and read with ``loop.add_reader``; one callback reads what is already
  readable (bounded by ``READ_BATCH``) and hands it on as one chunk, to the scrollback ring, the recording and every
  attached viewer. The pty is drained whether or not anyone watches. After the first read, a callback only reads
  again while ``FIONREAD`` reports buffered bytes: on Linux a read (or poll) of a pty that finds nothing waits for
  the kernel's buffer-flush worker, which stalled the whole event loop for milliseconds per flooding terminal.
- Offsets: every output byte has an offset, the number of bytes the program printed before it; the ring and every
  viewer are addressed by it, so a client that reconnects gets exactly what followed what it saw.
- Flow control: only the input owner (the viewer that most recently typed; until one types, the most recently
  attached) may hold the program back: while it has more than ``PAUSE_ABOVE`` unacknowledged bytes the reader is
  removed (the kernel buffer fills and the child blocks), and it resumes below ``RESUME_BELOW``. Any other viewer
  that falls that far behind drops its buffer and catches up from the scrollback (see ``Viewer``). Acknowledgements
  are clamped to what a viewer handed out, so no viewer ever buffers more than ``PAUSE_ABOVE + READ_BATCH``.
- Input: queued while the pty does not take it; viewers may queue up to ``MAX_INPUT`` bytes, more is refused.
- Exit: detected with a pidfd (Linux) or a waiter thread, reaped with ``waitpid``; ``exit_code`` is the exit status,
  or the negative signal number when a signal killed the child (``os.waitstatus_to_exitcode``).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import shutil
import signal
import termios
import time
from collections.abc import Callable
from pathlib import Path

from ptyprocess import PtyProcess

from app.terminals.input_queue import MAX_INPUT, InputQueue
from app.terminals.process import ExitWatcher, kill_group, reset_signals, session_alive, signal_session
from app.terminals.recording import AsciicastRecorder
from app.terminals.ring import ScrollbackRing
from app.terminals.viewer import PAUSE_ABOVE, RESUME_BELOW, Viewer

log = logging.getLogger(__name__)

TERM = "xterm-256color"
READ_SIZE = 65536
READ_BATCH = 256 * 1024
FINAL_DRAIN = 1024 * 1024
STREAM_BYTES = 16 * 1024  # output without a pause ...
STREAM_GAP_S = 0.02  # ... longer than this counts as a stream, not interactive output
MAX_COLS, MAX_ROWS = 1000, 500


class ProgramNotFoundError(FileNotFoundError):
    """The program to run does not exist or is not executable; raised before anything starts."""

    def __init__(self, program: str) -> None:
        super().__init__(errno.ENOENT, f"program not found or not executable: {program}", program)
        self.program = program


_inq = array.array("i", [0])


def _buffered(fd: int) -> bool:
    """True when the pty has bytes ready for reading now (FIONREAD; never waits, unlike an empty read)."""
    try:
        fcntl.ioctl(fd, termios.FIONREAD, _inq)
    except OSError:
        return True  # unknown: let the read tell
    return _inq[0] > 0


def clamp_size(cols: int, rows: int) -> tuple[int, int]:
    """A window size within 1..MAX_COLS columns and 1..MAX_ROWS rows."""
    return max(1, min(MAX_COLS, int(cols))), max(1, min(MAX_ROWS, int(rows)))


class Terminal:
    """A program running in a pty in its own session and process group. Create with ``Terminal.spawn``."""

    def __init__(
        self,
        proc: PtyProcess,
        *,
        cols: int,
        rows: int,
        scrollback_bytes: int,
        recorder: AsciicastRecorder | None,
        on_exit: Callable[[int], None] | None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._proc = proc
        self.pid: int = proc.pid
        self.cols, self.rows = cols, rows
        self.exit_code: int | None = None
        self.output_bytes = 0  # total bytes read from the pty so far
        self.last_output_at = time.monotonic()  # when the program last printed (idle detection)
        self.last_input_at = 0.0  # when input was last written (0: never)
        self._burst = 0  # bytes read without a pause longer than STREAM_GAP_S
        self.finished = False
        self._fd: int = proc.fd
        self._ring = ScrollbackRing(scrollback_bytes)
        self._recorder = recorder
        self._on_exit = on_exit
        self._viewers: list[Viewer] = []  # attached, oldest first
        self._owner: Viewer | None = None  # the one viewer whose lag pauses the program
        self._input_seq = 0
        self._reading = False
        self._eof = False
        self._status: int | None = None
        self._input = InputQueue(self._loop, self._fd)
        self._exited: asyncio.Future[int] = self._loop.create_future()
        os.set_blocking(self._fd, False)
        self._start_reading()
        self._exit_watch = ExitWatcher(self._loop, self.pid, self._on_reaped)

    # ----------------------------------------------------------------------------------------------- spawn
    @classmethod
    def spawn(
        cls,
        argv: list[str],
        *,
        cwd: str,
        env: dict[str, str],
        cols: int,
        rows: int,
        scrollback_bytes: int = 2 * 1024 * 1024,
        recording_path: Path | None = None,
        recording_max_bytes: int = 50 * 1024 * 1024,
        on_exit: Callable[[int], None] | None = None,
    ) -> Terminal:
        """Start ``argv`` (a list, never a shell string) in a new pty. Must be called on the event loop's thread.

        Raises ProgramNotFoundError when ``argv[0]`` cannot be found on the PATH of ``env`` and
        NotADirectoryError when ``cwd`` is not a directory, before anything is started.
        """
        if not argv or not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ValueError("argv must be a non-empty list of strings")
        child_env = {**env, "TERM": TERM}
        program = shutil.which(argv[0], path=child_env.get("PATH", os.defpath))
        if program is None:
            raise ProgramNotFoundError(argv[0])
        if not os.path.isdir(cwd):
            raise NotADirectoryError(errno.ENOTDIR, f"working directory does not exist: {cwd}", cwd)
        cols, rows = clamp_size(cols, rows)
        proc = PtyProcess.spawn(
            [program, *argv[1:]], cwd=cwd, env=child_env, dimensions=(rows, cols), preexec_fn=reset_signals
        )
        recorder = None
        try:
            if recording_path is not None:
                recorder = AsciicastRecorder(
                    Path(recording_path), cols=cols, rows=rows, max_bytes=recording_max_bytes, term=TERM
                )
            return cls(
                proc, cols=cols, rows=rows, scrollback_bytes=scrollback_bytes, recorder=recorder, on_exit=on_exit
            )
        except BaseException:
            kill_group(proc.pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, 0)
            proc.fileobj.close()
            proc.closed = proc.terminated = True
            raise

    # ------------------------------------------------------------------------------------------ public API
    @property
    def alive(self) -> bool:
        """True until the child was reaped."""
        return self._status is None

    @property
    def paused(self) -> bool:
        """True while flow control keeps the pty from being read."""
        return not self._reading and not self._eof and not self.finished

    @property
    def input_pending(self) -> int:
        """Bytes of input queued because the pty did not take them yet."""
        return len(self._input)

    @property
    def streaming(self) -> bool:
        """True while the program prints a continuous stream (viewers then gather larger chunks per read)."""
        return self._burst >= STREAM_BYTES and time.monotonic() - self.last_output_at < STREAM_GAP_S

    def attach(self, offset: int = 0) -> Viewer:
        """A new viewer whose reads start at output byte ``offset`` (0: the oldest scrollback; ValueError past the end).

        It becomes the input owner unless the current owner has typed.
        """
        if not 0 <= offset <= self.output_bytes:
            raise ValueError(f"offset {offset} is outside the output (0..{self.output_bytes})")
        viewer = Viewer(self, self._loop, offset)
        if not self.finished:
            self._viewers.append(viewer)
            if self._owner is None or not self._owner.input_seq:
                self._owner = viewer
            self._update_flow()
        return viewer

    def write(self, data: bytes, limit: int | None = None) -> bool:
        """Send input; never blocks. What the pty does not take now is queued and flushed when it is writable.

        Returns False, queueing nothing, when the queue would pass ``limit`` bytes. Viewers' input is limited to
        ``MAX_INPUT`` (see ``viewer_input``); the server's own (a prompt typed at start) is bounded where it is made.
        """
        if self.finished or not data:
            return True
        if not self._input.put(data, limit):
            return False
        self.last_input_at = time.monotonic()
        return True

    def output_since(self, offset: int, limit: int) -> tuple[int, bytes]:
        """Up to ``limit`` bytes of scrollback from ``offset`` on, and the offset they really start at (later when
        ``offset`` is older than the scrollback)."""
        return self._ring.read(offset, limit)

    def holds_back(self, viewer: Viewer) -> bool:
        """True for the input owner, the one viewer whose lag pauses the program."""
        return viewer is self._owner

    def resize(self, cols: int, rows: int) -> None:
        """Set the window size (clamped to 1..1000 columns, 1..500 rows); the child gets SIGWINCH."""
        cols, rows = clamp_size(cols, rows)
        if self.finished:
            return
        with contextlib.suppress(OSError):
            self._proc.setwinsize(rows, cols)
        self.cols, self.rows = cols, rows
        if self._recorder is not None:
            self._recorder.resize(cols, rows)

    def flush_recording(self) -> None:
        """Write buffered recording events to disk (before the recording is read while the session runs)."""
        if self._recorder is not None:
            self._recorder.flush()

    async def wait(self) -> int:
        """The exit code, once the child exited and its output was drained."""
        return await asyncio.shield(self._exited)

    async def stop(self, grace: float = 3.0) -> int:
        """SIGHUP to the process group (and session), SIGTERM after grace/2, SIGKILL after grace; always reaps."""
        for sig, timeout in ((signal.SIGHUP, grace / 2), (signal.SIGTERM, grace / 2), (signal.SIGKILL, 5.0)):
            if self.finished and not session_alive(self.pid):
                break
            signal_session(self.pid, sig)
            await self._wait_gone(timeout)
        return await self.wait()

    # ------------------------------------------------------------------------------------------ output
    def _start_reading(self) -> None:
        if not self._reading and not self._eof and not self.finished:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _read_available(self, limit: int, *, wait_free: bool = False) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while total < limit:
            if wait_free and chunks and not _buffered(self._fd):
                break  # an empty read would block on the kernel's flush worker (see the module docstring)
            try:
                chunk = os.read(self._fd, READ_SIZE)
            except BlockingIOError:
                break
            except OSError:  # EIO: the slave side is closed
                chunk = b""
            if not chunk:
                self._eof = True
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)

    def _on_readable(self) -> None:
        data = self._read_available(READ_BATCH, wait_free=True)
        if data:
            self._deliver(data)
        if self._eof:
            self._stop_reading()
            if self._status is not None:
                self._finish()
        else:
            self._update_flow()

    def _deliver(self, data: bytes) -> None:
        now = time.monotonic()
        self.output_bytes += len(data)
        self._burst = len(data) if now - self.last_output_at > STREAM_GAP_S else self._burst + len(data)
        self.last_output_at = now
        self._ring.append(data)
        if self._recorder is not None:
            self._recorder.output(data)
        for viewer in self._viewers:
            viewer.feed(data)

    def _update_flow(self) -> None:
        if self._eof or self.finished:
            return
        behind = self._owner.unacked if self._owner is not None else 0
        if self._reading and behind > PAUSE_ABOVE:
            self._stop_reading()
        elif not self._reading and behind < RESUME_BELOW:
            self._start_reading()

    def viewer_acked(self, viewer: Viewer) -> None:
        """A viewer acknowledged output: when it is the owner, reading resumes below the resume mark."""
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
        """A viewer went away: it no longer holds the pty back; the owner passes to who typed (or attached) last."""
        with contextlib.suppress(ValueError):
            self._viewers.remove(viewer)
        if viewer is self._owner:
            # max() keeps the first of equals: reversed, the most recently attached wins among those never typing.
            self._owner = max(reversed(self._viewers), key=lambda v: v.input_seq, default=None)
        self._update_flow()

    # ------------------------------------------------------------------------------------------ exit
    def _on_reaped(self, status: int) -> None:
        if self._status is not None:
            return
        self._status = status
        self._exit_watch.close()
        # The child is gone: take what it left in the pty (bounded, ignoring flow control), then finish.
        if not self._eof:
            data = self._read_available(FINAL_DRAIN)
            if data:
                self._deliver(data)
        self._finish()

    def _finish(self) -> None:
        if self.finished:
            return
        self._stop_reading()
        self._input.close()
        self.finished = True
        self._proc.fileobj.close()  # closes the master fd; the kernel hangs up the slave side
        self._proc.closed = self._proc.terminated = True  # keep ptyprocess's __del__ from sleeping or re-reaping
        if self._recorder is not None:
            self._recorder.close()
        status = self._status if self._status is not None else 0
        self.exit_code = os.waitstatus_to_exitcode(status)
        self._exited.set_result(self.exit_code)
        for viewer in self._viewers:
            viewer.wake()
        self._viewers.clear()
        self._owner = None
        if self._on_exit is not None:
            try:
                self._on_exit(self.exit_code)
            except Exception:
                log.exception("on_exit callback of terminal %s failed", self.pid)

    async def _wait_gone(self, timeout: float) -> bool:
        deadline = self._loop.time() + timeout
        while True:
            if self.finished and not session_alive(self.pid):
                return True
            if self._loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
