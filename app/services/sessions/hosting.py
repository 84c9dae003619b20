"""Where a session's pty lives: in a holder process of its own (the default on POSIX), or inside the server.

With holders, a server restart is a non-event for the agents: each program runs under a small process
(`app.terminals.holder`) that owns its pty, scrollback and recording and serves the server over a private unix
socket in MAESTRO_HOME/holders/ (0700; the socket 0600; only the owner's uid is accepted). A server that stops
with --keep-sessions, crashes or is killed leaves them running; the next server reattaches them (`reattach`),
verifying the program's pid and start time so a reused pid is never mistaken for the session's. Holders are forked
by one fork server per server (`app.terminals.holder_forks`), which `close` stops at shutdown.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.terminals import Terminal
from app.terminals.held import HeldTerminal, HolderGone, dismiss_holder
from app.terminals.held_launch import close_fork_server

log = logging.getLogger("maestro.sessions")

AnyTerminal = Terminal | HeldTerminal


@dataclass(frozen=True)
class Hosting:
    """How this server runs sessions' ptys: `holders` or in process; where holders' sockets live."""

    holders: bool
    socket_dir: Path
    orphan_grace_s: float | None = None  # a holder whose server never returns stops its program after this

    async def start(
        self,
        session_id: str,
        argv: list[str],
        *,
        cwd: str,
        env: dict[str, str],
        cols: int,
        rows: int,
        recording_path: Path,
        on_exit: Callable[[int], None],
        on_lost: Callable[[str], None],
    ) -> AnyTerminal:
        """Start the program; OSError (ProgramNotFoundError, NotADirectoryError, EIO) when it cannot start."""
        if not self.holders:
            return Terminal.spawn(
                argv, cwd=cwd, env=env, cols=cols, rows=rows, recording_path=recording_path, on_exit=on_exit
            )
        try:
            return await HeldTerminal.start(
                argv,
                cwd=cwd,
                env=env,
                cols=cols,
                rows=rows,
                socket_dir=self.socket_dir,
                name=session_id,
                recording_path=recording_path,
                on_exit=on_exit,
                on_lost=on_lost,
                orphan_grace_s=self.orphan_grace_s,
            )
        except HolderGone as exc:
            raise OSError(errno.EIO, f"its holder process did not start ({exc})") from exc

    def close(self) -> None:
        """Server shutdown: stop the holder fork server (the holders it started live on)."""
        if self.holders:
            close_fork_server(self.socket_dir)

    def socket_of(self, session_id: str) -> Path:
        """The unix socket the session's holder serves."""
        return self.socket_dir / f"{session_id}.sock"

    async def reattach(
        self,
        session_id: str,
        *,
        pid: int | None,
        pid_start_time: int | None,
        on_exit: Callable[[int], None],
        on_lost: Callable[[str], None],
    ) -> HeldTerminal | str:
        """The session's running holder, connected again; or why it cannot be (the session is then lost).

        Without a recorded pid (the server died while starting it) a holder serving the session's socket is taken
        as the session's: only this user can create sockets there, each named after its session."""
        path = self.socket_of(session_id)
        if not path.exists():
            return "its holder process is gone" if pid is not None else "it had no process yet"
        try:
            return await HeldTerminal.reconnect(
                path, expect_pid=pid, expect_start_time=pid_start_time, on_exit=on_exit, on_lost=on_lost
            )
        except (HolderGone, OSError) as exc:
            log.info("session %s cannot be reattached: %s", session_id, exc)
            # A holder alive but unusable (another protocol version, another program) would wait for a server
            # for a day: stop its program and let it go now (a stale socket file is removed).
            await dismiss_holder(path)
            return f"its holder could not be reattached ({exc})"
