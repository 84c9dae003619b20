"""The holder fork server: one small process per server that has already imported everything a holder needs, and
forks a launcher for each new session instead of the server starting a fresh interpreter for it.

Why: a fresh ``python -m app.terminals.holder`` costs an interpreter start and its imports (0.1-0.2 s of CPU); with
several agents starting at once on a small machine that was most of the time from "ready" to "running". A fork
costs a millisecond. What runs after the fork is exactly what ``python -m app.terminals.holder SPEC`` runs
(``holder.start_holder``): the launcher forks the holder and prints its first words, here into the pipe the server
sent with the request, then exits; the holder is re-parented away as before.

Protocol: the server and the fork server share a SOCK_SEQPACKET socket pair. A request is one packet: the spec
file's path, with one descriptor attached (SCM_RIGHTS), the write end of the pipe that gets the answer. The fork
server exits when the server's end closes (the server stopped or died: the holders it started live on). Server
side: ``ForkServer`` below, used by ``held_launch.launch``, which falls back to the plain start if it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from app.terminals.holder import FORK_SERVER, start_holder

MAX_REQUEST = 4096


def serve_forks(fd: int) -> int:
    """The fork server's loop (in its own process): one launcher per request, until the server's end closes."""
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the launchers exit at once; the kernel reaps them
    try:
        import uvloop  # noqa: F401  (what each holder runs on: imported once, here)
    except ImportError:
        pass
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(sock, MAX_REQUEST, 1)
        except InterruptedError:
            continue
        except OSError:
            return 0
        if not message and not fds:
            return 0  # the server closed its end
        if not fds:
            continue
        if os.fork() == 0:
            _launcher(sock, message.decode(errors="replace"), fds[0])
        for descriptor in fds:
            os.close(descriptor)


def _launcher(sock: socket.socket, spec_path: str, answer_fd: int) -> None:
    """In the forked child: become what `python -m app.terminals.holder SPEC` would be, answering into the pipe."""
    code = 1
    try:
        sock.close()
        os.setsid()  # as start_new_session: the holder is never in the server's (or our) session
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the holder waits for its program's exit status
        os.dup2(answer_fd, 1)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        code = start_holder(spec_path)
        sys.stdout.flush()
    finally:
        os._exit(code)


class ForkServer:
    """The server's handle on its fork server: start it, ask it for launchers, stop it."""

    def __init__(self, socket_dir: Path, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                # The socket directory in argv names whose holders these are (tests find stray holders by it).
                [sys.executable, "-m", "app.terminals.holder", FORK_SERVER, str(theirs.fileno()), str(socket_dir)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=socket_dir,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(5.0)
        self._sock = ours

    @property
    def alive(self) -> bool:
        """False once its process has exited (the next start makes a new one)."""
        return self._proc.poll() is None

    async def launch(self, spec_path: Path, timeout: float) -> str:
        """Have a launcher forked for `spec_path`; its first words (`ok …` or `error …`). OSError when the fork
        server cannot be reached; TimeoutError when no answer came in time."""
        read_fd, write_fd = os.pipe()
        try:
            try:
                socket.send_fds(self._sock, [os.fsencode(spec_path)], [write_fd])
            finally:
                os.close(write_fd)
            words = (await _read_to_end(read_fd, timeout)).decode(errors="replace").strip()
        finally:
            os.close(read_fd)
        if not words:  # a launcher always says something: the request died with the fork server (killed meanwhile)
            raise ConnectionResetError("the holder fork server went away before answering")
        return words

    def close(self) -> None:
        """Stop it (server shutdown): closing our end is its signal to exit; the holders it started live on."""
        self._sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=2)
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


async def _read_to_end(fd: int, timeout: float) -> bytes:
    """Everything written to a pipe until its last writer closes it, read on the event loop."""
    os.set_blocking(fd, False)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    data = bytearray()

    def readable() -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            chunk = b""
            if not done.done():
                done.set_exception(exc)
        if chunk:
            data.extend(chunk)
            return
        loop.remove_reader(fd)
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await asyncio.wait_for(done, timeout)
    finally:
        loop.remove_reader(fd)
    return bytes(data)
