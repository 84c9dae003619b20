"""Sessions in real terminals on a real server: spawn, attach, type, resize, exit, stop, reattach, lost on restart,
Ctrl-C under a flood with the server started in the background."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from app.home import pid_alive
from tests.helpers import MAESTRO, LiveServer, live_server, maestro_env, start_server


class Term:
    """A test viewer: sends keys, acks output, collects what the terminal printed."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.out = b""
        self.control: list[dict] = []

    async def until(self, marker: bytes, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while marker not in self.out:
            message = await asyncio.wait_for(self.ws.recv(), max(0.1, deadline - time.monotonic()))
            if isinstance(message, bytes):
                self.out += message
                await self.ws.send(json.dumps({"type": "ack", "bytes": len(message)}))
            else:
                self.control.append(json.loads(message))
        return self.out.decode(errors="replace")

    async def exit_message(self, timeout: float = 10) -> dict:
        """The exit frame (other control frames, such as the first `offset` frame, are kept in ``control``)."""
        while not self.control or self.control[-1]["type"] != "exit":
            message = await asyncio.wait_for(self.ws.recv(), timeout)
            if isinstance(message, str):
                self.control.append(json.loads(message))
        assert self.control[0] == {"type": "offset", "offset": 0}
        return self.control[-1]


def first_number_line(text: str) -> int:
    """The first output line that is only a number (what `echo $$` printed)."""
    match = re.search(r"^(?:[#$] )?(\d+)\r?$", text, re.M)  # the prompt may precede it
    assert match, text
    return int(match.group(1))


def attach(server: LiveServer, session_id: str):
    return websockets.connect(
        f"ws://127.0.0.1:{server.port}/api/v1/sessions/{session_id}/terminal",
        additional_headers={"Authorization": f"Bearer {server.token}"},
    )


def spawn(server: LiveServer, tmp_path: Path, **extra) -> dict:
    with server.client() as api:
        project = api.post(
            "/api/v1/projects", json={"name": f"p{time.monotonic_ns()}", "working_dir": str(tmp_path)}
        ).json()
        response = api.post("/api/v1/sessions", json={"project_id": project["id"], **extra})
    assert response.status_code == 201, response.text
    return response.json()


def test_shell_round_trip_resize_and_exit_code(tmp_path: Path):
    with live_server(tmp_path / "home", env=maestro_env(tmp_path / "home", SHELL="/bin/sh")) as server:
        session = spawn(server, tmp_path, cols=100, rows=30)
        assert session["status"] == "running" and session["profile"] == "shell"
        assert session["cwd"] == str(tmp_path) and session["started_at"]

        async def scenario() -> None:
            async with attach(server, session["id"]) as ws:
                term = Term(ws)
                await ws.send(b"stty size; pwd; echo __DO''NE1__\n")
                text = await term.until(b"__DONE1__")
                assert "30 100" in text and str(tmp_path) in text
                await ws.send(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
                await ws.send(b"stty size; echo __DO''NE2__\n")
                assert "40 120" in await term.until(b"__DONE2__")
                await ws.send(b"echo $MAESTRO_SESSION_ID; echo __DO''NE3__\n")
                assert session["id"] in await term.until(b"__DONE3__")
                await ws.send(b"exit 3\n")
                assert await term.exit_message() == {"type": "exit", "exit_code": 3}

        asyncio.run(scenario())
        with server.client() as api:
            ended = api.get(f"/api/v1/sessions/{session['id']}").json()
            events = [e["type"] for e in api.get("/api/v1/events").json()["items"]]
        assert ended["status"] == "failed" and ended["exit_code"] == 3 and ended["ended_at"]
        assert events.count("session.status_changed") == 2  # spawning -> running -> failed
        recording = (server.home / "sessions" / session["id"] / "recording.cast").read_text().splitlines()
        assert json.loads(recording[0])["version"] == 2
        assert any(json.loads(line)[1] == "r" for line in recording[1:])


def test_two_viewers_reattach_scrollback_and_stop(tmp_path: Path):
    with live_server(tmp_path / "home", env=maestro_env(tmp_path / "home", SHELL="/bin/sh")) as server:
        session = spawn(server, tmp_path)

        async def scenario() -> int:
            async with attach(server, session["id"]) as one, attach(server, session["id"]) as two:
                a, b = Term(one), Term(two)
                await one.send(b"echo $$; sleep 1000 & echo __DO''NE__\n")
                text = await a.until(b"__DONE__")
                await b.until(b"__DONE__")  # both viewers see the same output
            shell_pid = first_number_line(text)
            assert pid_alive(shell_pid)  # closing every tab detached; nothing was killed
            async with attach(server, session["id"]) as again:
                assert "__DONE__" in await Term(again).until(b"__DONE__")  # the scrollback is replayed
            return shell_pid

        shell_pid = asyncio.run(scenario())
        with server.client() as api:
            stopped = api.post(f"/api/v1/sessions/{session['id']}/stop").json()
            assert stopped["status"] == "stopped" and stopped["ended_at"]
            assert api.post(f"/api/v1/sessions/{session['id']}/stop").status_code == 409  # it has ended
        assert not pid_alive(shell_pid)
        try:
            os.killpg(shell_pid, 0)
            raise AssertionError("the session's process group survived the stop")
        except ProcessLookupError:
            pass


def test_unknown_session_terminal_creates_nothing(tmp_path: Path):
    with live_server(tmp_path / "home") as server:

        async def scenario() -> None:
            for sid in ("ses_0000000000000000000000", "not-an-id"):
                async with attach(server, sid) as ws:
                    try:
                        await asyncio.wait_for(ws.recv(), 5)
                        raise AssertionError("expected a close")
                    except ConnectionClosed as exc:
                        assert exc.rcvd is not None and exc.rcvd.code == 4404

        asyncio.run(scenario())
        with server.client() as api:
            assert api.get("/api/v1/sessions").json() == []


def test_missing_program_is_a_clear_400(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home, SHELL="/no/such/shell")) as server, server.client() as api:
        project = api.post("/api/v1/projects", json={"name": "p", "working_dir": str(tmp_path)}).json()
        response = api.post("/api/v1/sessions", json={"project_id": project["id"]})
        assert response.status_code == 400
        assert "/no/such/shell" in response.json()["detail"]
        assert api.get("/api/v1/sessions").json() == []  # refused before anything was created


def test_sessions_of_a_killed_server_run_on_and_reattach_after_restart(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home, SHELL="/bin/sh")
    server = start_server(home, env=env)
    session = spawn(server, tmp_path)

    async def shell_pid() -> int:
        async with attach(server, session["id"]) as ws:
            await ws.send(b"echo $$; echo __BEF''ORE__\n")
            text = await Term(ws).until(b"__BEFORE__")
        return first_number_line(text)

    pid = asyncio.run(shell_pid())
    server.proc.send_signal(signal.SIGKILL)  # its holder keeps the shell and its pty
    server.proc.wait(timeout=10)
    with live_server(home, env=env) as again, again.client() as api:
        record = api.get(f"/api/v1/sessions/{session['id']}").json()
        assert record["status"] in ("running", "idle") and pid_alive(pid)

        async def still_there() -> str:
            async with attach(again, session["id"]) as ws:
                await ws.send(b"echo __AF''TER__ $$\n")
                return await Term(ws).until(b"__AFTER__ " + str(pid).encode())

        seen = asyncio.run(still_there())
        assert "__BEFORE__" in seen  # the scrollback from before the crash, then the same shell answering
    # That server stopped normally: its sessions were stopped with it.
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid)


