"""Input for a pty: written without blocking, queued (up to a cap) while the program does not read it."""

from __future__ import annotations

import asyncio
import os

MAX_INPUT = 1024 * 1024  # input queued for a program that does not read it (beyond: refused, never buffered)
INTERRUPT_CHARS = (0x03, 0x1C)  # Ctrl-C, Ctrl-\ : like the tty, they flush queued input and go first


class InputQueue:
    """Writes to a non-blocking pty master fd; what it does not take now is flushed when it becomes writable."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._loop = loop
        self._fd = fd
        self._out = bytearray()
        self._writing = False
        self.closed = False

    def __len__(self) -> int:
        return len(self._out)

    def put(self, data: bytes, limit: int | None = MAX_INPUT) -> bool:
        """Queue ``data`` and write what the pty takes; False, queueing nothing, when the queue would pass ``limit``."""
        if self._out and data[:1] and data[0] in INTERRUPT_CHARS:
            self._out.clear()  # the line discipline flushes pending input on INTR/QUIT too
        if limit is not None and len(self._out) + len(data) > limit:
            return False
        self._out += data
        self._flush()
        return True

    def close(self) -> None:
        """Drop what is queued and stop watching the fd (before it is closed)."""
        self.closed = True
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False
        self._out.clear()

    def _flush(self) -> None:
        while self._out and not self.closed:
            try:
                n = os.write(self._fd, self._out)
            except BlockingIOError:
                break
            except OSError:  # the slave side is gone: nobody will read it
                self._out.clear()
                break
            del self._out[:n]
        if self._out and not self.closed and not self._writing:
            self._loop.add_writer(self._fd, self._flush)
            self._writing = True
        elif not self._out and self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False
