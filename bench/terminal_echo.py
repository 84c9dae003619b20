"""Keystroke echo latency from a WebSocket client through a session's pty (echo on, `cat` as the reader).

Targets (issue 5): p50 < 1 ms, p99 < 2 ms (the original: 1.14 / 1.69 ms). Run: .venv/bin/python bench/terminal_echo.py
"""

from __future__ import annotations

import asyncio
import json
import time

from common import live_server, maestro_env, percentiles, scratch_home, shell_session, terminal_socket

KEYS = 1000


async def measure(server) -> dict:
    """Type KEYS keys one at a time into `cat` and time each echo."""
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
    home = scratch_home()
    with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as server:
        stats = asyncio.run(measure(server))
    print(json.dumps({k: round(v, 3) for k, v in stats.items()}, indent=2))


if __name__ == "__main__":
    main()
