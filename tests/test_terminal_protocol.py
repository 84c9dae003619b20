"""The terminal WebSocket against a real server: byte offsets and resume, gaps, lying and stalled clients, bounded
input, malformed control frames."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import websockets
from websockets.exceptions import ConnectionClosed

from tests.helpers import LiveServer, live_server, maestro_env
from tests.test_session_terminals import spawn

MiB = 1024 * 1024


def connect(server: LiveServer, session_id: str, query: str = "", **kw):
    return websockets.connect(
        f"ws://127.0.0.1:{server.port}/api/v1/sessions/{session_id}/terminal{query}",
        additional_headers={"Authorization": f"Bearer {server.token}"},
        max_size=None,
        **kw,
    )


class Stream:
    """A client that tracks its position in the output: `offset` and `gap` frames set it, output bytes advance it."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.position: int | None = None
        self.data = bytearray()  # output received since the first offset frame (gaps are not filled in)
        self.gaps: list[dict] = []
        self.frames: list[dict] = []

    async def until(self, marker: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.data[-65536:]:
            message = await asyncio.wait_for(self.ws.recv(), max(0.1, deadline - time.monotonic()))
            if isinstance(message, bytes):
                assert self.position is not None, "output before the offset frame"
                self.data += message
                self.position += len(message)
                await self.ws.send(json.dumps({"type": "ack", "bytes": len(message)}))
                continue
            frame = json.loads(message)
            self.frames.append(frame)
            if frame["type"] == "offset":
                self.position = frame["offset"]
            elif frame["type"] == "gap":
                assert frame["from"] == self.position and frame["bytes"] == frame["to"] - frame["from"] > 0
                self.gaps.append(frame)
                self.position = frame["to"]


async def closed_with(ws, timeout: float = 20) -> int:
    """Read until the server closes; the close code it sent."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as exc:
        assert exc.rcvd is not None, "closed without a close frame"
        return exc.rcvd.code


def test_resume_with_an_offset_gets_exactly_what_followed(tmp_path: Path):
    with live_server(tmp_path / "home", env=maestro_env(tmp_path / "home", SHELL="/bin/sh")) as server:
        session = spawn(server, tmp_path)

        async def scenario() -> None:
            async with connect(server, session["id"]) as ws:
                first = Stream(ws)
                await ws.send(b"echo __ON''E__; sleep 0.5; echo __TW''O__; echo __TH''REE__\n")
                await first.until(b"__ONE__")
                assert first.frames[0] == {"type": "offset", "offset": 0}
            await asyncio.sleep(1.5)  # __TWO__ and __THREE__ are printed while nobody watches
            async with connect(server, session["id"], f"?offset={first.position}") as ws:
                resumed = Stream(ws)
                await resumed.until(b"__THREE__")
                assert resumed.frames[0] == {"type": "offset", "offset": first.position} and not resumed.gaps
            async with connect(server, session["id"]) as ws:
                whole = Stream(ws)
                await whole.until(b"__THREE__")
            # Nothing twice, nothing missing: the two parts are the whole output.
            assert bytes(first.data) + bytes(resumed.data) == bytes(whole.data)[: len(first.data) + len(resumed.data)]
            assert b"__ONE__" not in resumed.data and b"__TWO__" in resumed.data

        asyncio.run(scenario())


def test_resume_older_than_the_scrollback_names_the_gap(tmp_path: Path):
    with live_server(tmp_path / "home", env=maestro_env(tmp_path / "home", SHELL="/bin/sh")) as server:
        session = spawn(server, tmp_path)

        async def scenario() -> None:
            async with connect(server, session["id"]) as ws:
                everything = Stream(ws)
                await ws.send(b"seq 1 500000; echo __EN''D__\n")  # 3.4 MB: more than the 2 MiB scrollback
                await everything.until(b"__END__", timeout=60)
                assert not everything.gaps
            async with connect(server, session["id"], "?offset=10") as ws:
                late = Stream(ws)
                await late.until(b"__END__", timeout=60)
            [gap] = late.gaps
            assert gap["from"] == 10 and gap["to"] > len(everything.data) - 2 * MiB
            # From the gap on, exactly the bytes the first client saw at those offsets (then possibly a prompt).
            assert bytes(late.data).startswith(bytes(everything.data)[gap["to"] :])
            assert everything.data[gap["to"] - 1 : gap["to"]] == b"\n"  # resynchronised at a line start
            for query in ("?offset=-1", "?offset=abc", f"?offset={10**30}", "?offset=999999999"):
                async with connect(server, session["id"], query) as ws:
                    assert await closed_with(ws) == 4400, query

        asyncio.run(scenario())


def test_a_lying_client_cannot_make_the_server_buffer_output(tmp_path: Path):
    """It acknowledges far more than it read and never reads: what the program gets out stays bounded."""
    progress = tmp_path / "progress"
    with live_server(tmp_path / "home", env=maestro_env(tmp_path / "home", SHELL="/bin/sh")) as server:
        session = spawn(server, tmp_path)
        # Each round prints 1 MiB of base64 (1.35 MB) and then counts it in a file the test reads.
        script = f"i=0; while :; do head -c {MiB} /dev/zero | base64; i=$((i+1)); echo $i > {progress}; done\n"

        async def scenario() -> int:
            async with connect(server, session["id"], max_queue=1) as ws:  # the client stops reading at once
                await ws.send(script.encode())
                for _ in range(150):  # 3 s of lies: a TiB acknowledged every 20 ms
                    await ws.send(json.dumps({"type": "ack", "bytes": 1 << 40}))
                    await asyncio.sleep(0.02)
                return int(progress.read_text().strip() or 0) if progress.exists() else 0

        rounds = asyncio.run(scenario())
        # Bounded by what the server may hold for one viewer (1.25 MiB), one frame in flight, the kernel's socket
        # and pty buffers and the client's own queue; without the clamp the program printed ~10 MB a second.
        assert rounds <= 12, rounds


def test_queued_input_is_capped_and_the_socket_closed_beyond_it(tmp_path: Path):
    with live_server(tmp_path / "home", env=maestro_env(tmp_path / "home", SHELL="/bin/sh")) as server:
        session = spawn(server, tmp_path)

        async def scenario() -> None:
            async with connect(server, session["id"]) as ws:
                reader = Stream(ws)
                await ws.send(b"stty -echo; echo __RE''ADY__; exec sleep 1000\n")  # a program that reads nothing
                await reader.until(b"__READY__")
                await asyncio.sleep(0.3)
                chunk = b"x" * 65536
                try:
                    for _ in range(64):  # 4 MiB, far more than the 1 MiB the server queues
                        await ws.send(chunk)
                except ConnectionClosed:
                    pass
                assert await closed_with(ws) == 4413
            async with connect(server, session["id"]) as ws:  # the session itself is unharmed
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "offset"

        asyncio.run(scenario())


def test_a_stalled_viewer_does_not_hold_back_the_viewer_that_types(tmp_path: Path):
    with live_server(tmp_path / "home", env=maestro_env(tmp_path / "home", SHELL="/bin/sh")) as server:
        session = spawn(server, tmp_path)

        async def scenario() -> None:
            async with connect(server, session["id"], max_queue=1) as stalled:  # attached first, never reads
                async with connect(server, session["id"]) as ws:
                    fast = Stream(ws)
                    await ws.send(b"head -c 30000000 /dev/zero | base64; echo __DO''NE__\n")
                    # The stalled tab is not the one typing: the program must not wait for it (it used to, ~40 s).
                    await fast.until(b"__DONE__", timeout=30)
                    assert not fast.gaps and len(fast.data) > 40_000_000
                late = Stream(stalled)  # it reads at last: told what it lost, then resynchronised from the scrollback
                await late.until(b"__DONE__", timeout=30)
                assert late.gaps and late.gaps[-1]["to"] > 38_000_000

        asyncio.run(scenario())


def test_malformed_control_frames_are_ignored(tmp_path: Path):
    with live_server(tmp_path / "home", env=maestro_env(tmp_path / "home", SHELL="/bin/sh")) as server:
        session = spawn(server, tmp_path)

        async def scenario() -> None:
            async with connect(server, session["id"]) as ws:
                term = Stream(ws)
                for text in ("not json", "{", "[]", '{"type": "nope"}', '{"type": "ack", "bytes": "x"}', '"ack"'):
                    await ws.send(text)
                await ws.send(b"echo __ST''ILL__\n")
                await term.until(b"__STILL__")  # the connection survived every one of them

        asyncio.run(scenario())
