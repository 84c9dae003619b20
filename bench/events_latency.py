"""Mutation-to-delivery latency of the live event stream with 1, 100 and 1,000 subscribers, and server memory per
idle subscriber. Target (issue 4): p99 < 50 ms at 100 subscribers. Run: .venv/bin/python bench/events_latency.py

Each mutation is a POST /api/v1/projects; latency runs from just before the POST is sent to the moment each
subscriber has decoded the event. All subscribers live in this one client process (asyncio + websockets), so at
1,000 subscribers the client's own decoding is part of the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx
import websockets
from common import live_server, percentiles, rss_mib, scratch_home


async def run_case(server, subscribers: int, mutations: int) -> dict:
    url = f"ws://127.0.0.1:{server.port}/api/v1/events?after=0"
    headers = {"Authorization": f"Bearer {server.token}"}
    with server.client() as api:
        last = api.get("/api/v1/events", params={"limit": 1}).json()["last_seq"]
    url = url.replace("after=0", f"after={last}")
    rss_before = rss_mib(server.proc.pid)
    sockets = []
    for _ in range(subscribers):
        sockets.append(await websockets.connect(url, additional_headers=headers, max_size=2**24))
    await asyncio.sleep(1.0)
    rss_idle = rss_mib(server.proc.pid)
    sent: dict[str, float] = {}
    latencies: list[float] = []

    async def listen(ws) -> None:
        for _ in range(mutations):
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == "project.created":
                    break
            latencies.append((time.perf_counter() - sent[message["data"]["name"]]) * 1000)

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as api:
        for i in range(mutations):
            name = f"s{subscribers}-m{i}"
            sent[name] = time.perf_counter()
            response = await api.post("/api/v1/projects", json={"name": name, "working_dir": "/"})
            assert response.status_code == 201
            await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*listeners), 120)
    for ws in sockets:
        await ws.close()
    stats = percentiles(latencies)
    stats["subscribers"] = subscribers
    stats["server_rss_mib_before"] = round(rss_before, 1)
    stats["server_rss_mib_idle_subscribed"] = round(rss_idle, 1)
    stats["kib_per_idle_subscriber"] = round((rss_idle - rss_before) * 1024 / subscribers, 1)
    return stats


async def main(mutations: int) -> None:
    home = scratch_home()
    with live_server(home) as server:
        results = [await run_case(server, n, mutations) for n in (1, 100, 1000)]
    for r in results:
        print(
            f"{r['subscribers']:>5} subscribers: p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  "
            f"max {r['max']:.2f} ms  ({r['kib_per_idle_subscriber']} KiB RSS per idle subscriber)"
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mutations", type=int, default=100)
    asyncio.run(main(parser.parse_args().mutations))
