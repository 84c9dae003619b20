"""The holder's extra hop: today's in-process pty host (``Terminal``) against ``HeldTerminal`` (the pty in a holder
process, output and input over a unix socket), interleaved rounds in one run, plus reattaching many sessions.

Targets (issue 16): HeldTerminal keeps >= 90% of the in-process MB/s; echo p99 <= 1 ms.
Run: .venv/bin/python bench/terminal_holder.py [--rounds 5] [--keys 1000] [--sessions 50] [--loop uvloop|asyncio]

- throughput: ``sh -c 'stty -echo; head -c 60000000 /dev/zero | base64; echo __DONE__'`` (~81 MB), read by one
  attached viewer that acknowledges every chunk it reads (as the terminal WebSocket does once sent); MB/s from
  start to the marker. The holder's CPU seconds are reported beside this process's, so a faster figure bought
  with more CPU shows.
- echo: ``cat`` with echo on; one key written through the viewer, timed until its echo arrives at the viewer.
- reattach: N holders running ``cat``; all detached, then all reconnected concurrently (a server restart); the
  time until every terminal is reattached with its scrollback (the holders' startup time is shown too).
The server runs uvloop; so does this benchmark by default (and the holder, where uvloop is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import cpu_seconds, percentiles  # noqa: E402

from app.terminals import Terminal, Viewer  # noqa: E402
from app.terminals.held import HeldTerminal  # noqa: E402

SOURCE_BYTES = 60_000_000
COMMAND = f"stty -echo; head -c {SOURCE_BYTES} /dev/zero | base64; echo __DO''NE__"
MARKER = b"__DONE__"
ENV = {"PATH": os.environ.get("PATH", os.defpath), "HOME": "/tmp", "LANG": "C", "PS1": "$ "}


async def spawn(kind: str, argv: list[str], socket_dir: Path, name: str) -> Terminal | HeldTerminal:
    if kind == "in_process":
        return Terminal.spawn(argv, cwd="/tmp", env=ENV, cols=80, rows=24)
    return await HeldTerminal.start(argv, cwd="/tmp", env=ENV, cols=80, rows=24, socket_dir=socket_dir, name=name)


async def finish(terminal: Terminal | HeldTerminal) -> None:
    await terminal.stop(grace=1.0)
    if isinstance(terminal, HeldTerminal):
        await terminal.collect()


async def read_to(viewer: Viewer, marker: bytes) -> int:
    total, tail = 0, b""
    while marker not in tail:
        chunk = await viewer.read()
        if chunk is None:
            raise RuntimeError("the terminal ended before the marker")
        total += len(chunk)
        tail = tail[-64:] + chunk[-64:]
        viewer.ack(len(chunk))
    return total


async def throughput(kind: str, socket_dir: Path) -> dict:
    terminal = await spawn(kind, ["sh", "-c", "read go; " + COMMAND], socket_dir, f"tp-{os.urandom(3).hex()}")
    holder = getattr(terminal, "holder_pid", None)
    viewer = terminal.attach()
    cpu_here = time.process_time()
    cpu_holder = cpu_seconds(holder) if holder else 0.0
    started = time.perf_counter()
    terminal.write(b"\n")
    total = await read_to(viewer, MARKER)
    elapsed = time.perf_counter() - started
    figures = {
        "MB": round(total / 1e6, 1),
        "MB_per_s": round(total / elapsed / 1e6, 1),
        "server_cpu_s": round(time.process_time() - cpu_here, 2),
    }
    if holder:
        figures["holder_cpu_s"] = round(cpu_seconds(holder) - cpu_holder, 2)
    await finish(terminal)
    return figures


async def echo(kind: str, socket_dir: Path, keys: int) -> dict:
    terminal = await spawn(kind, ["cat"], socket_dir, f"echo-{os.urandom(3).hex()}")
    viewer = terminal.attach()
    samples = []
    for i in range(keys):
        key = b"abcdefghij"[i % 10 : i % 10 + 1]
        started = time.perf_counter()
        viewer.write(key)
        while True:
            chunk = await viewer.read()
            viewer.ack(len(chunk))
            if key in chunk:
                break
        samples.append((time.perf_counter() - started) * 1000)
    await finish(terminal)
    return {k: round(v, 3) for k, v in percentiles(samples).items()}


async def reattach(socket_dir: Path, sessions: int) -> dict:
    started = time.perf_counter()
    terminals = await asyncio.gather(*(spawn("held", ["cat"], socket_dir, f"re-{i}") for i in range(sessions)))
    startup = time.perf_counter() - started
    for terminal in terminals:
        terminal.write(b"hello\n")
    await asyncio.gather(*(read_to(t.attach(), b"hello\r\nhello") for t in terminals))
    known = [(t.socket_path, t.pid, t.pid_start_time) for t in terminals]
    await asyncio.gather(*(t.detach() for t in terminals))
    started = time.perf_counter()
    again = await asyncio.gather(
        *(HeldTerminal.reconnect(path, expect_pid=pid, expect_start_time=st) for path, pid, st in known)
    )
    elapsed = time.perf_counter() - started
    assert all(t.output_since(0, 100)[1].startswith(b"hello") for t in again)
    await asyncio.gather(*(finish(t) for t in again))
    return {"sessions": sessions, "start_all_s": round(startup, 3), "reattach_all_s": round(elapsed, 3)}


async def run(args: argparse.Namespace) -> dict:
    socket_dir = Path(tempfile.mkdtemp(prefix="bench-holder-")) / "holders"
    rounds = []
    try:
        for _ in range(args.rounds):
            result: dict = {}
            for kind in ("in_process", "held"):
                result[kind] = {"throughput": await throughput(kind, socket_dir)}
            for kind in ("in_process", "held"):
                result[kind]["echo"] = await echo(kind, socket_dir, args.keys)
            result["held_vs_in_process"] = round(
                result["held"]["throughput"]["MB_per_s"] / result["in_process"]["throughput"]["MB_per_s"], 3
            )
            rounds.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
        many = await reattach(socket_dir, args.sessions) if args.sessions else None
    finally:
        shutil.rmtree(socket_dir.parent, ignore_errors=True)

    def median(kind: str, part: str, key: str) -> float:
        return round(statistics.median(r[kind][part][key] for r in rounds), 3)

    return {
        "command": COMMAND,
        "loop": args.loop,
        "rounds": len(rounds),
        "median": {
            "in_process_MB_per_s": median("in_process", "throughput", "MB_per_s"),
            "held_MB_per_s": median("held", "throughput", "MB_per_s"),
            "held_vs_in_process": round(statistics.median(r["held_vs_in_process"] for r in rounds), 3),
            "in_process_server_cpu_s": median("in_process", "throughput", "server_cpu_s"),
            "held_server_cpu_s": median("held", "throughput", "server_cpu_s"),
            "held_holder_cpu_s": median("held", "throughput", "holder_cpu_s"),
            "in_process_echo_p50_ms": median("in_process", "echo", "p50"),
            "in_process_echo_p99_ms": median("in_process", "echo", "p99"),
            "held_echo_p50_ms": median("held", "echo", "p50"),
            "held_echo_p99_ms": median("held", "echo", "p99"),
        },
        "reattach": many,
    }


def main() -> None:
    """Run the rounds; each round on stderr, the medians on stdout, as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keys", type=int, default=1000, help="keys typed per echo measurement")
    parser.add_argument("--sessions", type=int, default=50, help="holders to reattach at once (0: skip)")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        summary = uvloop.run(run(args))
    else:
        summary = asyncio.run(run(args))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
