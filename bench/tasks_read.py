"""Read latency with 100,000 tasks in one project: a filtered list page (limit 100) and GET one task.

Targets (issue 3): list page p99 < 20 ms, GET one task p99 < 5 ms. Run: .venv/bin/python bench/tasks_read.py
"""

from __future__ import annotations

import argparse
import json
import random
import time

from common import live_server, percentiles, scratch_home, seed_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    home = scratch_home()
    started = time.perf_counter()
    project_id, task_ids = seed_tasks(home, str(home.parent), args.tasks)
    print(f"seeded {args.tasks} tasks in {time.perf_counter() - started:.1f} s")
    rng = random.Random(1)
    results = {}
    with live_server(home) as server, server.client() as api:
        cases = {
            "list status=in_progress limit=100": lambda: api.get(
                "/api/v1/tasks", params={"project_id": project_id, "status": "in_progress", "limit": 100}
            ),
            "list two statuses, sort -updated_at": lambda: api.get(
                "/api/v1/tasks",
                params=[
                    ("project_id", project_id),
                    ("status", "todo"),
                    ("status", "blocked"),
                    ("sort", "-updated_at"),
                    ("limit", "100"),
                ],
            ),
            "list parent_id=root limit=100": lambda: api.get(
                "/api/v1/tasks", params={"project_id": project_id, "parent_id": "root", "limit": 100}
            ),
            "list across projects, status=blocked": lambda: api.get(
                "/api/v1/tasks", params={"status": "blocked", "limit": 100}
            ),
            "list sort=title limit=100": lambda: api.get(
                "/api/v1/tasks", params={"project_id": project_id, "sort": "title", "limit": 100}
            ),
            "get one task": lambda: api.get(f"/api/v1/tasks/{rng.choice(task_ids)}"),
        }
        for name, call in cases.items():
            for _ in range(50):  # warm-up
                call()
            samples = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                response = call()
                samples.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.text
            if name.startswith("list"):
                assert len(response.json()["items"]) == 100
            results[name] = percentiles(samples)
            print(f"{name:40s} p50 {results[name]['p50']:.2f} ms  p99 {results[name]['p99']:.2f} ms")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
