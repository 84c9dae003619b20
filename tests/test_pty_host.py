"""The pty host on real ptys: I/O, resize, exit, stop, viewers, offsets and scrollback, flow control and the input
owner, bounded input, Ctrl-C, recording."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from app.terminals import MAX_INPUT, ProgramNotFoundError, Terminal, Viewer, pty_host
from app.terminals.pty_host import PAUSE_ABOVE, READ_BATCH

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pty backend")

ENV = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.environ.get("HOME", "/tmp"), "PS1": "$ ", "LANG": "C"}
TIMEOUT = 15.0


def spawn(argv: list[str], tmp_path: Path, **kw) -> Terminal:
    kw.setdefault("cols", 80)
    kw.setdefault("rows", 24)
    return Terminal.spawn(argv, cwd=str(tmp_path), env=ENV, **kw)


async def read_until(viewer: Viewer, pattern: bytes, timeout: float = TIMEOUT) -> bytes:
    """Read (and ack) until ``pattern`` (a regex) shows up; returns everything read."""
    got = bytearray()

    async def loop() -> bytes:
        while True:
            chunk = await viewer.read()
            if chunk is None:
                raise AssertionError(f"terminal ended before {pattern!r}; got {bytes(got[-500:])!r}")
            got.extend(chunk)
            viewer.ack(len(chunk))
            if re.search(pattern, got):
                return bytes(got)

    return await asyncio.wait_for(loop(), timeout)


async def read_all(viewer: Viewer, timeout: float = TIMEOUT) -> bytes:
    got = bytearray()

    async def loop() -> bytes:
        while (chunk := await viewer.read()) is not None:
            got.extend(chunk)
            viewer.ack(len(chunk))
        return bytes(got)

    return await asyncio.wait_for(loop(), timeout)


async def eventually(check, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def gone(pid: int, group: bool = False) -> bool:
    try:
        (os.killpg if group else os.kill)(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_echo_round_trip(tmp_path: Path) -> None:
    term = spawn(["sh"], tmp_path)
    try:
        viewer = term.attach()
        term.write(b"echo __DO''NE__\n")
        await read_until(viewer, rb"__DONE__")
        assert term.alive and term.pid > 0
    finally:
        await term.stop(grace=1.0)
    assert not term.alive


async def test_resize_is_seen_by_stty_size(tmp_path: Path) -> None:
    term = spawn(["sh"], tmp_path, cols=80, rows=24)
    try:
        viewer = term.attach()
        term.resize(123, 45)
        assert (term.cols, term.rows) == (123, 45)
        term.write(b"stty size; echo __EN''D__\n")
        out = await read_until(viewer, rb"__END__")
        assert b"45 123" in out
        term.resize(5000, 0)
        assert (term.cols, term.rows) == (1000, 1)
    finally:
        await term.stop(grace=1.0)


async def test_exit_code_on_exit_and_viewer_end(tmp_path: Path) -> None:
    calls: list[int] = []
    term = spawn(["sh", "-c", "echo bye; exit 3"], tmp_path, on_exit=calls.append)
    viewer = term.attach()
    assert await asyncio.wait_for(term.wait(), TIMEOUT) == 3
    assert term.exit_code == 3 and not term.alive
    assert b"bye" in await read_all(viewer)
    assert await viewer.read() is None
    assert calls == [3]
    assert await term.stop() == 3  # stopping an exited terminal just returns the code
    assert calls == [3]


async def test_killed_by_signal_gives_negative_code(tmp_path: Path) -> None:
    term = spawn(["sh", "-c", "kill -TERM $$"], tmp_path)
    assert await asyncio.wait_for(term.wait(), TIMEOUT) == -signal.SIGTERM


@pytest.mark.parametrize("interactive", [True, False])
async def test_stop_kills_the_whole_group(tmp_path: Path, interactive: bool) -> None:
    if interactive:  # an interactive shell puts the job in its own process group: the session is signalled too
        term = spawn(["sh"], tmp_path)
        viewer = term.attach()
        term.write(b"sleep 1000 & echo PID=$! __MA''RK__\n")
    else:
        term = spawn(["sh", "-c", "sleep 1000 & echo PID=$! __MA''RK__; wait"], tmp_path)
        viewer = term.attach()
    out = await read_until(viewer, rb"PID=\d+ __MARK__")
    sleep_pid = int(re.search(rb"PID=(\d+) __MARK__", out).group(1))
    assert not gone(sleep_pid)
    pgid = term.pid
    code = await asyncio.wait_for(term.stop(grace=1.0), TIMEOUT)
    assert code == term.exit_code and not term.alive
    await eventually(lambda: gone(pgid, group=True) and gone(sleep_pid), timeout=10)
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


async def test_stop_escalates_when_hup_and_term_are_ignored(tmp_path: Path) -> None:
    term = spawn(["sh", "-c", "trap '' HUP TERM; echo __RE''ADY__; while :; do sleep 0.05; done"], tmp_path)
    await read_until(term.attach(), rb"__READY__")
    started = time.monotonic()
    assert await asyncio.wait_for(term.stop(grace=0.4), TIMEOUT) == -signal.SIGKILL
    assert time.monotonic() - started < 8
    await eventually(lambda: gone(term.pid, group=True), timeout=10)


async def test_two_viewers_both_see_output(tmp_path: Path) -> None:
    term = spawn(["sh"], tmp_path)
    try:
        first, second = term.attach(), term.attach()
        term.write(b"echo __BO''TH__\n")
        await read_until(first, rb"__BOTH__")
        await read_until(second, rb"__BOTH__")
        second.detach()
        assert await second.read() is None
        term.write(b"echo __AG''AIN__\n")
        await read_until(first, rb"__AGAIN__")
        assert term.alive  # detaching never kills
    finally:
        await term.stop(grace=1.0)


async def test_late_viewer_gets_scrollback(tmp_path: Path) -> None:
    term = spawn(["sh", "-c", "echo __EAR''LY__; read x; echo __LA''TE__"], tmp_path)
    try:
        await eventually(lambda: b"__EARLY__" in term._ring.read(0, 1 << 20)[1])
        viewer = term.attach()
        first = await viewer.read()
        assert first is not None and b"__EARLY__" in first and viewer.gap is None
        term.write(b"\n")
        await read_until(viewer, rb"__LATE__")
        assert await asyncio.wait_for(term.wait(), TIMEOUT) == 0
    finally:
        await term.stop(grace=1.0)


async def test_scrollback_overflow_names_the_gap_and_stays_bounded(tmp_path: Path) -> None:
    cap = 4096
    term = spawn(["sh", "-c", "seq 1 20000; echo __DO''NE__"], tmp_path, scrollback_bytes=cap)
    assert await asyncio.wait_for(term.wait(), TIMEOUT) == 0
    viewer = term.attach()
    first = await viewer.read()
    assert first is not None and viewer.gap is not None
    lost_from, lost_to = viewer.gap
    assert lost_from == 0 and term.output_bytes - cap < lost_to <= term.output_bytes - len(first)
    data = first + await read_all(viewer)
    assert len(data) <= cap and len(data) == term.output_bytes - lost_to  # exactly the rest, nothing twice
    assert re.match(rb"\d+\r\n", data) and data.endswith(b"__DONE__\r\n")  # resynchronised at a line start


async def test_flood_without_viewer_is_drained(tmp_path: Path) -> None:
    term = spawn(["sh", "-c", "head -c 20000000 /dev/zero | base64"], tmp_path, scrollback_bytes=65536)
    assert await asyncio.wait_for(term.wait(), 60) == 0
    assert term.output_bytes > 26_000_000
    assert len(term._ring) <= 65536


async def test_a_stream_is_read_without_waiting_reads_and_viewed_in_large_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_reads = 0
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        nonlocal empty_reads
        try:
            return real_read(fd, n)
        except BlockingIOError:
            empty_reads += 1
            raise

    # A read that finds the pty empty waits in the kernel for its flush worker; the host must not issue those.
    monkeypatch.setattr(pty_host.os, "read", counting_read)
    term = spawn(["sh", "-c", "head -c 6000000 /dev/zero | base64"], tmp_path)
    viewer = term.attach()
    sizes = []
    while (chunk := await asyncio.wait_for(viewer.read(), TIMEOUT)) is not None:
        sizes.append(len(chunk))
        viewer.ack(len(chunk))
    assert sum(sizes) > 8_000_000
    assert empty_reads <= 3, empty_reads
    # One pty read returns at most ~4 KB; while a program streams, a viewer's reads gather many of them.
    assert sorted(sizes)[len(sizes) // 2] > 4096, sizes[:50]


async def test_stalled_viewer_pauses_child_and_others_stay_responsive(tmp_path: Path) -> None:
    flood = spawn(["yes"], tmp_path)
    other = spawn(["sh"], tmp_path)
    try:
        stalled = flood.attach()  # never acks
        await eventually(lambda: flood.paused)
        await asyncio.sleep(0.3)
        paused_at = flood.output_bytes
        await asyncio.sleep(0.5)
        assert flood.output_bytes == paused_at and flood.paused  # the child is blocked on a full pty
        assert stalled.unacked <= PAUSE_ABOVE + READ_BATCH  # bounded memory

        viewer = other.attach()
        started = time.monotonic()
        other.write(b"echo __FA''ST__\n")
        await read_until(viewer, rb"__FAST__", timeout=5)
        assert time.monotonic() - started < 1.0

        chunk = await stalled.read()
        assert chunk is not None and len(chunk) == stalled.unacked
        stalled.ack(len(chunk))
        await eventually(lambda: flood.output_bytes > paused_at)
    finally:
        await flood.stop(grace=1.0)
        await other.stop(grace=1.0)


async def test_detaching_the_stalled_viewer_resumes(tmp_path: Path) -> None:
    term = spawn(["yes"], tmp_path)
    try:
        viewer = term.attach()
        await eventually(lambda: term.paused)
        before = term.output_bytes
        viewer.detach()
        await eventually(lambda: term.output_bytes > before + PAUSE_ABOVE)
    finally:
        await term.stop(grace=1.0)


async def test_ctrl_c_under_flood_even_when_server_ignores_sigint(tmp_path: Path) -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as for a server started with `cmd &`
    try:
        term = spawn(["sh"], tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        viewer = term.attach()
        term.write(b"yes\n")
        tail = bytearray()

        async def pump() -> None:
            while (chunk := await viewer.read()) is not None:
                tail.extend(chunk)
                del tail[:-65536]
                viewer.ack(len(chunk))

        reader = asyncio.create_task(pump())
        await eventually(lambda: term.output_bytes > 2_000_000)
        term.write(b"\x03")
        term.write(b"echo __INTER''RUPTED__\n")
        await eventually(lambda: b"__INTERRUPTED__" in tail, timeout=10)
        reader.cancel()
    finally:
        await term.stop(grace=1.0)


async def test_large_paste_does_not_block(tmp_path: Path) -> None:
    term = spawn(["sh", "-c", "cat > /dev/null"], tmp_path)
    try:
        paste = (b"x" * 1023 + b"\n") * 1024
        started = time.monotonic()
        term.write(paste)
        assert time.monotonic() - started < 0.2
        await eventually(lambda: term.input_pending == 0, timeout=30)
    finally:
        await term.stop(grace=1.0)


async def test_recording_is_asciicast_v2(tmp_path: Path) -> None:
    cast = tmp_path / "rec" / "session.cast"
    term = spawn(["sh"], tmp_path, cols=80, rows=24, recording_path=cast)
    viewer = term.attach()
    term.write(b"printf 'h\\303\\251llo\\n'\n")
    await read_until(viewer, "héllo".encode())
    term.resize(90, 30)
    term.write(b"echo __DO''NE__; exit\n")
    assert await asyncio.wait_for(term.wait(), TIMEOUT) == 0
    lines = cast.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and header["width"] == 80 and header["height"] == 24
    assert header["env"]["TERM"] == "xterm-256color" and isinstance(header["timestamp"], int)
    events = [json.loads(line) for line in lines[1:]]
    for event in events:
        assert isinstance(event, list) and len(event) == 3
        assert isinstance(event[0], float | int) and event[1] in ("o", "r") and isinstance(event[2], str)
    assert [e[0] for e in events] == sorted(e[0] for e in events)
    assert ["r", "90x30"] in [e[1:] for e in events]
    text = "".join(e[2] for e in events if e[1] == "o")
    assert "héllo" in text and "__DONE__" in text


async def test_recording_is_buffered_until_flushed(tmp_path: Path) -> None:
    cast = tmp_path / "live.cast"
    term = spawn(["sh"], tmp_path, recording_path=cast)
    try:
        viewer = term.attach()
        term.write(b"echo __REC''ORDED__\n")
        await read_until(viewer, rb"__RECORDED__")
        term.flush_recording()  # what the recording download does while the session runs
        lines = cast.read_text(encoding="utf-8").splitlines()
        events = [json.loads(line) for line in lines[1:]]
        assert "__RECORDED__" in "".join(e[2] for e in events if e[1] == "o")
    finally:
        await term.stop(grace=1.0)


async def test_recording_stops_at_the_cap(tmp_path: Path) -> None:
    cast = tmp_path / "capped.cast"
    term = spawn(["sh", "-c", "seq 1 5000"], tmp_path, recording_path=cast, recording_max_bytes=2000)
    assert await asyncio.wait_for(term.wait(), TIMEOUT) == 0
    lines = cast.read_text(encoding="utf-8").splitlines()
    last = json.loads(lines[-1])
    assert last[1] == "o" and "size limit" in last[2]
    assert cast.stat().st_size <= 2000 + len(lines[-1]) + 1


def test_missing_program_raises_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProgramNotFoundError, match="no-such-program-xyz") as info:
        Terminal.spawn(["no-such-program-xyz", "--flag"], cwd=str(tmp_path), env=ENV, cols=80, rows=24)
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(NotADirectoryError):
        Terminal.spawn(["sh"], cwd=str(tmp_path / "missing"), env=ENV, cols=80, rows=24)


async def test_attach_at_an_offset_gets_exactly_what_followed(tmp_path: Path) -> None:
    term = spawn(["sh"], tmp_path)
    try:
        first = term.attach()
        term.write(b"echo __ON''E__\n")
        seen = await read_until(first, rb"__ONE__")
        position = first.offset
        assert position == len(seen)
        first.detach()
        term.write(b"echo __TW''O__\n")
        await eventually(lambda: b"__TWO__" in term._ring.read(position, 1 << 20)[1])
        rest = await read_until(term.attach(position), rb"__TWO__")
        whole = await read_until(term.attach(), rb"__TWO__")
        assert whole.startswith(seen + rest) and b"__ONE__" not in rest
        for bad in (-1, term.output_bytes + 1):
            with pytest.raises(ValueError):
                term.attach(bad)
    finally:
        await term.stop(grace=1.0)


async def test_a_lying_viewer_cannot_make_the_host_buffer(tmp_path: Path) -> None:
    """It acknowledges bytes it never read: the program is paused all the same, the buffer bounded."""
    term = spawn(["sh", "-c", "head -c 20000000 /dev/zero | base64"], tmp_path)
    try:
        liar = term.attach()

        async def lie() -> None:
            while True:
                liar.ack(1 << 40)
                await asyncio.sleep(0.005)

        lying = asyncio.create_task(lie())
        await eventually(lambda: term.paused, timeout=10)
        await asyncio.sleep(0.3)
        assert term.paused and liar.buffered <= PAUSE_ABOVE + READ_BATCH and liar.acked == 0
        lying.cancel()
    finally:
        await term.stop(grace=1.0)


async def test_only_the_input_owner_holds_the_program_back(tmp_path: Path) -> None:
    script = "head -c 30000000 /dev/zero | base64; echo __DO''NE__; sleep 1000"
    term = spawn(["sh", "-c", script], tmp_path, scrollback_bytes=2 * 1024 * 1024)
    try:
        stalled = term.attach()  # attached first and never reads
        fast = term.attach()  # the most recently attached: the owner while nobody types
        got = 0
        tail = b""
        while b"__DONE__" not in tail:
            chunk = await asyncio.wait_for(fast.read(), 10)  # used to wait for the stalled viewer forever
            assert chunk is not None and fast.gap is None
            got += len(chunk)
            tail = (tail + chunk)[-64:]
            fast.ack(len(chunk))
            assert stalled.buffered <= PAUSE_ABOVE + READ_BATCH
        assert got > 40_000_000
        # The stalled viewer reads at last: the scrollback no longer has its bytes, the gap says which it lost.
        first = await asyncio.wait_for(stalled.read(), 10)
        assert first is not None and stalled.gap is not None and stalled.gap[1] > 38_000_000
        assert b"__DONE__" in first + await read_until(stalled, rb"__DONE__")
    finally:
        await term.stop(grace=1.0)


async def test_the_input_owner_is_who_typed_last_else_who_attached_last(tmp_path: Path) -> None:
    term = spawn(["sh"], tmp_path)
    try:
        a = term.attach()
        assert term.holds_back(a)
        b = term.attach()
        assert term.holds_back(b) and not term.holds_back(a)
        assert a.write(b"\n")
        assert term.holds_back(a)
        c = term.attach()
        assert term.holds_back(a)  # attaching does not take ownership from a viewer that typed
        a.detach()
        assert term.holds_back(c)  # nobody left has typed: the most recently attached
        assert b.write(b"\n") and term.holds_back(b)
        b.detach()
        assert term.holds_back(c)
    finally:
        await term.stop(grace=1.0)


async def test_queued_input_is_capped(tmp_path: Path) -> None:
    term = spawn(["sh", "-c", "stty raw -echo; exec sleep 1000"], tmp_path)  # reads no input
    try:
        await asyncio.sleep(0.3)
        chunk = b"x" * 65536
        accepted = 0
        viewer = term.attach()
        while accepted < 1024 and viewer.write(chunk):  # 64 MiB offered
            accepted += 1
        assert accepted <= MAX_INPUT // len(chunk) + 1 and term.input_pending <= MAX_INPUT
        assert viewer.write(b"\x03")  # an interrupt flushes the queue and always goes through
        assert term.input_pending <= 1
    finally:
        await term.stop(grace=1.0)
