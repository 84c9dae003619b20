"""Terminal output throughput: ~82 MB of `base64` (echo off) through Maestro's terminal WebSocket, a raw Python read
of the same pty, and Jupyter's terminado serving the same command, interleaved in one run.

Targets (issue 5): Maestro at least 85% of the raw read, never below terminado (~46 MB/s here), aiming at the
original TypeScript server's ~81 MB/s (it cannot run here; quoted from the issue).
Run: .venv/bin/python bench/terminal_throughput.py [--rounds 3] [--no-terminado] [--ack-every 262144]
     [--compare-tree DIR ...]  (also serve from another checkout, e.g. `git worktree add /tmp/before <commit>`)

- raw: ``sh -c 'stty -echo; COMMAND'`` in a ptyprocess pty, read with blocking ``os.read(fd, 65536)`` until EOF.
- maestro: a real ``maestro serve`` (recording on, as configured by default), one new shell session per round,
  a Python ``websockets`` client acking every 256 KiB like a browser acks after xterm.js wrote a batch.
- terminado: ``terminado.SingleTermManager`` + ``TermSocket`` on tornado (pip-installed into this venv on first use,
  never a dependency of Maestro); its client decodes each ``["stdout", text]`` JSON message. No flow control.
Server and client CPU seconds are per transfer (from /proc), so a faster figure bought with more CPU shows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import websockets
from common import (
    cpu_seconds,
    ensure_packages,
    live_server,
    maestro_env,
    raw_pty_read,
    scratch_home,
    shell_session,
    terminal_socket,
)

SOURCE_BYTES = 60_000_000  # base64 makes ~81 MB of output
COMMAND = f"head -c {SOURCE_BYTES} /dev/zero | base64"
MARKER = b"__DONE__"
READY = b"__READY__"

TERMINADO_SERVER = r"""
import asyncio
import tornado.web
from terminado import SingleTermManager, TermSocket

