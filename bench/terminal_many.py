"""50 sessions printing continuously: server CPU and memory, and keystroke echo in another, idle session.

Target (issue 5): echo p99 in the idle session < 20 ms; server CPU and RSS are reported.
Run: .venv/bin/python bench/terminal_many.py [--sessions 50] [--seconds 30] [--rate KIB_PER_S] [--watch]

Each printing session is started through the API, sent its command over its terminal WebSocket and (without
--watch) detached again, so the server drains it into scrollback and recording with nobody watching; with --watch
every printing session keeps a viewer that reads and acks every 256 KiB like a browser. By default each session
prints 80-column lines at 100 KiB/s (a busy build log; 5 MB/s in all); --rate sets another pace and --rate 0 runs
`yes` with such lines, as fast as the ptys take them. A probe types one key every 20 ms into `cat` in an idle
session and times its echo. Server CPU (200% = both cores here) and RSS come from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time

from common import (
    cpu_seconds,
    live_server,
    maestro_env,
    percentiles,
    rss_mib,
    scratch_home,
    shell_session,
    terminal_socket,
)
from terminal_stalled import drain, echo_probe

LINE = "maestro bench: a line of build output, eighty columns wide, printed again and again"[:78]
ACK_EVERY = 256 * 1024
TICKS_PER_S = 100


def printer(rate_kib: float) -> str:
    """A command printing 80-column lines at ``rate_kib`` KiB/s in 100 writes a second (0: `yes`, full speed)."""
    if not rate_kib:
        return f"exec yes '{LINE}'"
    lines = max(1, round(rate_kib * 1024 / (len(LINE) + 2) / TICKS_PER_S))
    tick = 1 / TICKS_PER_S
    return f"""exec perl -e '$|=1; while (1) {{ print "{LINE}\\n" x {lines}; select(undef, undef, undef, {tick}) }}'"""


async def watch(ws, stop: asyncio.Event, counter: list[int]) -> None:
    """Read and ack like a browser tab until told to stop."""
    unacked = 0
    while not stop.is_set():
        try:
            message = await asyncio.wait_for(ws.recv(), 0.5)
        except TimeoutError:
            continue
        if isinstance(message, bytes):
            counter[0] += len(message)
            unacked += len(message)
            if unacked >= ACK_EVERY:
                await ws.send(json.dumps({"type": "ack", "bytes": unacked}))
                unacked = 0


async def run(server, sessions: int, seconds: float, command: str, watched: bool) -> dict:
    """Start the printers and the probe, measure for ``seconds``, return the figures."""
    pid = server.proc.pid
    rss_start = rss_mib(pid)
    printers = [shell_session(server, f"printer{i}") for i in range(sessions)]
    probe_id = shell_session(server, "probe")
    async with terminal_socket(server, probe_id) as probe:
        await probe.send(b"exec cat\n")
        await drain(probe)
        await asyncio.sleep(1.0)
        rss_before, cpu_before = rss_mib(pid), cpu_seconds(pid)
        stop = asyncio.Event()
        received = [0]
        viewers, watchers = [], []
        for session_id in printers:
            ws = await terminal_socket(server, session_id, close_timeout=1)
            await ws.send(f"{command}\n".encode())
            if watched:
                viewers.append(ws)
                watchers.append(asyncio.create_task(watch(ws, stop, received)))
            else:
                await ws.close()  # detaching never stops the session
        samples: list[float] = []
        prober = asyncio.create_task(echo_probe(probe, stop, samples))
        started = time.monotonic()
        rss_series = []
        while time.monotonic() - started < seconds:
            await asyncio.sleep(0.5)
            rss_series.append(rss_mib(pid))
        elapsed = time.monotonic() - started
        cpu_used = cpu_seconds(pid) - cpu_before
        stop.set()
        await asyncio.gather(prober, *watchers)
        for ws in viewers:
            await ws.close()
    recorded = sum(p.stat().st_size for p in (server.home / "sessions").glob("*/recording.cast"))
    return {
        "sessions": sessions,
        "command": command,
        "watched": watched,
        "seconds": round(elapsed, 1),
        "server_cpu_percent": round(100 * cpu_used / elapsed, 1),
        "rss_idle_server_MiB": round(rss_start, 1),
        "rss_before_printing_MiB": round(rss_before, 1),
        "rss_max_MiB": round(max(rss_series), 1),
        "recorded_MB": round(recorded / 1e6, 1),
        **({"received_MB_per_s": round(received[0] / elapsed / 1e6, 1)} if watched else {}),
        "echo_ms": {k: round(v, 3) for k, v in percentiles(samples).items()},
        "target": {"echo_p99_ms": "< 20"},
    }


def main() -> None:
    """Run once on a scratch home and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=100.0, help="KiB/s each session prints (0: as fast as it can)")
    parser.add_argument("--command", help="what each printing session runs (overrides --rate)")
    parser.add_argument("--watch", action="store_true", help="keep a reading, acking viewer on every session")
    args = parser.parse_args()
    home = scratch_home()
    try:
        with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as server:
            command = args.command or printer(args.rate)
            result = asyncio.run(run(server, args.sessions, args.seconds, command, args.watch))
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
