"""A viewer: one attached reader of a terminal's output, with its own position, buffer and acknowledgements."""

from __future__ import annotations

import asyncio
from typing import Protocol

SMALL_CHUNK = 16 * 1024
GATHER_BYTES = 64 * 1024
GATHER_S = 0.002
PAUSE_ABOVE = 1024 * 1024  # a viewer this far behind pauses the pty (the owner) or falls back to the scrollback
RESUME_BELOW = 256 * 1024
PULL_BYTES = 256 * 1024  # what a viewer catching up takes from the scrollback per read


class ViewedTerminal(Protocol):
    """What a viewer needs of the terminal it watches (the pty host's ``Terminal`` provides it)."""

    @property
    def finished(self) -> bool:
        """True once the program has exited and its output was drained."""
        ...

    @property
    def streaming(self) -> bool:
        """True while the program prints a continuous stream."""
        ...

    @property
    def output_bytes(self) -> int:
        """Bytes of output so far: the offset of the next byte."""
        ...

    def output_since(self, offset: int, limit: int) -> tuple[int, bytes]:
        """Up to ``limit`` bytes of scrollback from ``offset`` on, and the offset they really start at."""
        ...

    def holds_back(self, viewer: Viewer) -> bool:
        """True for the one viewer whose lag may pause the program (the input owner)."""
        ...

    def viewer_input(self, viewer: Viewer, data: bytes) -> bool:
        """Input typed by a viewer; False when refused because too much input is queued."""
        ...

    def viewer_acked(self, viewer: Viewer) -> None:
        """A viewer caught up by some bytes: reading the pty may resume."""
        ...

    def viewer_detached(self, viewer: Viewer) -> None:
        """A viewer went away: it no longer holds the pty back."""
        ...


class Viewer:
    """One attached reader of a terminal's output (a browser tab, a CLI attach).

    ``offset`` is the offset of the next byte ``read`` returns. A viewer is *live* (the terminal feeds it every
    chunk it reads) or *catching up* (it reads the scrollback from ``offset``, ``PULL_BYTES`` at a time, while fewer
    than ``PAUSE_ABOVE`` bytes it handed out are unacknowledged). It starts catching up from where it attached; a
    viewer that does not hold the pty back and falls more than ``PAUSE_ABOVE`` behind drops what it buffered and
    catches up again, so it never holds more than that. When the scrollback no longer has its next byte, the chunk
    ``read`` returns starts later and ``gap`` names the bytes lost.
    """

    def __init__(self, terminal: ViewedTerminal, loop: asyncio.AbstractEventLoop, offset: int) -> None:
        self._terminal = terminal
        self._loop = loop
        self.offset = offset
        # Chunks are kept as the immutable bytes the pty host read: a read of one chunk costs no copy.
        self._pending: list[bytes | bytearray] = []
        self._size = 0  # bytes in _pending
        self._live = offset == terminal.output_bytes  # else it starts by catching up from the scrollback
        self.handed = 0  # bytes returned by read
        self.acked = 0  # bytes acknowledged, never more than handed (a client cannot ack what it was not sent)
        self.gap: tuple[int, int] | None = None  # set by read: the bytes [from, to) lost before its chunk
        self._gap: tuple[int, int] | None = None
        self.input_seq = 0  # when it last typed (the terminal's input counter; 0: never)
        self.detached = False
        # One bare future per wait: an asyncio.Event (and asyncio.timeout) cost more than reading the pty did.
        self._waiter: asyncio.Future[None] | None = None

    @property
    def unacked(self) -> int:
        """Bytes handed out but not acknowledged, plus the output not handed out yet (buffered or in scrollback)."""
        return self.handed - self.acked + self._terminal.output_bytes - self.offset

    @property
    def buffered(self) -> int:
        """Bytes this viewer holds in memory for its client."""
        return self._size

    def feed(self, data: bytes) -> None:
        """New output from the terminal (called by the pty host for every chunk it reads)."""
        if not self._live:
            return  # catching up: the bytes are read from the scrollback later
        pending = self._pending
        if pending and len(data) < SMALL_CHUNK and len(pending[-1]) < SMALL_CHUNK:
            # Many tiny reads (echoed keys, a slow printer) must not become many objects while a viewer lags.
            last = pending[-1]
            if not isinstance(last, bytearray):
                last = pending[-1] = bytearray(last)
            last += data
        else:
            pending.append(data)
        self._size += len(data)
        if self._size + self.handed - self.acked > PAUSE_ABOVE and not self._terminal.holds_back(self):
            self._fall_behind()
        self.wake()

    def _fall_behind(self) -> None:
        # Not the owner: rather than pausing the program for everyone, forget the buffer and catch up later.
        self._pending = []
        self._size = 0
        self._live = False

    def write(self, data: bytes) -> bool:
        """Input typed by this viewer (it becomes the input owner); False when refused (input queue full)."""
        return self._terminal.viewer_input(self, data)

    def wake(self) -> None:
        """Wake a pending read (new output, an ack, exit, or detach)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    async def read(self) -> bytes | None:
        """The next output, as one chunk; None once exited (or detached) and drained. Sets ``gap``."""
        terminal = self._terminal
        while not self.detached:
            if not self._live:
                if self.handed - self.acked < PAUSE_ABOVE or terminal.finished:
                    data = self._pull()
                    if data:
                        return self._hand_out(data)
                else:
                    await self._wait()
                continue
            if not self._pending:
                if terminal.finished:
                    return None
                await self._wait()
                continue
            if self._size < GATHER_BYTES and terminal.streaming:
                await self._gather()
                if not self._pending:  # detached or fell behind while gathering
                    continue
            pending = self._pending
            self._pending = []
            self._size = 0
            data = pending[0] if len(pending) == 1 and isinstance(pending[0], bytes) else b"".join(pending)
            self.offset += len(data)
            return self._hand_out(data)
        return None

    def _pull(self) -> bytes:
        start, data = self._terminal.output_since(self.offset, PULL_BYTES)
        if start != self.offset:
            self._gap = (self._gap[0] if self._gap else self.offset, start)
        self.offset = start + len(data)
        if self.offset == self._terminal.output_bytes:
            self._live = True  # caught up: from now on the terminal feeds it (nothing can come in between)
        return data

    def _hand_out(self, data: bytes) -> bytes:
        self.handed += len(data)
        self.gap, self._gap = self._gap, None
        return data

    async def _gather(self) -> None:
        # While a program streams, each pty read brings ~4 KB; waiting up to GATHER_S for more turns hundreds of
        # small WebSocket frames (and client wake-ups) into a few large ones. Short, interactive output never waits.
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            self.wake()

        timer = self._loop.call_later(GATHER_S, expire)
        try:
            while self._size < GATHER_BYTES and not expired and not self.detached and not self._terminal.finished:
                await self._wait()
                if not self._live:
                    break
        finally:
            timer.cancel()

    def ack(self, n: int) -> None:
        """The client processed ``n`` more bytes; clamped to what it was handed (a lying client gains nothing)."""
        self.acked = min(self.handed, self.acked + max(0, int(n)))
        if not self._live:
            self.wake()  # catching up waits for acknowledgements
        self._terminal.viewer_acked(self)

    def detach(self) -> None:
        """Stop receiving output; never affects the process."""
        if not self.detached:
            self.detached = True
            self._pending.clear()
            self._size = 0
            self.wake()
            self._terminal.viewer_detached(self)
