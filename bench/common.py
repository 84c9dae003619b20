"""Benchmark helpers: a real `maestro serve` on a scratch MAESTRO_HOME, seeding, and latency statistics."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import LiveServer, live_server, maestro_env  # noqa: E402

__all__ = ["LiveServer", "live_server", "maestro_env", "percentiles", "scratch_home", "seed_tasks", "rss_mib"]


def scratch_home() -> Path:
    """A fresh directory for one benchmark run."""
    return Path(tempfile.mkdtemp(prefix="maestro-bench-")) / "home"


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of latencies in milliseconds."""
    ordered = sorted(samples_ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "n": len(ordered),
        "p50": pick(0.50),
        "p90": pick(0.90),
        "p99": pick(0.99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def seed_tasks(home: Path, working_dir: str, count: int) -> tuple[str, list[str]]:
    """Create one project holding `count` tasks (10% roots, the rest their children) straight in the database."""
    import random

    from app.db.engine import close_database, open_database
    from app.db.tables import Project, Task
    from app.ids import new_id
    from app.models.common import TASK_STATUSES, utcnow
    from app.settings import Settings

    async def run() -> tuple[str, list[str]]:
        db = await open_database(Settings(home=home))
        rng = random.Random(7)
        now = utcnow()
        pid = new_id("prj")
        await Project.insert(Project(id=pid, name="bench", working_dir=working_dir, created_at=now, updated_at=now))
        ids: list[str] = []
        roots: list[str] = []
        batch = []
        for i in range(count):
            tid = new_id("tsk")
            parent = rng.choice(roots) if roots and i % 10 else None
            (roots if parent is None else ids).append(tid)
            batch.append(
                Task(
                    id=tid,
                    project=pid,
                    parent=parent,
                    title=f"task {i}",
                    description=f"body {i}",
                    status=rng.choice(TASK_STATUSES),
                    position=i,
                    created_at=now,
                    updated_at=now,
                )
            )
            if len(batch) == 1000:
                await Task.insert(*batch)
                batch = []
        if batch:
            await Task.insert(*batch)
        await close_database(db)
        return pid, roots + ids

    return asyncio.run(run())


def rss_mib(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_count() -> int:
    return os.cpu_count() or 1
