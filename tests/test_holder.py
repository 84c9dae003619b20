"""The holder process and HeldTerminal on real processes and ptys: I/O, resize, flow control, stop, surviving a
server that detaches and reconnects, exits nobody collected, a killed holder, identity checks, private sockets,
other uids, the orphan grace, and the spec file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from app.terminals import MAX_INPUT, ProgramNotFoundError, Viewer
from app.terminals.held import HeldTerminal, HolderGone, dismiss_holder
from app.terminals.held_launch import close_fork_server
from app.terminals.holder_protocol import HolderSpec
from app.terminals.process import process_start_time, same_process, session_members, signal_session
from app.terminals.pty_host import READ_BATCH
from app.terminals.viewer import PAUSE_ABOVE

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="holders use SO_PEERCRED and /proc (Linux)")

ENV = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.environ.get("HOME", "/tmp"), "PS1": "$ ", "LANG": "C"}
TIMEOUT = 10.0
TICKER = "import sys, time\nfor i in range(10**9):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.02)\n"
COUNTING_TICKER = TICKER.replace("flush=True)", "flush=True)\n    open(sys.argv[1], 'w').write(str(i))")

Start = Callable[..., Awaitable[HeldTerminal]]


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """Where holders put their sockets: outside pytest's tmp tree (mode 0700 all the way), so a test can let another
    uid reach a socket by loosening modes."""
    root = Path(tempfile.mkdtemp(prefix="hold-"))
    yield root / "holders"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def start(socket_dir: Path, tmp_path: Path) -> AsyncIterator[Start]:
    """HeldTerminal.start in tmp_path; every holder and program it started is killed at the end, whatever happened."""
    started: list[HeldTerminal] = []

    async def run(argv: list[str], **kw) -> HeldTerminal:
        kw.setdefault("cols", 80)
        kw.setdefault("rows", 24)
        kw.setdefault("name", f"t{len(started)}")
        kw.setdefault("socket_dir", socket_dir)
        terminal = await HeldTerminal.start(argv, cwd=str(tmp_path), env=ENV, **kw)
        started.append(terminal)
        return terminal

    yield run
    close_fork_server(socket_dir)
    for terminal in started:
        if same_process(terminal.pid, terminal.pid_start_time):
            signal_session(terminal.pid, signal.SIGKILL)
        holder_time = _start_time_of_holder(terminal)
        if holder_time is not None:
            os.kill(terminal.holder_pid, signal.SIGKILL)


def _start_time_of_holder(terminal: HeldTerminal) -> int | None:
    try:
        cmdline = Path(f"/proc/{terminal.holder_pid}/cmdline").read_bytes()
    except OSError:
        return None
    return process_start_time(terminal.holder_pid) if b"app.terminals.holder" in cmdline else None


def holder_gone(terminal: HeldTerminal) -> bool:
    return _start_time_of_holder(terminal) is None


async def read_until(viewer: Viewer, pattern: bytes, timeout: float = TIMEOUT) -> bytes:
    """Read (and ack) until ``pattern`` (a regex) shows up; returns everything read."""
    got = bytearray()

    async def loop() -> bytes:
        while True:
            chunk = await viewer.read()
            if chunk is None:
                raise AssertionError(f"terminal ended before {pattern!r}; got {bytes(got[-300:])!r}")
            got.extend(chunk)
            viewer.ack(len(chunk))
            if re.search(pattern, got):
                return bytes(got)

    return await asyncio.wait_for(loop(), timeout)


async def eventually(check: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def ticks(data: bytes) -> list[int]:
    return [int(n) for n in re.findall(rb"tick (\d+)\r\n", data)]


async def test_shell_echo_resize_and_private_socket(start: Start, socket_dir: Path) -> None:
    term = await start(["sh"])
    viewer = term.attach()
    term.write(b"echo __D''ONE__\n")
    await read_until(viewer, rb"__DONE__")
    term.resize(123, 45)
    term.write(b"stty size; echo __EN''D__\n")
    assert b"45 123" in await read_until(viewer, rb"__END__")
    assert (term.cols, term.rows) == (123, 45) and term.alive
    assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(term.socket_path.stat().st_mode) == 0o600
    assert sorted(p.suffix for p in socket_dir.iterdir()) == [".log", ".sock"]  # the spec (with the env) is gone
    assert await term.stop(grace=1.0) == -signal.SIGHUP
    await term.collect()
    await eventually(lambda: holder_gone(term) and not term.socket_path.exists())


def fork_servers_of(socket_dir: Path) -> list[int]:
    """The pids of this process's holder fork servers serving `socket_dir` (the holders they fork share their
    command line, but are re-parented away)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if b"--fork-server" in argv and str(socket_dir).encode() in argv and parent == os.getpid():
                    found.append(int(entry.name))
    return found


