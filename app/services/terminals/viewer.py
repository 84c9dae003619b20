"""A viewer: one attached reader of a terminal's output, with its own coalescing buffer and ack count."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.services.terminals.pty_host import Terminal


class Viewer:
    """One attached reader of a terminal's output (a browser tab, a CLI attach)."""

    def __init__(self, terminal: Terminal, snapshot: bytes) -> None:
        self._terminal = terminal
        self._pending = bytearray(snapshot)
        self.unacked = len(snapshot)
        self.detached = False
        self._wake = asyncio.Event()
        if snapshot:
            self._wake.set()

    def _feed(self, data: bytes) -> None:
        self._pending += data
        self.unacked += len(data)
        self._wake.set()

    async def read(self) -> bytes | None:
        """Everything accumulated since the last read, as one chunk; None once exited (or detached) and drained."""
        while not self._pending:
            if self.detached or self._terminal.finished:
                return None
            self._wake.clear()
            await self._wake.wait()
        data = bytes(self._pending)
        self._pending.clear()
        return data

    def ack(self, n: int) -> None:
        """The viewer processed ``n`` more bytes (resumes a paused pty once every viewer has caught up)."""
        self.unacked = max(0, self.unacked - max(0, int(n)))
        self._terminal._update_flow()

    def detach(self) -> None:
        """Stop receiving output; never affects the process."""
        if not self.detached:
            self.detached = True
            self._pending.clear()
            self._wake.set()
            self._terminal._detach(self)
