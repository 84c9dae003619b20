"""Recording terminal output and resizes as an asciicast v2 file (https://docs.asciinema.org)."""

from __future__ import annotations

import codecs
import json
import time
from pathlib import Path

LIMIT_NOTE = "\r\n[maestro: recording stopped, size limit reached]\r\n"


class AsciicastRecorder:
    """Writes a header line, then ``[seconds, "o", text]`` and ``[seconds, "r", "COLSxROWS"]`` events.

    Output bytes are decoded with an incremental UTF-8 decoder (errors="replace"), so a multi-byte character split
    across reads is kept whole. Once ``max_bytes`` would be exceeded, one final ``"o"`` event notes it and nothing
    more is written.
    """

    def __init__(self, path: Path, *, cols: int, rows: int, max_bytes: int, term: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.truncated = False
        self._start = time.monotonic()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._file = path.open("w", encoding="utf-8", newline="\n")
        self._written = 0
        header = {"version": 2, "width": cols, "height": rows, "timestamp": int(time.time()), "env": {"TERM": term}}
        self._write_line(json.dumps(header))

    @property
    def closed(self) -> bool:
        return self._file.closed

    def output(self, data: bytes) -> None:
        if self.closed or self.truncated:
            return
        text = self._decoder.decode(data)
        if text:
            self._event("o", text)

    def resize(self, cols: int, rows: int) -> None:
        if not self.closed and not self.truncated:
            self._event("r", f"{cols}x{rows}")
            self._file.flush()

    def flush(self) -> None:
        if not self.closed:
            self._file.flush()

    def close(self) -> None:
        if self.closed:
            return
        if not self.truncated:
            rest = self._decoder.decode(b"", final=True)
            if rest:
                self._event("o", rest)
        self._file.close()

    def _event(self, kind: str, text: str) -> None:
        line = json.dumps([round(time.monotonic() - self._start, 6), kind, text], ensure_ascii=False)
        size = len(line.encode("utf-8")) + 1
        if self._written + size > self.max_bytes:
            self.truncated = True
            note = json.dumps([round(time.monotonic() - self._start, 6), "o", LIMIT_NOTE])
            self._write_line(note)
            self._file.flush()
            return
        self._write_line(line)

    def _write_line(self, line: str) -> None:
        self._file.write(line + "\n")
        self._written += len(line.encode("utf-8")) + 1
