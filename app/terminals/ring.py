"""A bounded scrollback ring of terminal output, addressed by absolute offset (bytes since the program started)."""

from __future__ import annotations

LINE_SEARCH = 4096  # how far past a cut a resynchronised reader may start, to begin at a line boundary


class ScrollbackRing:
    """Keeps the newest ``cap`` bytes of output; ``total`` counts every byte ever appended.

    The buffer grows up to ``cap`` and is then overwritten in place (a circular buffer): appending never
    reallocates or moves the kept bytes, which matters when a program prints tens of MB per second.
    """

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("scrollback cap must be at least 1 byte")
        self.cap = cap
        self.total = 0  # bytes appended so far: the offset of the next byte
        self._buf = bytearray()
        self._start = 0  # once full: index of the oldest byte (and where the next byte goes)

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def first(self) -> int:
        """The offset of the oldest byte kept."""
        return self.total - len(self._buf)

    @property
    def dropped(self) -> bool:
        """True once older output was overwritten."""
        return self.first > 0

    def append(self, data: bytes) -> None:
        """Add output; once the ring is full the oldest bytes are overwritten."""
        n = len(data)
        if not n:
            return
        self.total += n
        buf, cap = self._buf, self.cap
        if n >= cap:
            self._buf = bytearray(memoryview(data)[n - cap :])
            self._start = 0
            return
        room = cap - len(buf)
        if n <= room:
            buf += data
            return
        view = memoryview(data)
        if room:
            buf += view[:room]
            view = view[room:]
            n -= room
        start = self._start
        end = start + n
        if end <= cap:
            buf[start:end] = view
        else:
            first = cap - start
            buf[start:] = view[:first]
            buf[: n - first] = view[first:]
        self._start = end % cap

    def read(self, offset: int, limit: int) -> tuple[int, bytes]:
        """Up to ``limit`` bytes from ``offset`` on, and the offset they really start at.

        When ``offset`` was already overwritten the bytes start later: at the first line start near the oldest byte
        kept (so a reader does not begin inside a half-cut line or escape sequence more often than necessary).
        """
        if not 0 <= offset <= self.total:
            raise ValueError(f"offset {offset} is outside the output (0..{self.total})")
        first = self.first
        if offset < first:
            newline = self._slice(0, min(LINE_SEARCH, len(self._buf))).find(b"\n")
            offset = first + newline + 1 if newline != -1 else first
        n = min(limit, self.total - offset)
        return offset, self._slice(offset - first, n)

    def _slice(self, position: int, n: int) -> bytes:
        """``n`` bytes from ``position`` (0: the oldest byte kept)."""
        buf = self._buf
        if n <= 0:
            return b""
        i = (self._start + position) % len(buf)
        if i + n <= len(buf):
            return bytes(buf[i : i + n])
        return b"".join((memoryview(buf)[i:], memoryview(buf)[: i + n - len(buf)]))