async def test_holders_come_from_one_fork_server_replaced_when_it_dies(start: Start, socket_dir: Path) -> None:
    first = await start([sys.executable, "-c", TICKER])
    await read_until(first.attach(), rb"tick 1")
    servers = fork_servers_of(socket_dir)
    assert len(servers) == 1
    os.kill(servers[0], signal.SIGKILL)  # the holders it forked live on: they are nobody's children
    second = await start([sys.executable, "-c", TICKER])  # this start goes the plain way, the next forks again
    await read_until(second.attach(), rb"tick 1")
    third = await start([sys.executable, "-c", TICKER])
    await read_until(third.attach(), rb"tick 1")
    assert first.alive and second.alive and third.alive
    assert len(fork_servers_of(socket_dir)) == 1 and fork_servers_of(socket_dir) != servers
    close_fork_server(socket_dir)
    await eventually(lambda: fork_servers_of(socket_dir) == [])
    assert first.alive and third.alive


async def test_exit_code_on_exit_and_collect(start: Start) -> None:
    calls: list[int] = []
    term = await start(["sh", "-c", "echo bye; exit 3"], on_exit=calls.append)
    viewer = term.attach()
    assert await asyncio.wait_for(term.wait(), TIMEOUT) == 3
    assert term.exit_code == 3 and not term.alive and calls == [3]
    assert b"bye" in await read_until(viewer, rb"bye")
    assert await viewer.read() is None
    await term.collect()
    await eventually(lambda: holder_gone(term))


async def test_missing_program_or_directory_starts_nothing(start: Start, socket_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ProgramNotFoundError):
        await start(["no-such-program-xyz"])
    with pytest.raises(NotADirectoryError):
        await HeldTerminal.start(
            ["sh"], cwd=str(tmp_path / "nope"), env=ENV, cols=80, rows=24, socket_dir=socket_dir, name="x"
        )
    assert not socket_dir.exists() or not list(socket_dir.iterdir())


