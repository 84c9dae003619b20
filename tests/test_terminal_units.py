"""Terminal units without a pty: the scrollback ring and a viewer's gathering of output."""

from __future__ import annotations

import asyncio
import random

import pytest

from app.terminals import DROPPED_MARKER, Viewer
from app.terminals import viewer as viewer_module
from app.terminals.ring import ScrollbackRing

TIMEOUT = 15.0


def test_ring_unit() -> None:
    ring = ScrollbackRing(10)
    ring.append(b"abc")
    assert ring.snapshot() == b"abc" and not ring.dropped
    ring.append(b"defghijk")
    assert len(ring) == 10 and ring.dropped and ring.snapshot().endswith(b"bcdefghijk")
    ring2 = ScrollbackRing(4)
    ring2.append(b"abcd")
    assert not ring2.dropped
    ring2.append(b"0123456789")
    assert ring2.snapshot() == DROPPED_MARKER + b"6789"


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
            kept = everything[-cap:]
            assert len(ring) == len(kept) and ring.dropped == (len(everything) > cap)
            if not ring.dropped:
                assert ring.snapshot() == kept
            else:
                newline = kept.find(b"\n")
                assert ring.snapshot() == DROPPED_MARKER + (kept[newline + 1 :] if newline != -1 else kept)


class FakeTerminal:
    """Just what a Viewer asks of its terminal."""

    finished = False
    streaming = False

    def viewer_acked(self) -> None:
        pass

    def viewer_detached(self, viewer: Viewer) -> None:
        pass


async def test_viewer_gathers_only_while_the_program_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viewer_module, "GATHER_S", 30.0)  # here only the byte target may end a gather
    term = FakeTerminal()
    viewer = Viewer(term, asyncio.get_running_loop(), b"")
    viewer.feed(b"x" * 100)
    assert await asyncio.wait_for(viewer.read(), TIMEOUT) == b"x" * 100  # interactive output: returned at once

    term.streaming = True
    viewer.feed(b"a" * 4096)
    reader = asyncio.create_task(viewer.read())
    for _ in range(viewer_module.GATHER_BYTES // 4096 - 1):
        await asyncio.sleep(0)
        assert not reader.done()
        viewer.feed(b"b" * 4096)
    assert len(await asyncio.wait_for(reader, TIMEOUT)) == viewer_module.GATHER_BYTES

    viewer.feed(b"c")
    reader = asyncio.create_task(viewer.read())
    await asyncio.sleep(0)
    viewer.detach()  # ends a gather in progress: nothing more is delivered
    assert await asyncio.wait_for(reader, TIMEOUT) is None
