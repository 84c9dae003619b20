"""Process-level helpers for the POSIX pty backend: signal reset in the child, group/session signalling."""

from __future__ import annotations

import contextlib
import os
import signal

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