def test_without_holders_the_sessions_of_a_killed_server_are_lost_after_restart(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home, SHELL="/bin/sh", MAESTRO_SESSION_HOLDERS="0")
    server = start_server(home, env=env)
    session = spawn(server, tmp_path)

    async def shell_pid() -> int:
        async with attach(server, session["id"]) as ws:
            await ws.send(b"echo $$; echo __DO''NE__\n")
            text = await Term(ws).until(b"__DONE__")
        return first_number_line(text)

    pid = asyncio.run(shell_pid())
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    with live_server(home, env=env) as again, again.client() as api:
        record = api.get(f"/api/v1/sessions/{session['id']}").json()
        assert record["status"] == "lost"  # never shown as running
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:  # the pty hung up: the shell exits on SIGHUP
        time.sleep(0.1)
    assert not pid_alive(pid)


def ignored_signals(pid: int) -> int:
    """The SigIgn mask of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigIgn line for {pid}")


@contextlib.contextmanager
def backgrounded_server(home: Path, env: dict[str, str]) -> Iterator[tuple[LiveServer, int]]:
    """`maestro serve` run as `cmd &` by a non-interactive sh, which starts it with SIGINT and SIGQUIT ignored.

    The sh waits for its background job, so it stays our child; the server itself is stopped through the pid it
    wrote, SIGTERM then SIGKILL, even when the test (or the start) fails.
    """
    pid_file = home.parent / "background-server.pid"
    script = '"$0" "$@" & echo $! > "$MAESTRO_TEST_PID_FILE"; wait'
    server: LiveServer | None = None
    try:
        server = start_server(
            home, env={**env, "MAESTRO_TEST_PID_FILE": str(pid_file)}, command=["sh", "-c", script, *MAESTRO]
        )
        yield server, int(pid_file.read_text())
    finally:
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
            if pid is None or not pid_alive(pid):
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        if server is not None:
            try:
                server.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads signal dispositions from /proc")
def test_ctrl_c_and_ctrl_backslash_stop_a_flood_when_the_server_runs_in_the_background(tmp_path: Path):
    home = tmp_path / "home"
    with backgrounded_server(home, maestro_env(home, SHELL="/bin/sh")) as (server, server_pid):
        # The situation under test: the server inherited SIGQUIT (and SIGINT, which uvicorn then catches; exec resets
        # caught signals but keeps ignored ones) as ignored from its shell; without a reset every child would too.
        assert ignored_signals(server_pid) & (1 << (signal.SIGQUIT - 1)), server.log()
        session = spawn(server, tmp_path)

        async def scenario() -> None:
            async with attach(server, session["id"]) as ws:
                received, tail = 0, b""

                async def read_until(what: str, done, timeout: float) -> None:
                    nonlocal received, tail
                    deadline = time.monotonic() + timeout
                    while not done():
                        try:
                            message = await asyncio.wait_for(ws.recv(), max(0.0, deadline - time.monotonic()))
                        except TimeoutError:
                            raise AssertionError(f"no {what} within {timeout} s; last output {tail[-200:]!r}") from None
                        if isinstance(message, bytes):
                            received += len(message)
                            tail = (tail + message)[-4096:]
                            await ws.send(json.dumps({"type": "ack", "bytes": len(message)}))

                for n, key in enumerate((b"\x03", b"\x1c")):  # Ctrl-C (SIGINT), Ctrl-\ (SIGQUIT)
                    await ws.send(b"yes\n")
                    flood_start = received
                    await read_until("flood", lambda start=flood_start: received - start > 1_000_000, timeout=20)
                    await ws.send(key)
                    await ws.send(f"echo __BA''CK{n}__\n".encode())
                    back = f"__BACK{n}__".encode()
                    await read_until(f"prompt after {key!r}", lambda back=back: back in tail, timeout=10)
                    await asyncio.sleep(0.5)
                    before = received
                    await ws.send(f"echo __AGA''IN{n}__\n".encode())
                    again = f"__AGAIN{n}__".encode()
                    await read_until("echo", lambda again=again: again in tail, timeout=10)
                    assert received - before < 1024, (key, tail[-300:])  # only the echo and a prompt: yes is gone

        asyncio.run(scenario())
