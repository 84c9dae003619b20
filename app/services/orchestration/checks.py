"""Exit checks: a task's check command, run through /bin/sh in the task's working directory with a time limit.

The command runs in its own process group (so a timeout kills everything it started) with stdin closed; its output
(stdout and stderr together) is kept up to a bound, the end of it, which is what explains a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass

OUTPUT_LIMIT = 64 * 1024  # bytes of output kept: the last ones


@dataclass(frozen=True)
class CheckResult:
    """How a check went: passed, its exit code (None: it timed out or could not start), output, seconds."""

    passed: bool
    exit_code: int | None
    output: str
    seconds: float
    timed_out: bool = False

    def summary(self, command: str) -> str:
        """One line: what ran and how it ended."""
        if self.timed_out:
            return f"check `{command}` timed out after {self.seconds:.0f} s and was stopped"
        if self.exit_code is None:
            return f"check `{command}` could not run: {self.output.strip()}"
        verdict = "passed" if self.passed else f"failed (exit {self.exit_code})"
        return f"check `{command}` {verdict} in {self.seconds:.1f} s"


async def run_check(command: str, cwd: str, timeout_s: float, env: Mapping[str, str]) -> CheckResult:
    """Run `command` in `cwd`; it passes when it exits 0 within `timeout_s` seconds."""
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return CheckResult(passed=False, exit_code=None, output=str(exc), seconds=0.0)
    output = bytearray()
    timed_out = False
    try:
        await asyncio.wait_for(_collect(proc, output), timeout_s)
    except TimeoutError:
        timed_out = True
    finally:
        _kill_group(proc.pid)  # also what it left running in the background
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()
    code = None if timed_out else proc.returncode
    text = output.decode(errors="replace")
    return CheckResult(
        passed=code == 0, exit_code=code, output=text, seconds=time.monotonic() - started, timed_out=timed_out
    )


async def _collect(proc: asyncio.subprocess.Process, output: bytearray) -> None:
    assert proc.stdout is not None
    while chunk := await proc.stdout.read(65536):
        output.extend(chunk)
        if len(output) > OUTPUT_LIMIT:
            del output[: len(output) - OUTPUT_LIMIT]
    await proc.wait()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
