"""A viewer that stops reading while its session runs `yes`: server memory stays bounded, other sessions stay fast.

Targets (issue 5): over 30 s the server's RSS grows by less than 16 MB, and keystroke echo in another session stays
under 20 ms. (The original TypeScript server and terminado have no flow control: their memory grew by 15 and 29 MB
per second in this situation.) Run: .venv/bin/python bench/terminal_stalled.py [--seconds 30]

The stalled viewer is a `websockets` client that sends `yes` and then never reads again (its library buffers at most
one frame, so TCP backpressure reaches the server). A second session runs `cat`; a probe types one key every 20 ms
and times its echo. Server RSS is sampled every 250 ms from /proc.
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

PROBE_EVERY_S = 0.02


async def drain(ws, quiet_s: float = 0.3) -> None:
    """Read (and ack) until the terminal has been quiet for ``quiet_s``."""
    while True:
        try:
            message = await asyncio.wait_for(ws.recv(), quiet_s)
        except TimeoutError:
            return
        if isinstance(message, bytes):
            await ws.send(json.dumps({"type": "ack", "bytes": len(message)}))


async def echo_probe(ws, stop: asyncio.Event, samples: list[float]) -> None:
    """Type one key at a time into `cat` and time until its echo arrives."""
    i = 0
    while not stop.is_set():
        key = b"abcdefghij"[i % 10 : i % 10 + 1]
        i += 1
        started = time.perf_counter()
        await ws.send(key)
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                await ws.send(json.dumps({"type": "ack", "bytes": len(message)}))
                if key in message:
                    break
        samples.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(PROBE_EVERY_S)


async def run(server, seconds: float) -> dict:
    """Stall a flooding session's viewer, probe another session, sample RSS; return the figures."""
    flood_id, probe_id = shell_session(server, "flood"), shell_session(server, "probe")
    pid = server.proc.pid
    async with (
        terminal_socket(server, probe_id) as probe,
        terminal_socket(server, flood_id, max_queue=1, close_timeout=1) as stalled,
    ):
        await probe.send(b"exec cat\n")
        await drain(probe)
        await drain(stalled)
        await asyncio.sleep(1.0)
        rss_before, cpu_before = rss_mib(pid), cpu_seconds(pid)
        samples: list[float] = []
        stop = asyncio.Event()
        prober = asyncio.create_task(echo_probe(probe, stop, samples))
        await stalled.send(b"yes\n")  # and never read again
        rss_series = []
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            await asyncio.sleep(0.25)
            rss_series.append((round(time.monotonic() - started, 2), rss_mib(pid)))
        stop.set()
        await prober
        cpu_used = cpu_seconds(pid) - cpu_before
    rss_max = max(r for _, r in rss_series)
    return {
        "seconds": seconds,
        "rss_before_MiB": round(rss_before, 1),
        "rss_max_MiB": round(rss_max, 1),
        "rss_growth_MiB": round(rss_max - rss_before, 1),
        "rss_at_end_MiB": round(rss_series[-1][1], 1),
        "server_cpu_percent": round(100 * cpu_used / seconds, 1),
        "echo_ms": {k: round(v, 3) for k, v in percentiles(samples).items()},
        "targets": {"rss_growth_MiB": "< 16", "echo_ms": "< 20"},
    }


def main() -> None:
    """Run once on a scratch home and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    home = scratch_home()
    try:
        with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as server:
            result = asyncio.run(run(server, args.seconds))
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
