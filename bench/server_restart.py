"""A server restart with 50 live sessions: `maestro stop --keep-sessions`, `maestro serve` taking every session back,
and a plain `maestro stop` that stops them all.

Target (issue 16): shutdown and startup stay bounded with 50 live sessions; the time until every terminal is
reattached is reported.
Run: .venv/bin/python bench/server_restart.py [--sessions 50] [--rounds 3]

Each round, on a fresh scratch MAESTRO_HOME: a real `maestro serve` (empty_health_s: its start with no session, for
comparison), a profile running `sh -c 'while :; do date; sleep 1; done'`, N sessions started through the API
(spawn_all_s: until each answered on its terminal WebSocket). Then, timed:
- keep_stop_s: what `maestro stop --keep-sessions` does (the keep-sessions note, then SIGTERM), from the SIGTERM
  until the server process exited. Every program must still run afterwards (same pid, same start time).
- health_s, all_answered_s: `maestro serve` launched again on the same home, until /api/v1/health answers, and
  until every session's terminal WebSocket (/api/v1/sessions/{id}/terminal) answered: its `offset` frame and then
  output bytes (the scrollback, replayed from offset 0). Health is polled every 10 ms; the WebSockets are opened,
  all at once, as soon as it answers (the server takes the sessions back before it serves anything).
- stop_s: a plain `maestro stop` (SIGTERM) with the N sessions live, until the server process exited. Every program
  must be gone afterwards and every record ended.
The `maestro stop` command itself adds its interpreter start and its 0.1 s polling; neither is counted here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import websockets
from common import LiveServer, maestro_env, percentiles, scratch_home

from app.home import ask_to_keep_sessions, read_runtime
from app.terminals.process import process_start_time
from tests.helpers import MAESTRO, reap_holders

TICKER = ["sh", "-c", "while :; do date; sleep 1; done"]
ANSWER_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 60.0
LIVE = ("spawning", "running", "idle", "needs_input")


# ---------------------------------------------------------------------------------------------- the server
async def serve(home: Path, env: dict[str, str]) -> tuple[LiveServer, float]:
    """Launch `maestro serve` on ``home``; the server once /health answers, and the seconds that took."""
    log_path = home.parent / f"server-{uuid.uuid4().hex[:6]}.log"
    with log_path.open("wb") as log_file:
        started = time.perf_counter()
        proc = subprocess.Popen(  # noqa: ASYNC220  # launching only; waiting is done by polling below
            [*MAESTRO, "serve", "--no-browser", "--port", "0"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home.parent,
            start_new_session=True,
        )
    async with httpx.AsyncClient(timeout=2) as client:
        while time.perf_counter() - started < EXIT_TIMEOUT_S:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
            info = read_runtime(home)
            if info is not None and info.pid == proc.pid:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{info.port}/api/v1/health")).status_code == 200:
                        elapsed = time.perf_counter() - started
                        token = (home / "token").read_text().strip()
                        return LiveServer(proc, home, info.url, info.port, token, log_path), elapsed
            await asyncio.sleep(0.01)
    proc.kill()
    raise RuntimeError(f"server did not answer within {EXIT_TIMEOUT_S:.0f} s:\n{log_path.read_text()}")


def terminate(server: LiveServer, *, keep_sessions: bool) -> float:
    """What `maestro stop [--keep-sessions]` does; seconds from the SIGTERM until the server process exited."""
    info = read_runtime(server.home)
    assert info is not None and info.pid == server.proc.pid, "server.json names another process"
    if keep_sessions:
        ask_to_keep_sessions(server.home, info.pid)
    started = time.perf_counter()
    os.kill(info.pid, signal.SIGTERM)
    server.proc.wait(timeout=EXIT_TIMEOUT_S)
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------- sessions
async def start_sessions(server: LiveServer, count: int, folder: Path) -> list[str]:
    """A project, the ticker profile and ``count`` sessions running it (ten spawns at a time); their ids."""
    headers = {"Authorization": f"Bearer {server.token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", headers=headers, timeout=30) as api:
        project = (await api.post("/api/v1/projects", json={"name": "restart", "working_dir": str(folder)})).json()
        assert (await api.put("/api/v1/profiles/ticker", json={"argv": TICKER})).status_code in (200, 201)
        gate = asyncio.Semaphore(10)

        async def one() -> str:
            async with gate:
                response = await api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "ticker"})
            if response.status_code != 201:
                raise RuntimeError(f"POST /sessions answered {response.status_code}: {response.text}")
            return response.json()["id"]

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def answered(server: LiveServer, session_id: str, deadline: float) -> float:
    """perf_counter() when the session's terminal WebSocket sent its offset frame and then output bytes; a
    connection refused or closed (the session not taken back yet) is tried again until ``deadline``."""
    url = f"ws://127.0.0.1:{server.port}/api/v1/sessions/{session_id}/terminal"
    headers = {"Authorization": f"Bearer {server.token}"}
    while True:
        try:
            async with websockets.connect(url, additional_headers=headers, max_size=None, compression=None) as ws:
                offset_seen = False
                while True:
                    message = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.perf_counter()))
                    if isinstance(message, str):
                        offset_seen = offset_seen or json.loads(message).get("type") == "offset"
                    elif message and offset_seen:
                        return time.perf_counter()
        except (OSError, TimeoutError, websockets.ConnectionClosed, websockets.InvalidHandshake) as exc:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"session {session_id} did not answer on its terminal: {exc!r}") from None
        await asyncio.sleep(0.01)


async def all_answered(server: LiveServer, session_ids: list[str], since: float) -> dict[str, float]:
    """Every terminal answered: seconds from ``since`` until the last one did, and the spread of the others."""
    deadline = time.perf_counter() + ANSWER_TIMEOUT_S
    times = await asyncio.gather(*(answered(server, sid, deadline) for sid in session_ids))
    spread = percentiles([(t - since) * 1000 for t in times])
    return {"all_s": max(times) - since, "p50_ms": spread["p50"]}


def processes(home: Path, session_ids: list[str]) -> dict[str, tuple[str, int | None, int | None]]:
    """Status, pid and pid start time of each session, read from the database (the server may be down)."""
    with contextlib.closing(sqlite3.connect(home / "maestro.db")) as db:
        marks = ",".join("?" * len(session_ids))
        rows = db.execute(f"select id, status, pid, pid_start_time from sessions where id in ({marks})", session_ids)  # noqa: S608
        return {sid: (status, pid, start) for sid, status, pid, start in rows}


def running(pid: int | None, start: int | None) -> bool:
    """True while ``pid`` is the process that started at ``start``."""
    return pid is not None and start is not None and process_start_time(pid) == start


# ---------------------------------------------------------------------------------------------- one round
async def one_round(sessions: int) -> dict[str, float]:
    """Start N sessions, stop keeping them, serve again until all answer, stop for good; the timings."""
    home = scratch_home()
    env = maestro_env(home)
    server: LiveServer | None = None
    try:
        server, empty_health_s = await serve(home, env)
        started = time.perf_counter()
        ids = await start_sessions(server, sessions, home.parent)
        await all_answered(server, ids, started)
        spawn_all_s = time.perf_counter() - started
        before = processes(home, ids)
        assert all(status in LIVE for status, _, _ in before.values()), before

        keep_stop_s = terminate(server, keep_sessions=True)
        assert all(running(pid, start) for _, pid, start in before.values()), "a program died with the server"

        launched = time.perf_counter()
        server, health_s = await serve(home, env)
        answers = await all_answered(server, ids, launched)
        after = processes(home, ids)
        assert all(status in LIVE for status, _, _ in after.values()), after
        assert {sid: row[1:] for sid, row in after.items()} == {sid: row[1:] for sid, row in before.items()}

        stop_s = terminate(server, keep_sessions=False)
        ended = processes(home, ids)
        assert not any(status in LIVE for status, _, _ in ended.values()), ended
        assert not any(running(pid, start) for _, pid, start in before.values()), "a program outlived `maestro stop`"
        return {
            "empty_health_s": round(empty_health_s, 3),
            "spawn_all_s": round(spawn_all_s, 3),
            "keep_stop_s": round(keep_stop_s, 3),
            "health_s": round(health_s, 3),
            "all_answered_s": round(answers["all_s"], 3),
            "answered_p50_ms": round(answers["p50_ms"], 1),
            "stop_s": round(stop_s, 3),
        }
    finally:
        if server is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        reap_holders(home.parent)
        shutil.rmtree(home.parent, ignore_errors=True)


COLUMNS = [
    ("round", "round "),
    ("empty_health_s", "serve→health, none s"),
    ("spawn_all_s", "start N s"),
    ("keep_stop_s", "stop --keep s"),
    ("health_s", "serve→health s"),
    ("all_answered_s", "serve→all answered s"),
    ("stop_s", "stop (all live) s"),
]


def _cell(value: object, width: int) -> str:
    return f"{value:>{width}.3f}" if isinstance(value, float) else f"{value:>{width}}"


def main() -> None:
    """Run the rounds; a table, then one JSON line with every round and the medians."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    for number in range(1, args.rounds + 1):
        rounds.append({"round": number, **asyncio.run(one_round(args.sessions))})
    keys = [key for key, _ in COLUMNS[1:]] + ["answered_p50_ms"]
    median = {key: round(statistics.median(r[key] for r in rounds), 3) for key in keys}
    print(f"{args.sessions} sessions running {shlex.join(TICKER)}")
    print("  ".join(f"{title:>{len(title)}s}" for _, title in COLUMNS))
    for row in [*rounds, {"round": "median", **median}]:
        print("  ".join(_cell(row[key], len(title)) for key, title in COLUMNS))
    print(json.dumps({"sessions": args.sessions, "command": TICKER, "rounds": rounds, "median": median}))


if __name__ == "__main__":
    main()
