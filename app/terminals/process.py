"""Process-level helpers for the POSIX pty backend: signal reset in the child, group/session signalling, exit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable

RESET_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGPIPE)


def reset_signals() -> None:
    """Runs in the child before exec: undo ignored dispositions inherited from a backgrounded server."""
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes in session ``sid`` (Linux /proc; elsewhere empty: the process group covers it)."""
    members = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    fields = f.read().rpartition(b")")[2].split()
            except OSError:
                continue
            if len(fields) > 3 and int(fields[3]) == sid and fields[0] != b"Z":
                members.append(int(entry.name))
    return members


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
