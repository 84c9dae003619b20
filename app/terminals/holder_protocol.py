"""The wire format between a session's holder process and the server: binary frames over one unix socket.

A frame is a 5-byte header, the type (1 byte) and the payload's length (4 bytes, big-endian), then the payload.
Output travels as raw bytes behind an 8-byte offset (no base64, no JSON: it is the bulk of the traffic); counters
are fixed-size integers; only rare control frames (HELLO, EXITED, STOP) carry a small JSON object.

Holder → server: HELLO (on every connect), ATTACHED, OUTPUT, GAP, FLOW, EXITED, INPUT_STATE, INPUT_REFUSED, FLUSHED,
REPLACED.
Server → holder: ATTACH, ACK, INPUT, RESIZE, STOP, FLUSH, COLLECT.

Holders outlive the server, so an upgraded server meets holders started by an older one: keep frames compatible
(add types, never change one) or the sessions they hold are lost at the upgrade. Also here: the spec the server
hands a new holder, and the checks both sides make (a private directory, the peer's uid).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

VERSION = 1
MAX_PAYLOAD = 16 * 1024 * 1024  # far above any real frame (output frames are at most a few hundred KiB)

# holder -> server
HELLO = 1  # JSON: see the holder's ``hello``
OUTPUT = 2  # u64 offset of the first byte, then the bytes
GAP = 3  # u64 from, u64 to: output lost before the next OUTPUT (older than the holder's scrollback)
EXITED = 4  # JSON {"code": int}: after the last OUTPUT
INPUT_STATE = 5  # u64 input bytes received so far, u64 bytes still queued for the pty
INPUT_REFUSED = 6  # u64 bytes refused (the holder's queue was full)
FLUSHED = 7  # the recording was written out
REPLACED = 8  # another server connected: this connection ends (nothing happened to the program)
ATTACHED = 9  # u64 offset: the answer to ATTACH, where output really starts (later when ATTACH's was cut)
FLOW = 10  # u8 1/0: flow control paused / resumed reading the pty
# server -> holder
ATTACH = 16  # u64 offset: start (or restart) sending output from there
ACK = 17  # u64 more bytes of output acknowledged (as far as the server's input owner got; all without one)
INPUT = 18  # u32 limit (NO_LIMIT: none), then the bytes to type
RESIZE = 19  # u16 cols, u16 rows
STOP = 20  # JSON {"grace": float}: HUP, TERM, KILL the child
FLUSH = 21  # write the recording out; answered by FLUSHED
COLLECT = 22  # the server recorded the exit: close everything and exit

NO_LIMIT = 0xFFFFFFFF

HEADER = struct.Struct(">BI")
U64 = struct.Struct(">Q")
U64_PAIR = struct.Struct(">QQ")
U32 = struct.Struct(">I")
U16_PAIR = struct.Struct(">HH")
OUTPUT_HEADER = struct.Struct(">BIQ")  # an OUTPUT frame's header and offset, packed at once
PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class ProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol."""


class HolderRefused(Exception):
    """A holder's socket or its directory is not private (shared, foreign), or the socket is in use."""


def check_private_dir(path: Path) -> None:
    """HolderRefused unless ``path`` is a real directory owned by this uid that only it can access."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise HolderRefused(f"socket directory {path} does not exist") from None
    if not stat.S_ISDIR(st.st_mode):
        raise HolderRefused(f"socket directory {path} is not a directory")
    if st.st_uid != os.getuid():
        raise HolderRefused(f"socket directory {path} belongs to uid {st.st_uid}, not {os.getuid()}")
    if st.st_mode & 0o077:
        raise HolderRefused(f"socket directory {path} is accessible to others (mode {st.st_mode & 0o777:o})")


def peer_uid(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a unix socket, from the kernel (SO_PEERCRED)."""
    pid, uid, _ = PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size))
    return pid, uid


def frame(kind: int, payload: bytes = b"") -> bytes:
    """One whole frame (for small frames; output goes through ``output_header`` to avoid a copy)."""
    return HEADER.pack(kind, len(payload)) + payload


def json_frame(kind: int, body: dict[str, Any]) -> bytes:
    """A control frame with a small JSON object."""
    return frame(kind, json.dumps(body, separators=(",", ":")).encode())


def output_header(offset: int, size: int) -> bytes:
    """The 13 bytes before ``size`` output bytes starting at ``offset``."""
    return OUTPUT_HEADER.pack(OUTPUT, size + 8, offset)


def load_json(payload: memoryview) -> dict[str, Any]:
    """A control frame's object; ProtocolError when it is not one."""
    try:
        body = json.loads(bytes(payload))
    except ValueError as exc:
        raise ProtocolError(f"bad JSON in a control frame: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError("a control frame must hold a JSON object")
    return body


class FrameReader:
    """Splits a byte stream into frames, calling ``handle(kind, payload)`` for each whole one.

    The payload is a memoryview valid only during the call (copy what must be kept). Bytes of an incomplete frame
    wait in a buffer; a stream made of whole frames (the common case) is parsed in place without copying it.
    """

    def __init__(self, handle: Callable[[int, memoryview], None]) -> None:
        self._handle = handle
        self._rest = bytearray()

    def feed(self, data: bytes) -> None:
        """Parse ``data`` (appended to what was left over)."""
        if self._rest:
            self._rest += data
            buf: bytes | bytearray = self._rest
        else:
            buf = data
        size = len(buf)
        pos = 0
        with memoryview(buf) as view:
            while size - pos >= 5:
                kind, length = HEADER.unpack_from(buf, pos)
                if length > MAX_PAYLOAD:
                    raise ProtocolError(f"frame of {length} bytes exceeds the limit")
                end = pos + 5 + length
                if end > size:
                    break
                self._handle(kind, view[pos + 5 : end])
                pos = end
        if buf is self._rest:
            del self._rest[:pos]
        elif pos < size:
            self._rest += memoryview(data)[pos:]


@dataclass(frozen=True)
class HolderSpec:
    """What the server tells a new holder: the program to run and where to serve (a 0600 JSON file, read once)."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    cols: int
    rows: int
    socket_path: str
    scrollback_bytes: int = 2 * 1024 * 1024
    recording_path: str | None = None
    recording_max_bytes: int = 50 * 1024 * 1024
    orphan_grace_s: float | None = None  # None: a child whose server never returns runs on
    exit_wait_s: float = 24 * 3600.0  # how long an exit nobody collected is kept with no server connected
    stop_grace_s: float = 3.0  # HUP → TERM → KILL spacing when the holder stops the child itself
    log_path: str | None = None

    def dumps(self) -> bytes:
        """The spec as JSON."""
        return json.dumps(asdict(self)).encode()

    @classmethod
    def loads(cls, data: bytes) -> HolderSpec:
        """A spec from JSON; ValueError naming what is wrong."""
        body = json.loads(data)
        if not isinstance(body, dict):
            raise ValueError("the spec must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown spec fields: {sorted(unknown)}")
        try:
            return cls(**body)
        except TypeError as exc:
            raise ValueError(f"bad spec: {exc}") from None
