"""The live event stream on a real server: replay then live with no gap or duplicate, resumable, filtered, bounded."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.cli.event_stream_client import EventFollower, StreamRefused
from tests.helpers import LiveServer, live_server, maestro_env


def ws_url(server: LiveServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/api/v1/events{query}"


async def collect(follower: EventFollower, count: int, timeout: float = 60) -> list[dict]:
    got: list[dict] = []

    async def run() -> None:
        async for event in follower:
            got.append(event)
            if len(got) == count:
                return

    await asyncio.wait_for(run(), timeout)
    return got


async def create_projects(
    server: LiveServer, n: int, prefix: str, clients: int = 8, description: str = ""
) -> list[str]:
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as api:
        queue = list(range(n))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                body = {"name": f"{prefix}{i}", "working_dir": "/", "description": description}
                r = await api.post("/api/v1/projects", json=body)
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])

        await asyncio.gather(*(worker() for _ in range(clients)))
    return ids


def test_thousand_mutations_across_reconnects_arrive_once_in_order(tmp_path: Path):
    with live_server(tmp_path / "home") as server:

        async def scenario() -> None:
            follower = EventFollower(server.url, server.token)
            consumer = asyncio.create_task(collect(follower, 1000))
            producer = asyncio.create_task(create_projects(server, 1000, "p"))
            for _ in range(3):  # drop the connection mid-stream, three times
                await asyncio.sleep(0.4)
                await follower.drop()
            await producer
            events = await consumer
            seqs = [e["seq"] for e in events]
            assert seqs == sorted(seqs) and len(set(seqs)) == 1000
            assert follower.reconnects >= 3
            with server.client() as api:
                stored = api.get("/api/v1/events", params={"limit": 1000}).json()["items"]
            assert seqs == [e["seq"] for e in stored]
            assert events[0]["v"] == 1 and set(events[0]) >= {"seq", "type", "ts", "project_id", "entity_id", "data"}

        asyncio.run(scenario())


def test_replay_then_live_with_project_and_type_filters(tmp_path: Path):
    with live_server(tmp_path / "home") as server, server.client() as api:
        a = api.post("/api/v1/projects", json={"name": "A", "working_dir": "/"}).json()
        b = api.post("/api/v1/projects", json={"name": "B", "working_dir": "/"}).json()
        api.post("/api/v1/tasks", json={"project_id": a["id"], "title": "stored"})

        async def scenario() -> None:
            only_a = EventFollower(server.url, server.token, project_id=a["id"])
            only_tasks = EventFollower(server.url, server.token, types=("task.",))
            f1 = asyncio.create_task(collect(only_a, 4))
            f2 = asyncio.create_task(collect(only_tasks, 3))
            await asyncio.sleep(0.3)
            await asyncio.to_thread(api.post, "/api/v1/tasks", json={"project_id": b["id"], "title": "live b"})
            await asyncio.to_thread(api.post, "/api/v1/tasks", json={"project_id": a["id"], "title": "live a"})
            await asyncio.to_thread(api.patch, f"/api/v1/projects/{a['id']}", json={"description": "x"})
            events_a, events_tasks = await f1, await f2
            assert [e["type"] for e in events_a] == [
                "project.created",
                "task.created",
                "task.created",
                "project.updated",
            ]
            assert {e["project_id"] for e in events_a} == {a["id"]}
            assert [e["data"]["title"] for e in events_tasks] == ["stored", "live b", "live a"]

        asyncio.run(scenario())


def test_heartbeats_while_idle(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home, MAESTRO_EVENT_HEARTBEAT_S="0.2")) as server:

        async def scenario() -> None:
            headers = {"Authorization": f"Bearer {server.token}"}
            async with websockets.connect(ws_url(server, "?after=0"), additional_headers=headers) as ws:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert message == {"v": 1, "type": "heartbeat", "last_seq": 0}

        asyncio.run(scenario())


def test_after_older_than_retention_gets_one_reset(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home) as server, server.client() as api:
        for i in range(5):
            api.post("/api/v1/projects", json={"name": f"old{i}", "working_dir": "/"})
    time.sleep(1.2)
    env = maestro_env(home, MAESTRO_EVENT_RETENTION_DAYS=str(1 / 86400))  # one second: prunes at startup
    with live_server(home, env=env) as server:
        time.sleep(0.5)

        async def scenario() -> None:
            follower = EventFollower(server.url, server.token, after=0)
            consumer = asyncio.create_task(collect(follower, 2))
            await asyncio.sleep(0.3)
            with server.client() as api:
                await asyncio.to_thread(api.post, "/api/v1/projects", json={"name": "new", "working_dir": "/"})
            reset, live = await consumer
            assert reset["type"] == "reset" and reset["pruned_through"] == 4 and reset["last_seq"] == 5
            assert reset["reason"] == "pruned"
            assert live["type"] == "project.created" and live["seq"] == 6

        asyncio.run(scenario())
        with server.client() as api:
            stored = api.get("/api/v1/events").json()["items"]
        assert [e["seq"] for e in stored] == [5, 6]  # the newest old event is always kept: seqs never restart


def test_after_beyond_the_newest_event_gets_a_reset_not_silence(tmp_path: Path):
    # A client that remembers seq 1000 from another database (restored or replaced) must not silently skip
    # everything this log numbers up to 1000.
    with live_server(tmp_path / "home") as server, server.client() as api:
        for i in range(2):
            api.post("/api/v1/projects", json={"name": f"p{i}", "working_dir": "/"})

        async def scenario() -> None:
            headers = {"Authorization": f"Bearer {server.token}"}
            async with websockets.connect(ws_url(server, "?after=1000"), additional_headers=headers) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert first == {"v": 1, "type": "reset", "last_seq": 2, "pruned_through": 0, "reason": "ahead"}
            follower = EventFollower(server.url, server.token, after=1000)
            consumer = asyncio.create_task(collect(follower, 2, timeout=15))
            await asyncio.sleep(0.3)
            await asyncio.to_thread(api.post, "/api/v1/projects", json={"name": "new", "working_dir": "/"})
            reset, live = await consumer
            assert reset["type"] == "reset" and reset["reason"] == "ahead" and reset["last_seq"] == 2
            assert live["type"] == "project.created" and live["seq"] == 3

        asyncio.run(scenario())


def test_a_consumer_that_stops_reading_is_closed_with_4008_and_others_unaffected(tmp_path: Path):
    home = tmp_path / "home"
    env = maestro_env(home, MAESTRO_EVENT_QUEUE_LIMIT="50")
    with live_server(home, env=env) as server:

        async def scenario() -> None:
            headers = {"Authorization": f"Bearer {server.token}"}
            stalled = await websockets.connect(ws_url(server, "?after=0"), additional_headers=headers, max_queue=1)
            healthy = EventFollower(server.url, server.token)
            consumer = asyncio.create_task(collect(healthy, 400))
            # 400 events of ~64 KiB: far more than the socket buffers hold, so the stalled queue overflows.
            await create_projects(server, 400, "big", description="x" * 65_000)
            assert len(await consumer) == 400  # other subscribers are unaffected
            closed_with = None
            try:
                for _ in range(10_000):
                    await asyncio.wait_for(stalled.recv(), 10)
            except ConnectionClosed as exc:
                closed_with = exc.rcvd
            assert closed_with is not None and closed_with.code == 4008
            assert "resume with after=" in closed_with.reason

        asyncio.run(scenario())


def test_stream_refuses_missing_token_foreign_origin_and_bad_params(tmp_path: Path):
    with live_server(tmp_path / "home") as server:

        async def scenario() -> None:
            with pytest.raises(InvalidStatus) as missing:
                await websockets.connect(ws_url(server))
            assert missing.value.response.status_code == 401
            with pytest.raises(InvalidStatus) as foreign:
                await websockets.connect(
                    ws_url(server),
                    additional_headers={"Authorization": f"Bearer {server.token}", "Origin": "http://evil.example"},
                )
            assert foreign.value.response.status_code == 403
            with pytest.raises(StreamRefused):
                await collect(EventFollower(server.url, "wrong-token"), 1, timeout=10)
            with pytest.raises(StreamRefused, match="after"):
                await collect(EventFollower(server.url, server.token, after=-5), 1, timeout=10)

        asyncio.run(scenario())


@pytest.mark.postgres
def test_two_instances_share_events_through_postgres_and_redis(tmp_path: Path):
    from tests.helpers import fresh_postgres_database, postgres_url_or_skip, redis_url_or_skip

    redis_url = redis_url_or_skip()
    with fresh_postgres_database(postgres_url_or_skip()) as db_url:
        env_a = maestro_env(tmp_path / "a", MAESTRO_DATABASE_URL=db_url, MAESTRO_REDIS_URL=redis_url)
        env_b = maestro_env(tmp_path / "b", MAESTRO_DATABASE_URL=db_url, MAESTRO_REDIS_URL=redis_url)
        with live_server(tmp_path / "a", env=env_a) as a, live_server(tmp_path / "b", env=env_b) as b:

            async def scenario() -> None:
                on_b = EventFollower(b.url, b.token)
                received: dict[str, float] = {}

                async def consume() -> None:
                    async for event in on_b:
                        received[event["data"]["name"]] = time.perf_counter()
                        if len(received) == 10:
                            return

                consumer = asyncio.create_task(consume())
                await asyncio.sleep(0.3)
                sent: dict[str, float] = {}
                async with httpx.AsyncClient(base_url=a.url, headers={"Authorization": f"Bearer {a.token}"}) as api:
                    for i in range(10):  # written through instance A only
                        r = await api.post("/api/v1/projects", json={"name": f"from-a-{i}", "working_dir": "/"})
                        sent[r.json()["name"]] = time.perf_counter()
                        await asyncio.sleep(0.1)
                await asyncio.wait_for(consumer, 10)
                delays = [received[name] - sent[name] for name in sent]
                # Redis wakes B at once; without it B would only see A's writes at its 2 s safety poll.
                assert max(delays) < 0.3, delays

            asyncio.run(scenario())
            with b.client() as api:  # replay on B includes what A wrote
                replayed = api.get("/api/v1/events", params={"limit": 100}).json()["items"]
            assert sum(e["data"]["name"].startswith("from-a-") for e in replayed) == 10
