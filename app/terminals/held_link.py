"""The server's connection to a holder: checking its socket, connecting (our uid, HELLO), frames in and out.

``HolderLink`` reads the holder's frames and hands them to the ``HeldTerminal`` it serves; ``connect`` opens one;
``dismiss_holder`` ends a holder this server will not take back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.terminals.holder_protocol import (
    ATTACHED,
    COLLECT,
    EXITED,
    FLOW,
    FLUSHED,
    GAP,
    HELLO,
    INPUT_REFUSED,
    INPUT_STATE,
    OUTPUT,
    REPLACED,
    STOP,
    U64,
    U64_PAIR,
    VERSION,
    FrameReader,
    HolderRefused,
    ProtocolError,
    check_private_dir,
    frame,
    json_frame,
    load_json,
    peer_uid,
)

if TYPE_CHECKING:
    from app.terminals.held import HeldTerminal

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0  # connecting and hearing HELLO
COLLECT_TIMEOUT_S = 2.0  # a collected holder closing its end
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; longer paths are reached through the directory's fd


class HolderGone(Exception):
    """The holder of a session cannot be reached or is not the session's (``reason`` says which and why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HolderLink(asyncio.Protocol):
    """The connection to the holder: frames in, frames out."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.hello: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.hello.add_done_callback(quiet)  # a connection that ends before HELLO may have nobody waiting
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.terminal: HeldTerminal | None = None
        self._reader = FrameReader(self._handle)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """The socket is connected (who answers is checked by ``connect``)."""
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        """Frames from the holder: each handled, then the terminal acknowledges what it may."""
        try:
            self._reader.feed(data)
        except (ProtocolError, ValueError, KeyError, TypeError) as exc:
            self._fail(f"the holder sent a bad frame: {exc}")
            return
        if self.terminal is not None:
            self.terminal._batch_done()

    def eof_received(self) -> bool:
        """The holder closed its end: close ours too."""
        return False  # close: the holder went away

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection ended: whoever waits hears it, and the terminal learns its holder is gone."""
        why = f"the holder's connection closed ({exc})" if exc else "the holder's connection closed"
        if not self.hello.done():
            self.hello.set_exception(HolderGone(why))
        if not self.closed.done():
            self.closed.set_result(None)
        if self.terminal is not None:
            self.terminal._link_lost(why)

    def send(self, data: bytes) -> None:
        """Queue a frame for the holder (dropped once the connection is closing)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        """Close the connection once what is queued went out."""
        if self.transport is not None:
            self.transport.close()

    def _fail(self, why: str) -> None:
        log.error("%s", why)
        if self.terminal is not None:
            self.terminal._link_lost(why)
        if self.transport is not None:
            self.transport.abort()

    def _handle(self, kind: int, payload: memoryview) -> None:
        terminal = self.terminal
        if kind == HELLO:
            if not self.hello.done():
                self.hello.set_result(load_json(payload))
            return
        if terminal is None:
            raise ProtocolError(f"frame type {kind} before HELLO was taken")
        if kind == OUTPUT:
            terminal._output(U64.unpack_from(payload)[0], bytes(payload[8:]))
        elif kind == ATTACHED:
            terminal._attached(U64.unpack(payload)[0])
        elif kind == FLOW:
            terminal._paused = payload[0] == 1
        elif kind == GAP:
            terminal._gap(*U64_PAIR.unpack(payload))
        elif kind == INPUT_STATE:
            terminal._input_state(*U64_PAIR.unpack(payload))
        elif kind == EXITED:
            terminal._exited_with(int(load_json(payload)["code"]))
        elif kind == FLUSHED:
            terminal._flushed()
        elif kind == REPLACED:
            terminal._taken_over()
        elif kind == INPUT_REFUSED:
            log.warning("the holder of pid %s refused %s bytes of input", terminal.pid, U64.unpack(payload)[0])
        else:
            raise ProtocolError(f"unknown frame type {kind}")


async def connect(socket_path: Path) -> tuple[HolderLink, dict[str, Any]]:
    """Connect to a holder, check who answers (our uid) and read its HELLO."""
    check_socket(socket_path)
    loop = asyncio.get_running_loop()
    try:
        with _address(socket_path) as address:
            connecting = loop.create_unix_connection(HolderLink, address)
            transport, link = await asyncio.wait_for(connecting, CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise HolderGone(f"cannot connect to the holder at {socket_path}: {exc}") from None
    try:
        holder_pid, uid = peer_uid(transport.get_extra_info("socket"))
        if uid != os.getuid():
            raise HolderGone(f"{socket_path} is served by uid {uid}, not ours")
        try:
            hello = await asyncio.wait_for(asyncio.shield(link.hello), CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise HolderGone(f"the holder at {socket_path} did not say hello") from None
        if hello.get("version") != VERSION:
            raise HolderGone(f"the holder at {socket_path} speaks protocol {hello.get('version')}, not {VERSION}")
        if hello.get("holder_pid") != holder_pid:
            raise HolderGone(
                f"the holder at {socket_path} claims pid {hello.get('holder_pid')}, the kernel {holder_pid}"
            )
    except BaseException:
        transport.abort()
        raise
    return link, hello


def check_socket(socket_path: Path) -> None:
    """HolderGone unless the socket exists, is ours and private, in a private directory."""
    try:
        check_private_dir(socket_path.parent)
        st = os.lstat(socket_path)
    except FileNotFoundError:
        raise HolderGone(f"no holder socket at {socket_path}: the holder is gone") from None
    except HolderRefused as exc:
        raise HolderGone(str(exc)) from None
    if not stat.S_ISSOCK(st.st_mode):
        raise HolderGone(f"{socket_path} is not a socket")
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise HolderGone(f"{socket_path} is not private (uid {st.st_uid}, mode {st.st_mode & 0o777:o})")


async def dismiss_holder(socket_path: Path, grace: float = 3.0) -> bool:
    """End a holder this server will not take back (a session it marks lost or stale): its program is stopped (HUP,
    TERM, KILL over ``grace``) and it exits. True once it was told; False when nothing answers there (a socket file
    left by a dead holder is removed)."""
    socket_path = Path(socket_path)
    try:
        link, _ = await connect(socket_path)
    except HolderGone:
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.lstat(socket_path).st_mode) and not _answers(socket_path):
                os.unlink(socket_path)
        return False
    link.send(json_frame(STOP, {"grace": grace}))
    link.send(frame(COLLECT))
    await wait_closed(link, grace + 5.0 + COLLECT_TIMEOUT_S)
    link.close()
    return True


async def wait_closed(link: HolderLink, timeout: float) -> None:
    """Wait (at most ``timeout``) until the connection ended."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(link.closed), timeout)


def quiet(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception retrieved (nobody has to wait on an exit)."""
    if not future.cancelled():
        future.exception()


def _answers(socket_path: Path) -> bool:
    """True when something listens at a unix socket (a non-blocking connect: local, never waits)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        with _address(socket_path) as address:
            probe.connect(address)
    except BlockingIOError:
        return True  # its backlog is full: it listens
    except OSError:
        return False
    finally:
        probe.close()
    return True


@contextlib.contextmanager
def _address(socket_path: Path) -> Iterator[str]:
    """The address to connect to: the path, or when it is too long for a unix address, the same file reached
    through the directory's descriptor (Linux /proc), valid inside the ``with``."""
    address = str(socket_path)
    if len(os.fsencode(address)) <= MAX_SOCKET_PATH:
        yield address
        return
    dir_fd = os.open(socket_path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{dir_fd}/{socket_path.name}"
    finally:
        os.close(dir_fd)
