"""Concurrent task creation on SQLite with every acknowledged write durable (synchronous=FULL).

20 HTTP clients (wrk, 2 threads) POST /api/v1/tasks for a fixed time; reports creates/s and latency
percentiles, then checks that the database holds exactly as many tasks as were acknowledged.
Target (issue 3): >= 1,000 creates/s. Run: .venv/bin/python bench/tasks_create.py
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import live_server, rss_mib, scratch_home

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer TOKEN"
wrk.body = '{"project_id": "PROJECT", "title": "benchmark task", "priority": "high"}'
created = 0
function response(status, headers, body)
  if status == 201 then created = created + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d p50=%.3f p90=%.3f p99=%.3f max=%.3f errors=%d\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)

    home = scratch_home()
    with live_server(home) as server, server.client() as api:
        project = api.post("/api/v1/projects", json={"name": "bench", "working_dir": str(home.parent)}).json()
        script = Path(tempfile.mkdtemp()) / "create.lua"
        script.write_text(LUA.replace("TOKEN", server.token).replace("PROJECT", project["id"]))
        rss_before = rss_mib(server.proc.pid)
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{args.clients}",
                f"-d{args.seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                f"{server.url}api/v1/tasks",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rss_after = rss_mib(server.proc.pid)
        stored = api.get("/api/v1/events", params={"limit": 1}).json()["last_seq"] - 1  # minus project.created
    match = re.search(r"RESULT requests=(\d+) p50=([\d.]+) p90=([\d.]+) p99=([\d.]+) max=([\d.]+) errors=(\d+)", out)
    assert match, out
    requests, p50, p90, p99, worst, errors = match.groups()
    result = {
        "clients": args.clients,
        "seconds": args.seconds,
        "requests": int(requests),
        "creates_per_s": int(requests) / args.seconds,
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "max_ms": float(worst),
        "errors": int(errors),
        "events_stored": stored,
        "server_rss_mib": [round(rss_before, 1), round(rss_after, 1)],
    }
    print(out)
    print(json.dumps(result, indent=2))
    # Acknowledged == durable: every created task has its event in the log.
    assert stored >= int(requests) - int(errors), "acknowledged creates missing from the database"


if __name__ == "__main__":
    main()