async def test_a_viewer_that_does_not_ack_pauses_the_program(start: Start) -> None:
    flood = await start([sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('y' * 4095 + '\\n')"])
    stalled = flood.attach()  # the input owner: its lag holds the program back, through the holder
    await eventually(lambda: flood.paused and flood.output_bytes >= PAUSE_ABOVE)
    term_tick = await start([sys.executable, "-c", TICKER], name="other")  # another session stays responsive
    await read_until(term_tick.attach(), rb"tick 2\r\n")
    assert stalled.unacked <= PAUSE_ABOVE + READ_BATCH  # bounded as in-process: the holder's pty is paused too
    assert flood.output_since(0, 10)[0] == 0  # nothing was lost before the server first attached
    await read_until(term_tick.attach(), rb"tick 4\r\n")
    settled = flood.output_bytes
    await read_until(term_tick.attach(), rb"tick 8\r\n")  # the other program's ticks are the clock
    assert flood.output_bytes == settled  # the program is blocked on a full pty
    while stalled.buffered or stalled.unacked > 0:  # acknowledge: the program runs again
        chunk = await stalled.read()
        stalled.ack(len(chunk))
        if flood.output_bytes > settled + PAUSE_ABOVE:
            break
    await eventually(lambda: flood.output_bytes > settled + PAUSE_ABOVE)
    await flood.stop(grace=1.0)
    await term_tick.stop(grace=1.0)


async def test_input_beyond_the_limit_is_refused(start: Start) -> None:
    term = await start(["sleep", "30"])  # never reads its input
    assert term.write(b"x" * (MAX_INPUT - 10), MAX_INPUT)
    assert not term.write(b"y" * 100, MAX_INPUT)  # decided here: the holder's queue could pass the limit
    await eventually(lambda: 0 < term.input_pending < MAX_INPUT)  # the holder says how much the pty took
    assert term.write(b"\x03", MAX_INPUT)  # Ctrl-C flushes the queue, so it is never refused
    await term.stop(grace=1.0)


async def test_the_program_survives_detach_and_reconnect(start: Start, tmp_path: Path) -> None:
    recording, count = tmp_path / "rec.cast", tmp_path / "count"
    term = await start([sys.executable, "-c", COUNTING_TICKER, str(count)], recording_path=recording)
    pid, started_at = term.pid, term.pid_start_time
    first = await read_until(term.attach(), rb"tick 3\r\n")
    await term.detach()  # the server goes away; the program prints on with nobody connected
    await eventually(lambda: count.exists() and int(count.read_text() or 0) >= ticks(first)[-1] + 10)
    assert same_process(pid, started_at)
    again = await HeldTerminal.reconnect(term.socket_path, expect_pid=pid, expect_start_time=started_at)
    assert again.pid == pid and again.alive and again.holder_pid == term.holder_pid
    scrollback = again.output_since(0, 1 << 20)[1]
    assert scrollback.startswith(first)  # everything from the start, as before
    viewer = again.attach(0)
    seen = await read_until(viewer, rb"tick %d\r\n" % (ticks(scrollback)[-1] + 3))
    numbers = ticks(seen)
    assert numbers == list(range(numbers[-1] + 1))  # no line lost or repeated across the detach
    assert viewer.offset == again.output_bytes
    await again.flush_recording()
    cast = "".join(json.loads(line)[2] for line in recording.read_text().splitlines()[1:])
    assert [int(n) for n in re.findall(r"tick (\d+)\r\n", cast)][: numbers[-1]] == list(range(numbers[-1]))
    await again.stop(grace=1.0)
    await again.collect()


async def test_twenty_detach_reconnect_cycles_in_a_row(start: Start) -> None:
    term = await start([sys.executable, "-c", TICKER])
    pid, started_at = term.pid, term.pid_start_time
    await read_until(term.attach(), rb"tick 0\r\n")
    for _ in range(20):
        await term.detach()
        term = await HeldTerminal.reconnect(term.socket_path, expect_pid=pid, expect_start_time=started_at)
    last = ticks(term.output_since(0, 1 << 20)[1])[-1]
    seen = await read_until(term.attach(0), rb"tick %d\r\n" % (last + 2))
    assert ticks(seen)[: last + 3] == list(range(last + 3))  # a busy machine may deliver a tick more
    await term.stop(grace=1.0)
    await term.collect()


async def test_a_second_connection_takes_over_without_killing_anything(start: Start) -> None:
    lost: list[str] = []
    first = await start(["cat"], on_lost=lost.append)
    second = await HeldTerminal.reconnect(
        first.socket_path, expect_pid=first.pid, expect_start_time=first.pid_start_time
    )
    await eventually(lambda: first.lost is not None)
    assert first.lost.startswith("taken over") and not lost  # not a lost session: another server runs it now
    assert same_process(first.pid, first.pid_start_time)
    second.write(b"still here\n")
    await read_until(second.attach(), rb"still here\r\nstill here")
    await second.stop(grace=1.0)
    await second.collect()


async def test_an_exit_while_no_server_is_connected_waits_to_be_collected(start: Start) -> None:
    term = await start(["sh", "-c", "read line; echo got-$line; exit 7"])
    pid, started_at = term.pid, term.pid_start_time
    term.write(b"it\n")
    await term.detach()
    await eventually(lambda: process_start_time(pid) is None)  # exited (and reaped by its holder)
    assert not holder_gone(term)  # the holder keeps the exit status
    exits: list[int] = []
    again = await HeldTerminal.reconnect(
        term.socket_path, expect_pid=pid, expect_start_time=started_at, on_exit=exits.append
    )
    assert again.exit_code == 7 and not exits  # on_exit comes right after reconnect returned, never during it
    await eventually(lambda: exits == [7])
    assert b"got-it" in again.output_since(0, 4096)[1]
    await again.collect()
    await eventually(lambda: holder_gone(term) and not term.socket_path.exists())


async def test_a_killed_holder_makes_the_session_lost_and_kills_its_processes(start: Start) -> None:
    lost: list[str] = []
    # The program ignores SIGHUP, so the pty's hang-up alone would not end it: the server must.
    ignore_hup = "import signal, time\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\nprint('up', flush=True)\n"
    term = await start([sys.executable, "-c", ignore_hup + "time.sleep(60)"], on_lost=lost.append)
    viewer = term.attach()
    await read_until(viewer, rb"up")
    killed_at = time.monotonic()
    os.kill(term.holder_pid, signal.SIGKILL)
    await eventually(lambda: bool(lost), timeout=1.0)
    assert time.monotonic() - killed_at < 1.0
    assert term.lost == lost[0] and "closed" in lost[0] and not term.alive and term.finished
    await eventually(lambda: not session_members(term.pid), timeout=1.0)
    assert await asyncio.wait_for(viewer.read(), 1.0) is None  # viewers end
    with pytest.raises(HolderGone):
        await term.wait()


async def test_a_terminated_holder_stops_its_program_and_reports_the_exit(start: Start) -> None:
    lost: list[str] = []
    exits: list[int] = []
    term = await start(["sleep", "30"], on_lost=lost.append, on_exit=exits.append)
    os.kill(term.holder_pid, signal.SIGTERM)
    assert await asyncio.wait_for(term.wait(), TIMEOUT) == -signal.SIGHUP
    assert exits == [-signal.SIGHUP] and not lost and term.lost is None
    await eventually(lambda: holder_gone(term) and not term.socket_path.exists())


async def test_a_socket_path_longer_than_a_unix_address_works(start: Start, tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90) / "holders"
    assert len(str(deep / "t0.sock")) > 108
    term = await start(["sh", "-c", "read x; echo got-$x"], socket_dir=deep)
    term.write(b"deep\n")
    assert await asyncio.wait_for(term.wait(), TIMEOUT) == 0
    assert b"got-deep" in term.output_since(0, 4096)[1]
    await term.collect()


async def test_dismissing_a_holder_stops_its_program_and_ends_it(start: Start) -> None:
    term = await start(["sleep", "30"])
    pid, started_at = term.pid, term.pid_start_time
    await term.detach()
    assert await dismiss_holder(term.socket_path, grace=0.2)
    await eventually(lambda: holder_gone(term) and not session_members(pid) and not same_process(pid, started_at))
    assert not term.socket_path.exists()
    assert not await dismiss_holder(term.socket_path)  # nothing there any more


async def test_reconnect_checks_the_pid_and_its_start_time(start: Start, socket_dir: Path) -> None:
    term = await start(["sleep", "30"])
    pid, started_at = term.pid, term.pid_start_time
    await term.detach()
    with pytest.raises(HolderGone, match="not the session's pid"):
        await HeldTerminal.reconnect(term.socket_path, expect_pid=pid + 1, expect_start_time=started_at)
    with pytest.raises(HolderGone, match="not the session's pid"):
        await HeldTerminal.reconnect(term.socket_path, expect_pid=pid, expect_start_time=started_at - 1)
    with pytest.raises(HolderGone, match="the holder is gone"):
        await HeldTerminal.reconnect(socket_dir / "missing.sock", expect_pid=pid, expect_start_time=started_at)
    again = await HeldTerminal.reconnect(term.socket_path, expect_pid=pid, expect_start_time=started_at)
    await again.stop(grace=1.0)
    await again.collect()


def _connect_as_nobody(path: Path) -> bytes:
    """Connect to ``path`` from a forked child running as uid 65534; what it received (b"" when closed at once)."""
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        try:
            os.setgid(65534)
            os.setuid(65534)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(3.0)
            sock.connect(str(path))
            data = sock.recv(4096)
            os.write(write_fd, b"got:" + data)
        except BaseException as exc:
            os.write(write_fd, f"error:{exc}".encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(child, 0)
    with os.fdopen(read_fd, "rb") as f:
        return f.read()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to become another uid")
async def test_another_uid_and_loose_permissions_are_refused(start: Start, socket_dir: Path) -> None:
    term = await start(["sleep", "30"])
    pid, started_at = term.pid, term.pid_start_time
    await term.detach()
    # Loosen the permissions (a mistake, or an attacker's doing): the other uid can reach the socket now ...
    for path, mode in ((socket_dir.parent, 0o711), (socket_dir, 0o711), (term.socket_path, 0o666)):
        path.chmod(mode)
    answer = await asyncio.to_thread(_connect_as_nobody, term.socket_path)
    assert answer == b"got:"  # ... but the holder closed its connection at once, saying nothing
    with pytest.raises(HolderGone, match="accessible to others"):  # and the server refuses a loose directory
        await HeldTerminal.reconnect(term.socket_path, expect_pid=pid, expect_start_time=started_at)
    socket_dir.chmod(0o700)
    with pytest.raises(HolderGone, match="not private"):
        await HeldTerminal.reconnect(term.socket_path, expect_pid=pid, expect_start_time=started_at)
    term.socket_path.chmod(0o600)
    again = await HeldTerminal.reconnect(term.socket_path, expect_pid=pid, expect_start_time=started_at)
    assert again.alive
    await again.stop(grace=1.0)
    await again.collect()


async def test_a_holder_refuses_a_shared_directory(socket_dir: Path, tmp_path: Path) -> None:
    socket_dir.mkdir(mode=0o755)
    socket_dir.chmod(0o755)
    with pytest.raises(HolderGone, match="accessible to others"):
        await HeldTerminal.start(["sh"], cwd=str(tmp_path), env=ENV, cols=80, rows=24, socket_dir=socket_dir, name="s")
    assert not list(socket_dir.iterdir())


async def test_orphan_grace_stops_a_program_whose_server_never_returns(start: Start) -> None:
    term = await start(["sleep", "30"], orphan_grace_s=0.5)
    pid, started_at = term.pid, term.pid_start_time
    await term.detach()
    detached_at = time.monotonic()
    await eventually(lambda: process_start_time(pid) is None, timeout=5.0)
    assert time.monotonic() - detached_at >= 0.5
    again = await HeldTerminal.reconnect(term.socket_path, expect_pid=pid, expect_start_time=started_at)
    assert await asyncio.wait_for(again.wait(), TIMEOUT) == -signal.SIGHUP
    await again.collect()
    await eventually(lambda: holder_gone(term))


async def test_a_holder_whose_socket_is_removed_stops_its_program_and_exits(start: Start, socket_dir: Path) -> None:
    term = await start(["sleep", "30"])
    pid, started_at = term.pid, term.pid_start_time
    await term.detach()
    shutil.rmtree(socket_dir)  # its MAESTRO_HOME deleted: no server can find it again
    await eventually(lambda: holder_gone(term) and not same_process(pid, started_at), timeout=5.0)


async def test_the_holder_runs_from_a_spec_file_it_deletes(socket_dir: Path, tmp_path: Path) -> None:
    socket_dir.mkdir(mode=0o700)
    spec_path = socket_dir / "direct.spec"
    spec = HolderSpec(
        argv=["sh", "-c", "echo from-spec; exit 5"],
        cwd=str(tmp_path),
        env=ENV,
        cols=80,
        rows=24,
        socket_path=str(socket_dir / "direct.sock"),
    )

    async def launch() -> tuple[int | None, list[str]]:
        spec_path.write_bytes(spec.dumps())
        spec_path.chmod(0o600)
        launched = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.terminals.holder", str(spec_path), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await launched.communicate()
        return launched.returncode, out.decode().split()

    socket_dir.chmod(0o750)  # group-accessible: the holder refuses to serve there
    returncode, words = await launch()
    assert returncode == 1 and words[:2] == ["error", "refused"] and "accessible to others" in " ".join(words)
    assert not spec_path.exists() and not (socket_dir / "direct.sock").exists()
    socket_dir.chmod(0o700)
    returncode, words = await launch()
    assert returncode == 0 and words[0] == "ok", words
    assert not spec_path.exists()  # it held the environment (the session token): read once, then deleted
    pid, start_time = int(words[2]), None if words[3] == "None" else int(words[3])
    term = await HeldTerminal.reconnect(socket_dir / "direct.sock", expect_pid=pid, expect_start_time=start_time)
    assert await asyncio.wait_for(term.wait(), TIMEOUT) == 5
    assert b"from-spec" in term.output_since(0, 4096)[1]
    await term.collect()
