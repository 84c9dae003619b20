"""A dependency tree that runs itself: 200 planned tasks, 400 dependency edges, stand-in agents that report complete
after a random short delay.

Target (issue 15): the scheduling overhead per task — from the moment it could start (its last dependency completed
and an agent slot free) to its session started — p99 <= 500 ms; no task started twice; the project's agent limit
never exceeded.
Run: .venv/bin/python bench/orchestration.py [--tasks 200] [--edges 400] [--max-agents 8] [--delay 0.3] [--rounds 1]
     [--postgres postgresql://…] [--no-holders-too]
Each round runs every variant once, interleaved (the machine's noise hits them alike): SQLite with session holders
(the default), and with --postgres the same on PostgreSQL, with --no-holders-too each also with the ptys inside the
server (MAESTRO_SESSION_HOLDERS=0), which shows what starting a holder process costs.

Each round, on a fresh scratch MAESTRO_HOME: a real `maestro serve` (session holders on, as by default), a project
with `max_agents`, one root task with N subtasks; each subtask i depends on up to two random earlier ones (E edges
in all, no cycles by construction). Timed from `POST /tasks/{root}/run-tree` (which plans every leaf) until every
subtask is completed. The per-task figures come from the event log afterwards:
- ready: its plan (tasks without dependencies) or its last dependency's completion; free: the latest moment before
  it was claimed at which a run left the active states (a slot freed); eligible = max(ready, free);
- overhead = when its session was recorded running - eligible (what the scheduler and the spawn add); claim = the
  claim's time - eligible (the scheduling pass alone); spawn = running - the claim (starting the session).
  Every time is an event's commit time.
Starts are counted from the agents' own log (one line per program start), the concurrency from the run states.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

import httpx
from common import live_server, maestro_env, percentiles, scratch_home

from tests.helpers import fresh_postgres_database, reap_holders

AGENT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "run_agent.py"
ACTIVE = ("starting", "running", "checking")
API = "/api/v1"


def build_tree(api: httpx.Client, working_dir: Path, tasks: int, edges: int, max_agents: int) -> tuple[str, list[str]]:
    """The project, its root and subtasks, and the dependency edges; (root id, subtask ids)."""
    working_dir.mkdir(parents=True, exist_ok=True)
    project = api.post(
        f"{API}/projects", json={"name": "bench", "working_dir": str(working_dir), "max_agents": max_agents}
    ).json()
    root = api.post(f"{API}/tasks", json={"project_id": project["id"], "title": "the tree"}).json()
    ids = []
    for n in range(tasks):
        body = {"project_id": project["id"], "title": f"T{n:03}", "parent_id": root["id"]}
        ids.append(api.post(f"{API}/tasks", json=body).json()["id"])
    rng = random.Random(15)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < edges:
        later = rng.randrange(1, tasks)
        pairs.add((later, rng.randrange(0, later)))
    for later, earlier in sorted(pairs):
        response = api.post(f"{API}/tasks/{ids[later]}/dependencies", json={"depends_on": ids[earlier]})
        response.raise_for_status()
    return root["id"], ids


def all_events(api: httpx.Client) -> list[dict]:
    """Every event in the log, oldest first."""
    events: list[dict] = []
    after = 0
    while True:
        page = api.get(f"{API}/events", params={"after": after, "limit": 1000}).json()["items"]
        if not page:
            return events
        events.extend(page)
        after = page[-1]["seq"]


def ts(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def analyse(api: httpx.Client, ids: list[str], started_at: float) -> dict:
    """Per-task overhead and claim latency, the most runs active at once, from the event log. Every time is an
    event's commit time (`ts`): what another instance, or the scheduler itself, could have seen then."""
    deps: dict[str, list[str]] = {t: api.get(f"{API}/tasks/{t}").json()["dependencies"] for t in ids}
    completed: dict[str, float] = {}
    planned: dict[str, float] = {}
    claimed: dict[str, float] = {}
    session_of: dict[str, str] = {}
    running_at: dict[str, float] = {}  # session id -> when it was recorded running
    frees: list[float] = []
    state: dict[str, str | None] = {}
    active = most_active = 0
    for event in all_events(api):
        at = ts(event["ts"])
        if event["type"] == "session.status_changed" and event["data"]["to"] == "running":
            running_at.setdefault(event["entity_id"], at)
        if event["type"] != "task.updated" or event["entity_id"] not in deps:
            continue
        task = event["data"]["task"]
        run = task.get("run") or {}
        new, old = run.get("state"), state.get(task["id"])
        if new != old:
            if new == "waiting" and task["id"] not in planned:
                planned[task["id"]] = at
            if new == "starting":
                claimed[task["id"]] = at
            if old in ACTIVE and new not in ACTIVE:
                frees.append(at)
            active += (new in ACTIVE) - (old in ACTIVE)
            most_active = max(most_active, active)
            state[task["id"]] = new
        if task["status"] == "completed" and task["id"] not in completed:
            completed[task["id"]] = at
        if run.get("session_id"):
            session_of[task["id"]] = run["session_id"]
    overhead, claim, spawn = [], [], []
    for task_id in ids:
        ready = max([completed[d] for d in deps[task_id]] or [planned.get(task_id, started_at)])
        free = max((f for f in frees if f <= claimed[task_id]), default=0.0)
        eligible = max(ready, free)
        started = running_at[session_of[task_id]]
        overhead.append((started - eligible) * 1000)
        claim.append((claimed[task_id] - eligible) * 1000)
        spawn.append((started - claimed[task_id]) * 1000)
    return {
        "overhead_ms": percentiles(overhead),
        "claim_ms": percentiles(claim),
        "spawn_ms": percentiles(spawn),
        "most_active": most_active,
    }


