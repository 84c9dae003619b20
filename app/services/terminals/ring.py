"""A bounded scrollback ring of terminal output bytes."""

from __future__ import annotations

DROPPED_MARKER = b"\r\n[\xe2\x80\xa6 older output dropped \xe2\x80\xa6]\r\n"


class ScrollbackRing:
    """Keeps the newest ``cap`` bytes of output and remembers whether older bytes were dropped."""

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("scrollback cap must be at least 1 byte")
        self.cap = cap
        self.dropped = False
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def append(self, data: bytes) -> None:
        if len(data) >= self.cap:
            self.dropped = self.dropped or len(data) > self.cap or bool(self._buf)
            self._buf = bytearray(data[-self.cap :])
            return
        self._buf += data
        excess = len(self._buf) - self.cap
        if excess > 0:
            del self._buf[:excess]  # CPython makes deleting from the front cheap
            self.dropped = True

    def snapshot(self) -> bytes:
        """What a newly attached viewer sees first: the marker (when output was dropped), then the kept bytes.

        When output was dropped the kept bytes start at a line boundary if one is near the front, so a viewer
        does not begin inside a half-cut line or escape sequence more often than necessary.
        """
        data = bytes(self._buf)
        if not self.dropped:
            return data
        newline = data.find(b"\n", 0, 4096)
        if newline != -1:
            data = data[newline + 1 :]
        return DROPPED_MARKER + data
