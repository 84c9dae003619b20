"""Recording terminal output and resizes as an asciicast v2 file (https://docs.asciinema.org)."""

from __future__ import annotations

import codecs
import time
from pathlib import Path

import msgspec

LIMIT_NOTE = "\r\n[maestro: recording stopped, size limit reached]\r\n"
WRITE_BUFFER = 256 * 1024

_encode = msgspec.json.Encoder().encode  # ~8x faster than json.dumps on terminal output, and writes UTF-8 directly


class AsciicastRecorder:
    """Writes a header line, then ``[seconds, "o", text]`` and ``[seconds, "r", "COLSxROWS"]`` events.

    Output bytes are decoded with an incremental UTF-8 decoder (errors="replace"), so a multi-byte character split
    across reads is kept whole. Once ``max_bytes`` would be exceeded, one final ``"o"`` event notes it and nothing
    more is written. Events are buffered (``flush`` writes them out); resizes and ``close`` flush.
    """

    def __init__(self, path: Path, *, cols: int, rows: int, max_bytes: int, term: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.truncated = False
        self._start = time.monotonic()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._file = path.open("wb", buffering=WRITE_BUFFER)
        self._written = 0
        header = {"version": 2, "width": cols, "height": rows, "timestamp": int(time.time()), "env": {"TERM": term}}
        self._write_line(_encode(header))

    @property
    def closed(self) -> bool:
        """True once the file was closed."""
        return self._file.closed

    def output(self, data: bytes) -> None:
        """Record output bytes as an ``"o"`` event."""
        if self.closed or self.truncated:
            return
        text = self._decoder.decode(data)
        if text:
            self._event("o", text)

    def resize(self, cols: int, rows: int) -> None:
        """Record a resize as an ``"r"`` event."""
        if not self.closed and not self.truncated:
            self._event("r", f"{cols}x{rows}")
            self._file.flush()

    def flush(self) -> None:
        """Write buffered events to the file."""
        if not self.closed:
            self._file.flush()

    def close(self) -> None:
        """Record what the decoder still holds, then close the file."""
        if self.closed:
            return
        if not self.truncated:
            rest = self._decoder.decode(b"", final=True)
            if rest:
                self._event("o", rest)
        self._file.close()

    def _event(self, kind: str, text: str) -> None:
        line = _encode([round(time.monotonic() - self._start, 6), kind, text])
        if self._written + len(line) + 1 > self.max_bytes:
            self.truncated = True
            self._write_line(_encode([round(time.monotonic() - self._start, 6), "o", LIMIT_NOTE]))
            self._file.flush()
            return
        self._write_line(line)

    def _write_line(self, line: bytes) -> None:
        self._file.write(line)
        self._file.write(b"\n")
        self._written += len(line) + 1