def one_round(database_url: str | None, holders: bool, args: argparse.Namespace) -> dict:
    home = scratch_home()
    log = home.parent / "agents.log"
    extra = {"MAESTRO_DATABASE_URL": database_url} if database_url else {}
    if not holders:
        extra["MAESTRO_SESSION_HOLDERS"] = "0"
    with live_server(home, env=maestro_env(home, **extra)) as server, server.client() as api:
        profile = {
            "argv": [sys.executable, str(AGENT)],
            "env": {"RUN_AGENT_LOG": str(log), "RUN_AGENT_DELAY": str(args.delay)},
            "prompt_via": "file",
        }
        api.put(f"{API}/profiles/bench-agent", json=profile).raise_for_status()
        root, ids = build_tree(api, home.parent / "work", args.tasks, args.edges, args.max_agents)
        began = time.time()
        response = api.post(f"{API}/tasks/{root}/run-tree", json={"plan": {"profile": "bench-agent"}})
        response.raise_for_status()
        assert len(response.json()["planned"]) == args.tasks
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            page = api.get(f"{API}/tasks", params={"parent_id": root, "status": "completed", "limit": 500}).json()
            if len(page["items"]) == args.tasks:
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"not all tasks completed within {args.timeout} s")
        total_s = time.time() - began
        result = analyse(api, ids, began)
    starts = [line.split()[2] for line in log.read_text().splitlines() if line.split()[1] == "start"]
    reap_holders(home)
    return {
        "database": "postgresql" if database_url else "sqlite",
        "holders": holders,
        "total_s": round(total_s, 2),
        "started": len(starts),
        "started_twice": len(starts) - len(set(starts)),
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--edges", type=int, default=400)
    parser.add_argument("--max-agents", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.3, help="agents report after uniform(0, delay) seconds")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--postgres", default=None, help="also run on this PostgreSQL database (interleaved)")
    parser.add_argument("--no-holders-too", action="store_true", help="also run each with ptys in the server")
    args = parser.parse_args()
    databases = [None, args.postgres] if args.postgres else [None]
    holders = [True, False] if args.no_holders_too else [True]
    for round_ in range(args.rounds):
        for database_url in databases:
            for held in holders:
                if database_url is None:
                    result = one_round(None, held, args)
                else:
                    with fresh_postgres_database(database_url) as fresh:  # an empty database each round
                        result = one_round(fresh, held, args)
                print(json.dumps({"round": round_ + 1, **result}), flush=True)


if __name__ == "__main__":
    main()
