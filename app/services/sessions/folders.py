"""Reading a session's folder: a growing recording in whole lines, a text file up to a limit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def whole_lines(handle: BinaryIO, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """The file up to its size now, cut after the last newline: a growing recording never ends mid-event."""
    with handle:
        remaining = os.fstat(handle.fileno()).st_size
        tail = b""
        while remaining > 0:
            data = handle.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            data = tail + data
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            if cut:
                yield data[:cut]


def read_text_upto(path: Path, limit: int) -> str | None:
    """At most `limit` characters of a text file (undecodable bytes replaced); None when it does not exist."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.read(limit)
    except FileNotFoundError:
        return None
