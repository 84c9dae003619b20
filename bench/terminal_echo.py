"""Keystroke echo latency from a WebSocket client through a session's pty (echo on, `cat` as the reader).

Targets (issue 5): p50 < 1 ms, p99 < 2 ms (the original: 1.14 / 1.69 ms). With `--flood MB_PER_S`, another session
runs `yes` meanwhile, read by a client that acknowledges at that rate (as a browser tab drawing it would): the
server's share of the echo under a flood (issue 12). Run: .venv/bin/python bench/terminal_echo.py [--flood 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time

from common import live_server, maestro_env, percentiles, scratch_home, shell_session, terminal_socket

KEYS = 1000


async def flood(server, mb_per_s: float) -> None:
    """Run `yes` in a session of its own and read it at `mb_per_s`, acknowledging what was read, until cancelled."""
    async with terminal_socket(server, shell_session(server, "flood")) as ws:
        await ws.send(b"yes\n")
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                await asyncio.sleep(len(message) / (mb_per_s * 1e6))
                await ws.send(json.dumps({"type": "ack", "bytes": len(message)}))


async def measure(server, flood_mb_per_s: float) -> dict:
    """Type KEYS keys one at a time into `cat` and time each echo (with a flood next to it, if asked)."""
    flooding = asyncio.create_task(flood(server, flood_mb_per_s)) if flood_mb_per_s else None
    if flooding:
        await asyncio.sleep(1)
    try:
        return await echo(server)
    finally:
        if flooding:
            flooding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flooding


async def echo(server) -> dict:
    async with terminal_socket(server, shell_session(server, "echo")) as ws:
        await ws.send(b"exec cat\n")
        await asyncio.sleep(0.5)
        while True:  # drain the prompt and the echoed command
            try:
                await asyncio.wait_for(ws.recv(), 0.3)
            except TimeoutError:
                break
        samples = []
        for i in range(KEYS):
            key = b"abcdefghij"[i % 10 : i % 10 + 1]
            started = time.perf_counter()
            await ws.send(key)
            while True:
                message = await ws.recv()
                if isinstance(message, bytes) and key in message:
                    break
            samples.append((time.perf_counter() - started) * 1000)
            await ws.send(json.dumps({"type": "ack", "bytes": len(message)}))
        return percentiles(samples)


def main() -> None:
    """Run once on a scratch home and print the percentiles as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=float, default=0, metavar="MB_PER_S", help="flood another session meanwhile")
    args = parser.parse_args()
    home = scratch_home()
    with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as server:
        stats = asyncio.run(measure(server, args.flood))
    print(json.dumps({k: round(v, 3) for k, v in stats.items()}, indent=2))


if __name__ == "__main__":
    main()
