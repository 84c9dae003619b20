"""A held terminal's output side: the scrollback mirror, the local viewers and flow control end to end.

``HeldOutput`` is the base of ``HeldTerminal``. OUTPUT frames feed a ring mirroring the holder's (same offsets) and
the local viewers. The holder is acknowledged what the local input owner acknowledged (all that arrived when there
is no owner), so the holder's viewer lags exactly as the owner does and pauses the pty at the same mark as
``Terminal`` pauses its reader, with the same bound on what the owner buffers. The socket is read all the while (a
dead holder must be noticed at once); what arrives is bounded by the holder's pause mark. Small amounts are
acknowledged ``ACK_DELAY_S`` later, together, so typing does not wake the holder twice per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from app.terminals.held_link import HolderLink
from app.terminals.holder_protocol import ACK, U64, ProtocolError, frame
from app.terminals.pty_host import STREAM_BYTES, STREAM_GAP_S
from app.terminals.ring import ScrollbackRing
from app.terminals.viewer import Viewer

log = logging.getLogger(__name__)

ACK_EVERY = 128 * 1024  # output acknowledged to the holder at once from this much on (it pauses at PAUSE_ABOVE)
ACK_DELAY_S = 0.01  # less is acknowledged this much later
CATCH_UP_TIMEOUT_S = 5.0  # a reconnect taking in the holder's scrollback


class HeldOutput:
    """The output of a program under a holder as this server sees it: mirror, viewers, acknowledgements."""

    def __init__(self, link: HolderLink, hello: dict[str, Any]) -> None:
        self._loop = asyncio.get_running_loop()
        self._link = link
        self.pid: int = int(hello["pid"])
        self.finished = False
        self.last_output_at = time.monotonic() - float(hello.get("output_age_s") or 0.0)
        self._closing = False  # detach or collect: the connection ends on purpose
        self._ring = ScrollbackRing(int(hello["scrollback_bytes"]))
        self._ring.total = int(hello["first"])  # an empty ring whose next byte has the holder's offset
        self._burst = 0
        self._viewers: list[Viewer] = []
        self._owner: Viewer | None = None
        self._paused = False  # the holder's flow control stopped reading the pty (it says so: FLOW)
        self._acked_to = self._ring.total  # the offset up to which output was acknowledged to the holder
        self._ack_timer: asyncio.TimerHandle | None = None
        self._started = False  # ATTACHED arrived: the mirror's offsets are the holder's
        self._waiter: asyncio.Future[None] | None = None  # start or reconnect waiting for ATTACHED, the scrollback

    # ------------------------------------------------------------------------------------------ public API
    @property
    def output_bytes(self) -> int:
        """Bytes of output so far (the holder's offsets): the offset of the next byte."""
        return self._ring.total

    @property
    def paused(self) -> bool:
        """True while flow control keeps the holder from reading the pty (the holder reports it)."""
        return self._paused and not self.finished

    @property
    def streaming(self) -> bool:
        """True while the program prints a continuous stream (viewers then gather larger chunks per read)."""
        return self._burst >= STREAM_BYTES and time.monotonic() - self.last_output_at < STREAM_GAP_S

    def attach(self, offset: int = 0) -> Viewer:
        """A new viewer whose reads start at output byte ``offset`` (ValueError past the end); see ``Terminal``."""
        if not 0 <= offset <= self.output_bytes:
            raise ValueError(f"offset {offset} is outside the output (0..{self.output_bytes})")
        viewer = Viewer(self, self._loop, offset)
        if self._closing:
            viewer.detach()  # this server let go of the program: nothing will come
        elif not self.finished:
            self._viewers.append(viewer)
            if self._owner is None or not self._owner.input_seq:
                self._owner = viewer
            self._update_flow()
        return viewer

    def output_since(self, offset: int, limit: int) -> tuple[int, bytes]:
        """Up to ``limit`` bytes of scrollback from ``offset`` on, and the offset they really start at."""
        return self._ring.read(offset, limit)

    def holds_back(self, viewer: Viewer) -> bool:
        """True for the input owner, the one viewer whose lag pauses the program."""
        return viewer is self._owner

    # ------------------------------------------------------------------------------------------ viewers
    def viewer_acked(self, viewer: Viewer) -> None:
        """A viewer acknowledged output: when it is the owner, the holder may be acknowledged again."""
        if viewer is self._owner:
            self._update_flow()

    def viewer_detached(self, viewer: Viewer) -> None:
        """A viewer went away: it no longer holds the program back; the owner passes on as in ``Terminal``."""
        with contextlib.suppress(ValueError):
            self._viewers.remove(viewer)
        if viewer is self._owner:
            self._owner = max(reversed(self._viewers), key=lambda v: v.input_seq, default=None)
        self._update_flow()

    def _finish(self) -> None:
        """The program's output ended (it exited or its holder is gone): viewers return what they hold, then None."""
        self.finished = True
        self._paused = False
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        for viewer in self._viewers:
            viewer.wake()  # a viewer returns what it holds, then None
        self._viewers.clear()
        self._owner = None
        self._wake_waiter()

    def _end_viewers(self) -> None:
        for viewer in list(self._viewers):
            viewer.detach()
        self._viewers.clear()
        self._owner = None

    # ------------------------------------------------------------------------------------------ from the holder
    def _output(self, offset: int, data: bytes) -> None:
        if offset != self._ring.total:
            if offset < self._ring.total:
                raise ProtocolError(f"output at {offset} repeats what arrived (up to {self._ring.total})")
            self._gap(self._ring.total, offset)
        ring = self._ring
        now = time.monotonic()
        self._burst = len(data) if now - self.last_output_at > STREAM_GAP_S else self._burst + len(data)
        self.last_output_at = now
        ring.append(data)
        for viewer in self._viewers:
            viewer.feed(data)

    def _attached(self, offset: int) -> None:
        """The holder's answer to ATTACH: output starts at ``offset`` (nothing has arrived before it)."""
        if not self._started:
            self._started = True
            self._ring.total = self._acked_to = offset
            self._wake_waiter()

    def _gap(self, start: int, end: int) -> None:
        ring = self._ring
        if end <= ring.total:
            return
        if start < ring.total:
            raise ProtocolError(f"output gap [{start}, {end}) overlaps what arrived (up to {ring.total})")
        # Only when the holder's scrollback is smaller than its pause mark: its own viewer lost output. Start over
        # at the new offset; local viewers end and reconnect from the scrollback (a live viewer cannot be told of a
        # gap, and bytes at the wrong offsets are worse).
        log.error("output of pid %s jumped from %s to %s", self.pid, ring.total, end)
        self._end_viewers()
        self._ring = ScrollbackRing(ring.cap)
        self._ring.total = end
        self._acked_to = max(self._acked_to, end)  # the holder's viewer never handed these out

    def _batch_done(self) -> None:
        """After a read from the socket: acknowledge what may be, wake a reconnect waiting for the scrollback."""
        self._update_flow()
        self._wake_waiter()

    def _wake_waiter(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _catch_up(self, offset: int, *, exited: bool) -> None:
        """Wait (a bounded time) until the mirror holds the output up to ``offset`` (and the exit, if there was one)."""
        await self._wait_for(lambda: self.finished or (self._ring.total >= offset and not exited), CATCH_UP_TIMEOUT_S)

    async def _wait_for(self, done: Callable[[], bool], timeout: float) -> None:
        """Wait until ``done()`` (checked after each read from the socket), at most ``timeout`` seconds."""
        deadline = self._loop.time() + timeout
        while not done() and self._loop.time() < deadline:
            waiter = self._loop.create_future()
            self._waiter = waiter
            try:
                await asyncio.wait_for(waiter, max(0.0, deadline - self._loop.time()))
            except TimeoutError:
                break
            finally:
                self._waiter = None

    # ------------------------------------------------------------------------------------------ acknowledgements
    def _acknowledged(self) -> int:
        """The offset the holder may count as acknowledged: where the input owner's acknowledgements reached (all that
        arrived when there is no owner). So the holder's viewer lags as the owner does, and the pty pauses at the
        same mark as in-process. (Measured: with a reader keeping up, this almost never pauses a stream.)"""
        owner = self._owner
        return self._ring.total - owner.unacked if owner is not None else self._ring.total

    def _update_flow(self) -> None:
        if self.finished or self._closing:
            return
        due = self._acknowledged() - self._acked_to
        if due >= ACK_EVERY:
            self._send_ack()
        elif due > 0 and self._ack_timer is None:
            # A little (an echo, a prompt): acknowledged a moment later with whatever follows, rather than waking
            # the holder once per key. The holder only pauses PAUSE_ABOVE bytes behind.
            self._ack_timer = self._loop.call_later(ACK_DELAY_S, self._send_ack)

    def _send_ack(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        target = self._acknowledged()
        if target > self._acked_to and not self._closing and not self.finished:
            self._link.send(frame(ACK, U64.pack(target - self._acked_to)))
            self._acked_to = target
