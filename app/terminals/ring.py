"""A bounded scrollback ring of terminal output bytes."""

from __future__ import annotations

DROPPED_MARKER = b"\r\n[\xe2\x80\xa6 older output dropped \xe2\x80\xa6]\r\n"


class ScrollbackRing:
    """Keeps the newest ``cap`` bytes of output and remembers whether older bytes were dropped.

    The buffer grows up to ``cap`` and is then overwritten in place (a circular buffer): appending never
    reallocates or moves the kept bytes, which matters when a program prints tens of MB per second.
    """

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("scrollback cap must be at least 1 byte")
        self.cap = cap
        self.dropped = False
        self._buf = bytearray()
        self._start = 0  # once full: index of the oldest byte (and where the next byte goes)

    def __len__(self) -> int:
        return len(self._buf)

    def append(self, data: bytes) -> None:
        """Add output; once the ring is full the oldest bytes are overwritten."""
        n = len(data)
        if not n:
            return
        buf, cap = self._buf, self.cap
        if n >= cap:
            self.dropped = self.dropped or n > cap or bool(buf)
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
        self.dropped = True
        start = self._start
        end = start + n
        if end <= cap:
            buf[start:end] = view
        else:
            first = cap - start
            buf[start:] = view[:first]
            buf[: n - first] = view[first:]
        self._start = end % cap

    def snapshot(self) -> bytes:
        """What a newly attached viewer sees first: the marker (when output was dropped), then the kept bytes.

        When output was dropped the kept bytes start at a line boundary if one is near the front, so a viewer
        does not begin inside a half-cut line or escape sequence more often than necessary.
        """
        buf, start = self._buf, self._start
        data = bytes(buf) if not start else b"".join((memoryview(buf)[start:], memoryview(buf)[:start]))
        if not self.dropped:
            return data
        newline = data.find(b"\n", 0, 4096)
        if newline != -1:
            data = data[newline + 1 :]
        return DROPPED_MARKER + data
