"""Benchmark helpers: a real `maestro serve` on a scratch MAESTRO_HOME, seeding, and latency statistics."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import LiveServer, live_server, maestro_env  # noqa: E402

__all__ = [
    "LiveServer",
    "cpu_by_part",
    "cpu_seconds",
    "cpu_spent",
    "ensure_packages",
    "live_server",
    "maestro_env",
    "percentiles",
    "rss_mib",
    "scratch_home",
    "seed_tasks",
    "shell_session",
    "terminal_socket",
]


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ensure_packages(*requirements: str) -> None:
    """pip-install benchmark-only packages (never runtime dependencies) into this interpreter when missing."""
    missing = [r for r in requirements if importlib.util.find_spec(r.split("=")[0].split(">")[0]) is None]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)


def shell_session(server: LiveServer, name: str = "bench", working_dir: str = "/tmp") -> str:
    """Create a project (uniquely named after ``name``) and start a shell session in it; returns the session id."""
    with server.client() as api:
        body = {"name": f"{name}-{os.urandom(4).hex()}", "working_dir": working_dir}
        project = api.post("/api/v1/projects", json=body).json()
        response = api.post("/api/v1/sessions", json={"project_id": project["id"], "profile": "shell"})
    if response.status_code != 201:
        raise RuntimeError(f"POST /sessions answered {response.status_code}: {response.text}")
    return response.json()["id"]


def terminal_socket(server: LiveServer, session_id: str, **kwargs):
    """websockets.connect() to a session's terminal (binary frames, no compression, no frame size limit)."""
    import websockets

    return websockets.connect(
        f"ws://127.0.0.1:{server.port}/api/v1/sessions/{session_id}/terminal",
        additional_headers={"Authorization": f"Bearer {server.token}"},
        max_size=None,
        compression=None,
        **kwargs,
    )


def raw_pty_read(command: str) -> tuple[int, float]:
    """`command` (echo off) in a pty read by a tight blocking loop in this process: bytes and seconds. What any
    reader of a pty gets here, with no server, WebSocket or browser in the way."""
    from ptyprocess import PtyProcess

    proc = PtyProcess.spawn(["sh", "-c", f"stty -echo; {command}"], dimensions=(24, 80))
    total, started = 0, time.perf_counter()
    while True:
        try:
            chunk = os.read(proc.fd, 65536)
        except OSError:  # EIO once the child closed its side
            break
        if not chunk:
            break
        total += len(chunk)
    elapsed = time.perf_counter() - started
    proc.close(force=True)
    return total, elapsed


def _part(cmdline: str, comm: str, thread: str, main: bool, pid: int, ppid: int, server_pid: int) -> str:
    """Which part of the system a thread belongs to, for `cpu_by_part`."""
    if pid == server_pid:
        return "server"
    if ppid == 2 or pid == 2:
        return "kernel threads (pty flush workers...)"
    if "chromium" in cmdline:
        kind = cmdline.partition("--type=")[2].split(" ")[0] or "browser"
        if kind == "utility":
            kind = "network" if "NetworkService" in cmdline else "utility"
        if kind == "renderer":
            kind = "renderer main thread" if main else f"renderer {thread}"
        return f"chromium {kind}"
    if "app.terminals.holder" in cmdline or "holder" in comm:
        return "holders"
    if pid == os.getpid():
        return "benchmark"
    return comm


def cpu_by_part(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by every thread on the machine, summed by part (server, holders, each Chromium
    process kind, the renderer's threads by name, kernel threads, other programs by name), and for each part the
    time its threads were ready to run but waited for a CPU; plus "machine busy", all cores' non-idle time.
    Subtract two of these to see where a stretch of work spent its CPU (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    parts: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            comm = (proc / "comm").read_text().strip()
            for task in (proc / "task").iterdir():
                stat = (task / "stat").read_text()
                thread = stat[stat.index("(") + 1 : stat.rindex(")")]
                fields = stat.rpartition(")")[2].split()
                main = task.name == proc.name
                part = _part(cmdline, comm, thread, main, int(proc.name), int(fields[1]), server_pid)
                parts[part] = parts.get(part, 0.0) + (int(fields[11]) + int(fields[12])) / tick
                # schedstat: ns on a CPU, ns runnable but waiting for one, timeslices.
                waited = int((task / "schedstat").read_text().split()[1]) / 1e9
                parts[f"{part}, waiting for a CPU"] = parts.get(f"{part}, waiting for a CPU", 0.0) + waited
        except (OSError, ValueError):
            continue  # the process or thread ended meanwhile
    busy = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    parts["machine busy"] = (sum(map(int, busy)) - int(busy[3]) - int(busy[4])) / tick
    return parts


def cpu_spent(before: dict[str, float], after: dict[str, float], least: float = 0.01) -> dict[str, float]:
    """What each part spent between two `cpu_by_part` readings (parts under `least` seconds left out), largest
    first."""
    spent = {part: after[part] - before.get(part, 0.0) for part in after}
    return {part: round(s, 3) for part, s in sorted(spent.items(), key=lambda kv: -kv[1]) if s >= least}


WORKQUEUE_CPUMASK = Path("/sys/devices/virtual/workqueue/cpumask")


@contextlib.contextmanager
def page_thread_alone(page_cpu: int) -> Iterator[None]:
    """While inside: every renderer's main thread (the page's, where xterm.js parses and draws) runs on `page_cpu`
    alone and every other thread on the machine — the server, holders, programs, Chromium's other threads and
    processes, the kernel's unbound workers (the pty's flush work) — on the other cores, as on a machine with a core
    to spare for the page. Afterwards every thread may run anywhere again (Linux, as root for the kernel's
    workers)."""
    cpus = os.sched_getaffinity(0)
    rest = cpus - {page_cpu}
    old_mask = WORKQUEUE_CPUMASK.read_text().strip() if WORKQUEUE_CPUMASK.exists() else None
    _pin_threads(lambda main, cmdline: {page_cpu} if main and "--type=renderer" in cmdline else rest)
    if old_mask is not None:
        with contextlib.suppress(OSError):
            WORKQUEUE_CPUMASK.write_text(format(sum(1 << cpu for cpu in rest), "x"))
    try:
        yield
    finally:
        if old_mask is not None:
            with contextlib.suppress(OSError):
                WORKQUEUE_CPUMASK.write_text(old_mask)
        _pin_threads(lambda main, cmdline: cpus)


def _pin_threads(cpus_for: Callable[[bool, str], set[int]]) -> None:
    """Set the CPU affinity of every thread on the machine that allows it (per-CPU kernel threads do not)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            for task in (proc / "task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), cpus_for(task.name == proc.name, cmdline))
        except OSError:
            continue  # the process ended meanwhile