async def main():
    manager = SingleTermManager(shell_command=["/bin/sh"])
    app = tornado.web.Application([(r"/websocket", TermSocket, {"term_manager": manager})])
    server = app.listen(0, "127.0.0.1")
    print(next(iter(server._sockets.values())).getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def raw_read() -> dict:
    """The same command in a pty read by a tight blocking loop in this process."""
    cpu_before = time.process_time()
    total, elapsed = raw_pty_read(COMMAND)
    return _figures(total, elapsed, reader_cpu_s=time.process_time() - cpu_before)


async def maestro_run(server, ack_every: int) -> dict:
    """One new shell session; the command's output through the terminal WebSocket with acks."""
    session_id = shell_session(server)
    async with terminal_socket(server, session_id) as ws:
        unacked = 0

        async def until(marker: bytes) -> int:
            nonlocal unacked
            total, tail = 0, b""
            while marker not in tail:
                message = await ws.recv()
                if isinstance(message, bytes):
                    total += len(message)
                    tail = tail[-64:] + message[-64:]
                    unacked += len(message)
                    if unacked >= ack_every:
                        await ws.send(json.dumps({"type": "ack", "bytes": unacked}))
                        unacked = 0
            return total

        await ws.send(b"stty -echo; echo __RE''ADY__\n")
        await until(READY)
        cpu_server, cpu_client = cpu_seconds(server.proc.pid), time.process_time()
        started = time.perf_counter()
        await ws.send(f"{COMMAND}; echo __DO''NE__\n".encode())
        total = await until(MARKER)
        elapsed = time.perf_counter() - started
        return _figures(
            total,
            elapsed,
            server_cpu_s=cpu_seconds(server.proc.pid) - cpu_server,
            client_cpu_s=time.process_time() - cpu_client,
        )


async def terminado_run(port: int, pid: int) -> dict:
    """The same command through terminado's TermSocket (JSON text messages, no flow control)."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/websocket", max_size=None, compression=None) as ws:

        async def until(marker: str) -> int:
            total, tail = 0, ""
            while marker not in tail:
                kind, *payload = json.loads(await ws.recv())
                if kind == "stdout":
                    total += len(payload[0])  # base64 output is ASCII: characters are bytes
                    tail = tail[-64:] + payload[0][-64:]
            return total

        await ws.send(json.dumps(["stdin", "stty -echo; echo __RE''ADY__\n"]))
        await until(READY.decode())
        cpu_server, cpu_client = cpu_seconds(pid), time.process_time()
        started = time.perf_counter()
        await ws.send(json.dumps(["stdin", f"{COMMAND}; echo __DO''NE__\n"]))
        total = await until(MARKER.decode())
        elapsed = time.perf_counter() - started
        return _figures(
            total, elapsed, server_cpu_s=cpu_seconds(pid) - cpu_server, client_cpu_s=time.process_time() - cpu_client
        )


def start_terminado() -> tuple[subprocess.Popen, int]:
    """A terminado server on a free port running /bin/sh, like Jupyter's terminals."""
    ensure_packages("terminado", "tornado")
    env = {**os.environ, "SHELL": "/bin/sh", "PS1": "$ "}
    proc = subprocess.Popen(
        [sys.executable, "-c", TERMINADO_SERVER], stdout=subprocess.PIPE, env=env, start_new_session=True
    )
    return proc, int(proc.stdout.readline())


def _figures(total: int, elapsed: float, **cpu: float) -> dict:
    return {
        "MB": round(total / 1e6, 1),
        "MB_per_s": round(total / elapsed / 1e6, 1),
        **{k: round(v, 2) for k, v in cpu.items()},
    }


def main() -> None:
    """Run the rounds and print each (stderr) and the medians (stdout) as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ack-every", type=int, default=256 * 1024, help="client ack size in bytes")
    parser.add_argument("--no-terminado", action="store_true", help="skip terminado (no pip install)")
    parser.add_argument(
        "--compare-tree", action="append", default=[], metavar="DIR", help="also run a server from this checkout"
    )
    args = parser.parse_args()

    terminado = None if args.no_terminado else start_terminado()
    home = scratch_home()
    homes = [home]
    rounds = []
    try:
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(live_server(home, env=maestro_env(home, SHELL="/bin/sh")))
            others = {}
            for tree in args.compare_tree:
                other_home = scratch_home()
                homes.append(other_home)
                env = maestro_env(other_home, SHELL="/bin/sh", PYTHONPATH=str(Path(tree).resolve()))
                others[f"maestro@{Path(tree).name}"] = stack.enter_context(live_server(other_home, env=env))
            for _ in range(args.rounds):
                result = {"raw": raw_read(), "maestro": asyncio.run(maestro_run(server, args.ack_every))}
                for name, other in others.items():
                    result[name] = asyncio.run(maestro_run(other, args.ack_every))
                if terminado is not None:
                    result["terminado"] = asyncio.run(terminado_run(terminado[1], terminado[0].pid))
                result["maestro_vs_raw"] = round(result["maestro"]["MB_per_s"] / result["raw"]["MB_per_s"], 3)
                rounds.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
    finally:
        if terminado is not None:
            os.killpg(terminado[0].pid, signal.SIGTERM)
            terminado[0].wait(timeout=10)
        for scratch in homes:  # each session recorded up to 50 MB
            shutil.rmtree(scratch.parent, ignore_errors=True)

    def median(name: str, key: str = "MB_per_s") -> float:
        return round(statistics.median(r[name][key] for r in rounds), 2)

    summary = {
        "command": COMMAND,
        "ack_every": args.ack_every,
        "rounds": rounds,
        "median": {
            "raw_MB_per_s": median("raw"),
            "maestro_MB_per_s": median("maestro"),
            "maestro_vs_raw": round(statistics.median(r["maestro_vs_raw"] for r in rounds), 3),
            "maestro_server_cpu_s": median("maestro", "server_cpu_s"),
            **{f"{name}_MB_per_s": median(name) for name in others},
            **(
                {
                    "terminado_MB_per_s": median("terminado"),
                    "terminado_server_cpu_s": median("terminado", "server_cpu_s"),
                }
                if terminado is not None
                else {}
            ),
        },
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
