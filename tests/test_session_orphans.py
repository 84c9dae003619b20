"""Sessions a killed server left behind without a holder to take them back, on a real server: a program that
ignores SIGHUP and SIGTERM is stopped at restart and its record says why; a record whose pid now names another
process (pid reuse) never signals it; stop on a stale record ends it instead of answering 409. (Sessions whose
holders survived are reattached: tests/test_session_terminals.py and tests/test_holder_restarts.py.)"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.terminals.process import process_start_time, session_members
from tests.helpers import LiveServer, live_server, maestro_env, start_server, wait_for
from tests.test_session_agents import _pid_of

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process identity is read from /proc")

STUBBORN = 'trap "" HUP TERM; while :; do sleep 1; done'  # survives the pty's hang-up and a plain stop


def stubborn_profile(api: httpx.Client) -> None:
    response = api.put("/api/v1/profiles/stubborn", json={"argv": ["sh", "-c", STUBBORN], "prompt_via": "file"})
    assert response.status_code in (200, 201), response.text


def new_project(api: httpx.Client, folder: Path, name: str = "app") -> dict:
    folder.mkdir(exist_ok=True)
    response = api.post("/api/v1/projects", json={"name": name, "working_dir": str(folder)})
    assert response.status_code == 201, response.text
    return response.json()


def group_alive(pid: int) -> bool:
    """True while any live (non-zombie) process remains in the session the program `pid` leads."""
    return process_start_time(pid) is not None or bool(session_members(pid))


@contextlib.contextmanager
def reaped_on_failure(pids: list[int]) -> Iterator[None]:
    """Whatever the outcome, kill what the test started or left behind (a failing test must not leak processes)."""
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            for member in session_members(pid):
                with contextlib.suppress(OSError):
                    os.kill(member, signal.SIGKILL)


@contextlib.contextmanager
def unrelated_process() -> Iterator[subprocess.Popen]:
    """A process the server never started, in a session of its own (what a reused pid would name)."""
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def parent_of(pid: int) -> int:
    """The parent pid of a process (Linux /proc; the field after the state)."""
    return int(Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[1])


def db_row(home: Path, session_id: str) -> dict:
    with contextlib.closing(sqlite3.connect(home / "maestro.db")) as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("select * from sessions where id = ?", (session_id,)).fetchone())


def make_live(home: Path, session_id: str, *, host: str, pid: int, start_time: int | None) -> None:
    """Rewrite an ended record as one that says `running` on this instance with this process (what a crash leaves)."""
    with contextlib.closing(sqlite3.connect(home / "maestro.db")) as db, db:
        db.execute(
            "update sessions set status = 'running', ended_at = null, exit_code = null, host = ?, pid = ?,"
            " pid_start_time = ? where id = ?",
            (host, pid, start_time, session_id),
        )


def ended_session(server: LiveServer, api: httpx.Client, project: dict) -> str:
    """A real session record, ended (a program that exits at once)."""
    api.put("/api/v1/profiles/quick", json={"argv": ["true"], "prompt_via": "file"})
    session = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "quick"}).json()
    wait_for(lambda: api.get(f"/api/v1/sessions/{session['id']}").json()["exit_code"] is not None)
    return session["id"]


def timeline_messages(api: httpx.Client, session_id: str) -> list[str]:
    return [e["message"] for e in api.get(f"/api/v1/sessions/{session_id}/timeline").json()]


def test_an_orphan_that_ignores_hangup_is_stopped_at_restart_and_the_reason_is_visible(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home)
    pids: list[int] = []
    with reaped_on_failure(pids):
        server = start_server(home, env=env)
        try:
            with server.client() as api:
                stubborn_profile(api)
                project = new_project(api, tmp_path / "app")
                response = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "stubborn"})
                assert response.status_code == 201, response.text
                session = response.json()
            pid = wait_for(lambda: _pid_of(server, session["id"]))
            pids.append(pid)
            recorded = db_row(home, session["id"])
            assert recorded["pid_start_time"] == process_start_time(pid)  # identity: pid and start time
            holder = parent_of(pid)  # the process that owns the session's pty
        finally:
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(timeout=10)
        os.kill(holder, signal.SIGKILL)  # the holder dies too: nothing can take the session back
        wait_for(lambda: process_start_time(holder) is None)
        assert group_alive(pid)  # the premise: the crash left it running (it ignores the hang-up)

        with live_server(home, env=env) as again, again.client() as api:
            record = api.get(f"/api/v1/sessions/{session['id']}").json()
            messages = timeline_messages(api, session["id"])
            assert api.post(f"/api/v1/sessions/{session['id']}/stop").status_code == 409  # ended: nothing to stop
        assert record["status"] == "lost" and record["ended_at"], record
        assert len(messages) == 1 and messages[0].startswith("server restarted while it ran; its holder"), messages
        assert messages[0].endswith(f"; its process (pid {pid}) was stopped")
        assert not group_alive(pid)  # the whole process group is gone, the shell's sleep included


def test_a_reused_pid_is_judged_dead_at_restart_and_never_signalled(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home, SHELL="/bin/sh")
    with unrelated_process() as stranger:
        with live_server(home, env=env) as server, server.client() as api:
            project = new_project(api, tmp_path / "app")
            shell = api.post("/api/v1/sessions", json={"project_id": project["id"]}).json()
            host = db_row(home, shell["id"])["host"]  # how this instance names itself in its records
            session_id = ended_session(server, api, project)
        # While the server is down, the record says running on this instance with a pid that now names a stranger
        # (same pid, another start time): exactly what pid reuse after a crash looks like.
        start = process_start_time(stranger.pid)
        assert start is not None
        make_live(home, session_id, host=host, pid=stranger.pid, start_time=start + 1)
        with live_server(home, env=env) as again, again.client() as api:
            record = api.get(f"/api/v1/sessions/{session_id}").json()
            messages = timeline_messages(api, session_id)
        assert stranger.poll() is None and process_start_time(stranger.pid) == start  # never signalled
        assert record["status"] == "lost"
        assert messages == [
            "server restarted while it ran; its holder process is gone; "
            f"its process (pid {stranger.pid}) had already ended"
        ]


def test_stop_on_a_stale_record_ends_it_and_stops_only_its_own_process(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home, SHELL="/bin/sh")
    stubborn = subprocess.Popen(["sh", "-c", STUBBORN], start_new_session=True)
    with reaped_on_failure([stubborn.pid]), unrelated_process() as stranger:
        with live_server(home, env=env) as server, server.client() as api:
            project = new_project(api, tmp_path / "app")
            shell = api.post("/api/v1/sessions", json={"project_id": project["id"]}).json()
            host = db_row(home, shell["id"])["host"]
            own, reused = ended_session(server, api, project), ended_session(server, api, project)
            # Records this instance does not run but that say running here: one whose process is still its own
            # (pid and start time match), one whose pid was reused by a stranger.
            make_live(home, own, host=host, pid=stubborn.pid, start_time=process_start_time(stubborn.pid))
            stranger_start = process_start_time(stranger.pid)
            assert stranger_start is not None
            make_live(home, reused, host=host, pid=stranger.pid, start_time=stranger_start + 1)

            stopped = api.post(f"/api/v1/sessions/{own}/stop")
            assert stopped.status_code == 200, stopped.text
            assert stopped.json()["status"] == "stopped" and stopped.json()["ended_at"]
            assert stubborn.wait(timeout=15) == -signal.SIGKILL  # it ignored HUP and TERM: KILL ended it
            own_messages = timeline_messages(api, own)

            gone = api.post(f"/api/v1/sessions/{reused}/stop")
            assert gone.status_code == 200, gone.text
            assert gone.json()["status"] == "lost"
            reused_messages = timeline_messages(api, reused)
            assert api.post(f"/api/v1/sessions/{own}/stop").status_code == 409  # now it has ended
        assert stranger.poll() is None and process_start_time(stranger.pid) == stranger_start
        assert own_messages == [
            "stopped by api; this server instance did not run it (server restarted while it ran); "
            f"its process (pid {stubborn.pid}) was stopped"
        ]
        assert reused_messages == [
            "stopped by api; this server instance did not run it (server restarted while it ran); "
            f"its process (pid {stranger.pid}) had already ended"
        ]
