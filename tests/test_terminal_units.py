"""Terminal units without a pty: the scrollback ring by offset, a viewer's gathering, ack clamping and catching up."""

from __future__ import annotations

import asyncio
import random

import pytest

from app.terminals import Viewer
from app.terminals import viewer as viewer_module
from app.terminals.ring import ScrollbackRing

TIMEOUT = 15.0


def test_ring_unit() -> None:
    ring = ScrollbackRing(10)
    ring.append(b"abc")
    assert ring.read(0, 100) == (0, b"abc") and not ring.dropped and ring.total == 3
    assert ring.read(1, 1) == (1, b"b") and ring.read(3, 100) == (3, b"")
    ring.append(b"defghijk")
    assert len(ring) == 10 and ring.dropped and ring.first == 1 and ring.read(0, 100) == (1, b"bcdefghijk")
    ring2 = ScrollbackRing(4)
    ring2.append(b"abcd")
    assert not ring2.dropped
    ring2.append(b"01234\n6789")
    assert ring2.read(0, 100) == (10, b"6789")  # a reader that lost bytes starts at a line start when one is near
    assert ring2.read(11, 2) == (11, b"78")
    for bad in (-1, 15):
        with pytest.raises(ValueError):
            ring2.read(bad, 1)


def test_ring_overwrites_in_place_like_a_naive_model() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        cap = rng.randint(1, 40)
        ring, everything = ScrollbackRing(cap), b""
        for _ in range(rng.randint(1, 25)):
            size = rng.choice([0, 1, cap - 1, cap, cap + 1, rng.randint(0, 3 * cap)])
            data = bytes(rng.choice(b"ab\n") for _ in range(size))
            ring.append(data)
            everything += data
            first = max(0, len(everything) - cap)
            kept = everything[first:]
            assert len(ring) == len(kept) and ring.total == len(everything) and ring.first == first
            assert ring.dropped == (len(everything) > cap)
            offset, limit = rng.randint(0, len(everything)), rng.randint(1, 2 * cap)
            start, got = ring.read(offset, limit)
            if offset >= first:
                assert (start, got) == (offset, everything[offset : offset + limit])
            else:
                newline = kept.find(b"\n")
                assert start == first + newline + 1 if newline != -1 else start == first
                assert got == everything[start : start + limit]


class FakeTerminal:
    """Just what a Viewer asks of its terminal: a scrollback ring that ``print`` feeds to its viewers."""

    finished = False
    streaming = False

    def __init__(self, cap: int = 1 << 30) -> None:
        self.ring = ScrollbackRing(cap)
        self.viewers: list[Viewer] = []
        self.owner: Viewer | None = None

    @property
    def output_bytes(self) -> int:
        return self.ring.total

    def print(self, data: bytes) -> None:
        self.ring.append(data)
        for viewer in self.viewers:
            viewer.feed(data)

    def output_since(self, offset: int, limit: int) -> tuple[int, bytes]:
        return self.ring.read(offset, limit)

    def holds_back(self, viewer: Viewer) -> bool:
        return viewer is self.owner

    def viewer_input(self, viewer: Viewer, data: bytes) -> bool:
        return True

    def viewer_acked(self, viewer: Viewer) -> None:
        pass

    def viewer_detached(self, viewer: Viewer) -> None:
        pass


async def test_viewer_gathers_only_while_the_program_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viewer_module, "GATHER_S", 30.0)  # here only the byte target may end a gather
    term = FakeTerminal()
    viewer = Viewer(term, asyncio.get_running_loop(), 0)
    term.viewers.append(viewer)
    term.print(b"x" * 100)
    assert await asyncio.wait_for(viewer.read(), TIMEOUT) == b"x" * 100  # interactive output: returned at once

    term.streaming = True
    term.print(b"a" * 4096)
    reader = asyncio.create_task(viewer.read())
    for _ in range(viewer_module.GATHER_BYTES // 4096 - 1):
        await asyncio.sleep(0)
        assert not reader.done()
        term.print(b"b" * 4096)
    assert len(await asyncio.wait_for(reader, TIMEOUT)) == viewer_module.GATHER_BYTES

    term.print(b"c")
    reader = asyncio.create_task(viewer.read())
    await asyncio.sleep(0)
    viewer.detach()  # ends a gather in progress: nothing more is delivered
    assert await asyncio.wait_for(reader, TIMEOUT) is None


async def test_acks_are_clamped_to_what_was_handed_out() -> None:
    term = FakeTerminal()
    viewer = Viewer(term, asyncio.get_running_loop(), 0)
    term.viewers.append(viewer)
    term.owner = viewer
    term.print(b"x" * 1000)
    viewer.ack(10**12)  # acknowledges bytes it was never sent
    assert viewer.acked == 0 and viewer.unacked == 1000
    assert await asyncio.wait_for(viewer.read(), TIMEOUT) == b"x" * 1000
    viewer.ack(10**12)
    assert viewer.acked == 1000 and viewer.unacked == 0
    viewer.ack(-5)
    assert viewer.acked == 1000


async def test_a_viewer_that_is_not_the_owner_falls_back_to_the_scrollback_and_catches_up() -> None:
    term = FakeTerminal(cap=3 * viewer_module.PAUSE_ABOVE)
    viewer = Viewer(term, asyncio.get_running_loop(), 0)
    term.viewers.append(viewer)  # not the owner: it may not hold the program back
    line = b"y" * 1023 + b"\n"
    for _ in range(2048):  # 2 MiB nobody reads
        term.print(line)
        assert viewer.buffered <= viewer_module.PAUSE_ABOVE  # it drops its buffer rather than grow
    got = bytearray()
    while len(got) < 2 * 1024 * 1024:
        chunk = await asyncio.wait_for(viewer.read(), TIMEOUT)
        assert chunk is not None and viewer.gap is None  # the scrollback still had it all: nothing lost
        assert len(chunk) <= viewer_module.PULL_BYTES
        got += chunk
        viewer.ack(len(chunk))
    assert got == line * 2048 and viewer.offset == term.output_bytes
    term.print(b"live")
    assert await asyncio.wait_for(viewer.read(), TIMEOUT) == b"live"

    # Far behind, past what the scrollback keeps: the next chunk starts later and ``gap`` names the bytes lost.
    for _ in range(4 * 1024):
        term.print(line)
    chunk = await asyncio.wait_for(viewer.read(), TIMEOUT)
    resumed_at = term.ring.first + len(line)  # the oldest byte kept starts a line; the reader starts at the next
    assert viewer.gap == (2 * 1024 * 1024 + 4, resumed_at)
    assert chunk == line * (viewer_module.PULL_BYTES // len(line)) and viewer.offset == resumed_at + len(chunk)
