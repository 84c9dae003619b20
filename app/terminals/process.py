"""Process-level helpers for the POSIX pty backend: signal reset in the child, group/session signalling, exit,
and /proc readings (process identity by start time, session sizes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

RESET_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGPIPE)


def reset_signals() -> None:
    """Runs in the child before exec: undo ignored dispositions inherited from a backgrounded server."""
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def _stat_fields(pid: int | str) -> list[bytes] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, session, …]; None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # The name may contain spaces and parentheses: the fields start after its last ')'.
            return f.read().rpartition(b")")[2].split()
    except OSError:
        return None


def _live_stats() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, stat fields) of every live (non-zombie) process (Linux /proc; elsewhere nothing)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = _stat_fields(entry.name)
                if fields is not None and len(fields) > 3 and fields[0] != b"Z":
                    yield int(entry.name), fields


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes in session ``sid`` (Linux /proc; elsewhere empty: the process group covers it)."""
    return [pid for pid, fields in _live_stats() if int(fields[3]) == sid]


def session_sizes() -> dict[int, int]:
    """How many live (non-zombie) processes each session id has, from one pass over /proc (Linux; else empty)."""
    sizes: dict[int, int] = {}
    for _, fields in _live_stats():
        sid = int(fields[3])
        sizes[sid] = sizes.get(sid, 0) + 1
    return sizes


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (/proc/<pid>/stat field 22), or None if it is gone,
    a zombie, or unknowable here (not Linux). With the pid it identifies one process: pids are reused, this is not.
    """
    fields = _stat_fields(pid)
    # Field 22 of the whole line is index 19 after the name (fields 1 and 2, pid and name, are cut off).
    if fields is None or len(fields) < 20 or fields[0] == b"Z":
        return None
    return int(fields[19])


def same_process(pid: int, start_time: int | None) -> bool:
    """True if ``pid`` is alive and still the process that started at ``start_time`` (never for an unknown time)."""
    return start_time is not None and process_start_time(pid) == start_time


def _session_running(sid: int) -> bool:
    """True while a live process remains in session (or group) ``sid``; zombies nobody reaps do not count."""
    if os.path.isdir("/proc/self"):
        return bool(session_members(sid))
    return session_alive(sid)


async def stop_session_group(sid: int, grace: float) -> bool:
    """HUP, TERM (after grace/2 each), then KILL the group and session ``sid`` of a process this server did not
    start (so it cannot reap it: liveness is read from /proc). True once nothing of it lives."""
    for sig, timeout in ((signal.SIGHUP, grace / 2), (signal.SIGTERM, grace / 2), (signal.SIGKILL, 5.0)):
        if not _session_running(sid):
            return True
        signal_session(sid, sig)
        await _wait_gone(sid, time.monotonic() + timeout)
    return not _session_running(sid)


async def _wait_gone(sid: int, deadline: float) -> None:
    # Polled: a process that is not our child gives no exit notification we could wait on.
    while True:
        if not _session_running(sid) or time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.05)


def kill_session_now(sid: int, rounds: int = 50) -> None:
    """SIGKILL everything in group and session ``sid`` without grace, for a runaway (a fork bomb): first SIGSTOP
    every member until no new one appears (a stopped process cannot fork), then kill them all at once."""
    seen: set[int] = set()
    for _ in range(rounds):
        members = set(session_members(sid))
        signal_session(sid, signal.SIGSTOP)
        if members <= seen:
            break
        seen |= members
    signal_session(sid, signal.SIGKILL)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a process group, ignoring one that is already gone."""
    with contextlib.suppress(OSError):
        os.killpg(pgid, sig)


def signal_session(sid: int, sig: int) -> None:
    """Signal the process group and every other process left in session ``sid`` (a shell's background jobs)."""
    kill_group(sid, sig)
    for pid in session_members(sid):
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def kill_session_if_ours(pid: int, start_time: int | None) -> None:
    """SIGKILL the group and session of program ``pid`` started at ``start_time``, if they are still its own.

    Its pid alive with another start time: reused, never signalled. Gone (or a zombie nobody reaps): the ids may
    still name leftover processes, and Linux does not hand out a pid while a group or session still uses it as its
    id, so whatever carries them is the program's. Without a start time (no /proc) nothing is signalled: there is
    no telling the program from a stranger.
    """
    if start_time is not None and process_start_time(pid) in (None, start_time):
        signal_session(pid, signal.SIGKILL)


def session_alive(sid: int) -> bool:
    """True while any process of the group or session ``sid`` lives."""
    try:
        os.killpg(sid, 0)
    except ProcessLookupError:
        return bool(session_members(sid))
    except PermissionError:
        return True
    return True


class ExitWatcher:
    """Calls ``on_status(wait_status)`` on the loop once child ``pid`` is reaped: a pidfd on Linux, else a thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int, on_status: Callable[[int], None]) -> None:
        self._loop = loop
        self.pid = pid
        self._on_status = on_status
        self._pidfd: int | None = None
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            with contextlib.suppress(OSError):
                self._pidfd = pidfd_open(pid)
        if self._pidfd is not None:
            loop.add_reader(self._pidfd, self._try_reap)
        else:
            threading.Thread(target=self._wait_thread, name=f"pty-wait-{pid}", daemon=True).start()

    def close(self) -> None:
        """Stop watching (the status was delivered)."""
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _wait_thread(self) -> None:
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            status = 0
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            self._loop.call_soon_threadsafe(self._on_status, status)

    def _try_reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid:
            self._on_status(status)
