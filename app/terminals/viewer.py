"""A viewer: one attached reader of a terminal's output, with its own coalescing buffer and ack count."""

from __future__ import annotations

import asyncio
from typing import Protocol

SMALL_CHUNK = 16 * 1024
GATHER_BYTES = 64 * 1024
GATHER_S = 0.002


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

    def viewer_acked(self) -> None:
        """A viewer caught up by some bytes: reading the pty may resume."""
        ...

    def viewer_detached(self, viewer: Viewer) -> None:
        """A viewer went away: it no longer holds the pty back."""
        ...


class Viewer:
    """One attached reader of a terminal's output (a browser tab, a CLI attach)."""

    def __init__(self, terminal: ViewedTerminal, loop: asyncio.AbstractEventLoop, snapshot: bytes) -> None:
        self._terminal = terminal
        self._loop = loop
        # Chunks are kept as the immutable bytes the pty host read: a read of one chunk costs no copy.
        self._pending: list[bytes | bytearray] = [snapshot] if snapshot else []
        self.unacked = len(snapshot)
        self._size = len(snapshot)  # bytes in _pending
        self.detached = False
        # One bare future per wait: an asyncio.Event (and asyncio.timeout) cost more than reading the pty did.
        self._waiter: asyncio.Future[None] | None = None

    def feed(self, data: bytes) -> None:
        """New output from the terminal (called by the pty host for every chunk it reads)."""
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
        self.unacked += len(data)
        self.wake()

    def wake(self) -> None:
        """Wake a pending read (new output, exit, or detach)."""
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
        """Everything accumulated since the last read, as one chunk; None once exited (or detached) and drained."""
        while True:
            while not self._pending:
                if self.detached or self._terminal.finished:
                    return None
                await self._wait()
            if self._size >= GATHER_BYTES or not self._terminal.streaming:
                break
            await self._gather()
            if self._pending:  # detach() empties it while we wait
                break
        pending = self._pending
        self._pending = []
        self._size = 0
        if len(pending) == 1 and isinstance(pending[0], bytes):
            return pending[0]
        return b"".join(pending)

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
        finally:
            timer.cancel()

    def ack(self, n: int) -> None:
        """The viewer processed ``n`` more bytes (resumes a paused pty once every viewer has caught up)."""
        self.unacked = max(0, self.unacked - max(0, int(n)))
        self._terminal.viewer_acked()

    def detach(self) -> None:
        """Stop receiving output; never affects the process."""
        if not self.detached:
            self.detached = True
            self._pending.clear()
            self._size = 0
            self.wake()
            self._terminal.viewer_detached(self)
