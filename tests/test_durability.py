"""Every acknowledged write survives `kill -9` of the server under concurrent load; the file stays intact."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from tests.helpers import live_server, start_server


def test_acknowledged_writes_survive_kill_9(tmp_path: Path):
    home = tmp_path / "home"
    server = start_server(home)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        with server.client() as api:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    r = api.post("/api/v1/projects", json={"name": f"w{worker}-{n}", "working_dir": str(tmp_path)})
                except httpx.HTTPError:
                    return  # the server died mid-request: that one was never acknowledged
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json()["id"])

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert len(acknowledged) > 50

    with sqlite3.connect(home / "maestro.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with live_server(home) as again:  # the stale server.json of the killed server is not trusted
        with again.client() as api:
            ids = {p["id"] for p in api.get("/api/v1/projects").json()}
            events, after = [], 0
            while page := api.get("/api/v1/events", params={"after": after, "limit": 1000}).json()["items"]:
                events += page
                after = page[-1]["seq"]
    assert set(acknowledged) <= ids
    created = {e["entity_id"] for e in events if e["type"] == "project.created"}
    assert ids <= created  # no change without its event
