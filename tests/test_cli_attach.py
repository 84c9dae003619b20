"""`maestro session attach` driven through a real pty against a real server and a spawned shell session: keys and
echo, resize, Ctrl-C to the session, detach and reattach with the scrollback, the session's end, the server's death,
and the local terminal's mode restored every time."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ptyprocess import PtyProcess

from tests.helpers import MAESTRO, LiveServer, live_server, maestro_env

STTY = re.compile(rb"STTY<([0-9a-f:]+)>")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("cli-attach") / "home"
    with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as running:
        yield running


def spawn_shell(server: LiveServer, folder: Path) -> dict:
    folder.mkdir(exist_ok=True)
    with server.client() as api:
        project = api.post("/api/v1/projects", json={"name": f"p-{folder.parent.name}", "working_dir": str(folder)})
        assert project.status_code == 201, project.text
        spawned = api.post("/api/v1/sessions", json={"project_id": project.json()["id"], "profile": "shell"})
    assert spawned.status_code == 201, spawned.text
    return spawned.json()


class Outer:
    """A terminal of our own (the outer pty) running `sh -c 'stty -g; maestro session attach …; stty -g'`."""

    def __init__(self, server: LiveServer, *args: str, env: dict[str, str] | None = None) -> None:
        attach = " ".join([*MAESTRO, "session", "attach", *args])
        script = f'echo "STTY<$(stty -g)>"; {attach}; echo "RC<$?>"; echo "STTY<$(stty -g)>"'
        env = maestro_env(server.home, TERM="xterm", **(env or {}))
        self.proc = PtyProcess.spawn(["/bin/sh", "-c", script], env=env, dimensions=(24, 80))
        self.output = b""

    def until(self, marker: bytes | re.Pattern[bytes], count: int = 1, timeout: float = 20) -> bytes:
        """Read until `marker` (bytes or a pattern) has appeared `count` times; everything read so far."""
        deadline = time.monotonic() + timeout
        while len(re.findall(marker if isinstance(marker, re.Pattern) else re.escape(marker), self.output)) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{marker!r} not seen; the terminal shows:\n{self.output[-3000:]!r}")
            ready, _, _ = select.select([self.proc.fd], [], [], left)
            if ready:
                try:
                    self.output += os.read(self.proc.fd, 65536)
                except OSError:  # EIO: the outer shell exited
                    raise AssertionError(f"{marker!r} not seen before the end:\n{self.output[-3000:]!r}") from None
        return self.output

    def type(self, keys: bytes) -> None:
        self.proc.write(keys)

    def finished(self) -> tuple[int, bytes, bytes]:
        """Wait for the attach to end: its exit code, and the outer terminal's `stty -g` before and after it."""
        self.until(STTY, count=2)
        before, after = STTY.findall(self.output)
        return int(re.search(rb"RC<(\d+)>", self.output)[1]), before, after

    def local_mode(self) -> list:
        """The termios attributes of the outer pty, read through its slave as the attach process sees them."""
        slave = os.open(os.readlink(f"/proc/{self.proc.pid}/fd/0"), os.O_RDONLY | os.O_NOCTTY)
        try:
            return termios.tcgetattr(slave)
        finally:
            os.close(slave)

    def attach_pid(self) -> int:
        """The `maestro session attach` process (the outer shell's child)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def close(self) -> None:
        if self.proc.isalive():
            self.proc.terminate(force=True)


def foreground_process(cmdline: bytes, timeout: float = 20) -> int:
    """The pid of the process running `cmdline` once it is its terminal's foreground process group (so that a
    Ctrl-C typed now reaches it, not the shell that is still starting it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and (proc / "cmdline").read_bytes() == cmdline:
                    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                    if fields[2] == fields[5]:  # pgrp == tpgid
                        return int(proc.name)
            except OSError:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no foreground process {cmdline!r}")


def typed_until(outer: Outer, keys: bytes, marker: bytes, tries: int = 10) -> None:
    """Type a command until its output shows: a shell still handling a storm of SIGINTs drops the line it reads."""
    for _ in range(tries - 1):
        outer.type(keys)
        try:
            outer.until(marker, timeout=3)
            return
        except AssertionError:
            continue
    outer.type(keys)
    outer.until(marker)


def session_status(server: LiveServer, session_id: str) -> dict:
    with server.client() as api:
        return api.get(f"/api/v1/sessions/{session_id}").json()


def test_attach_type_resize_ctrl_c_detach_reattach_and_end(server: LiveServer, tmp_path: Path):
    session = spawn_shell(server, tmp_path / "work")
    outer = Outer(server, session["id"])
    try:
        outer.until(b"Ctrl-] detaches")  # the one-line hint
        outer.type(b"echo hel''lo-$((6*7))\r")
        outer.until(b"hello-42")  # typed keys reached the session's shell, its output came back
        lflag = outer.local_mode()[3]
        assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG)  # raw: every key goes to the session

        outer.proc.setwinsize(37, 111)  # the kernel sends SIGWINCH to the attach
        outer.type(b"stty size\r")
        outer.until(b"37 111")

        outer.type(b"sleep 6071\r")
        sleeper = foreground_process(b"sleep\x006071\x00")
        outer.type(b"\x03" * 20)  # a Ctrl-C storm: the session's sleep is interrupted, the client stays
        typed_until(outer, b"echo still-$((1+1))\r", b"still-2")  # the shell is back: the sleep was interrupted
        assert not Path(f"/proc/{sleeper}").exists()

        outer.type(b"\x1d")  # Ctrl-]: detach
        rc, before, after = outer.finished()
        assert rc == 0
        assert b"detached from " + session["id"].encode() in outer.output
        assert after == before  # the local terminal's mode is restored
        assert session_status(server, session["id"])["status"] in ("running", "idle")  # still running
    finally:
        outer.close()

    again = Outer(server, session["id"])
    try:
        again.until(b"Ctrl-] detaches")
        again.until(b"still-2")  # the scrollback is shown on attach, before anything is typed
        assert b"hello-42" in again.output and b"37 111" in again.output
        again.type(b"exit 7\r")  # the session ends: the attach says how, and exits 0
        rc, before, after = again.finished()
        assert rc == 0
        assert f"session {session['id']} ended: failed, exit code 7".encode() in again.output
        assert after == before
    finally:
        again.close()
    ended = session_status(server, session["id"])
    assert ended["status"] == "failed" and ended["exit_code"] == 7


def test_attach_with_another_escape_key_sends_ctrl_bracket_to_the_session(server: LiveServer, tmp_path: Path):
    session = spawn_shell(server, tmp_path / "work")
    outer = Outer(server, "--escape", "^B", session["id"])
    try:
        outer.until(b"Ctrl-B detaches")
        outer.type(b"cat -v\r")
        outer.type(b"\x1d\r")  # Ctrl-] is a key like any other now: cat shows it
        outer.until(b"^]")
        outer.type(b"\x03")
        outer.type(b"\x02")
        rc, before, after = outer.finished()
        assert rc == 0 and after == before
        assert session_status(server, session["id"])["status"] in ("running", "idle")
    finally:
        outer.close()


def test_the_escape_key_as_the_kitty_keyboard_protocol_sends_it_detaches(server: LiveServer, tmp_path: Path):
    session = spawn_shell(server, tmp_path / "work")
    outer = Outer(server, session["id"])
    try:
        outer.until(b"Ctrl-] detaches")
        outer.type(b"\x1b[93;5u")  # Ctrl-] once a program switched the terminal to the kitty keyboard protocol
        rc, before, after = outer.finished()
        assert rc == 0 and b"detached from" in outer.output and after == before
    finally:
        outer.close()


def test_sigterm_and_sighup_detach_and_restore_the_terminal(server: LiveServer, tmp_path: Path):
    session = spawn_shell(server, tmp_path / "work")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        outer = Outer(server, session["id"])
        try:
            outer.until(b"Ctrl-] detaches")
            os.kill(outer.attach_pid(), signum)
            rc, before, after = outer.finished()
            assert rc == 0 and b"detached from" in outer.output and after == before
        finally:
            outer.close()
    assert session_status(server, session["id"])["status"] in ("running", "idle")


def test_attach_when_the_server_dies_exits_3_and_restores_the_terminal(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, env=maestro_env(home, SHELL="/bin/sh")) as dying:
        session = spawn_shell(dying, tmp_path / "work")
        outer = Outer(dying, session["id"])
        try:
            outer.until(b"Ctrl-] detaches")
            outer.type(b"echo up-$((2+3))\r")
            outer.until(b"up-5")
            dying.stop(signal.SIGKILL)  # gone without a word: no close frame, no exit frame
            rc, before, after = outer.finished()
            assert rc == 3, outer.output.decode(errors="replace")[-600:]
            assert b"lost the connection to Maestro" in outer.output or b"lost the terminal of" in outer.output
            assert after == before
        finally:
            outer.close()


def run_cli(server: LiveServer, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAESTRO, *args],
        env=maestro_env(server.home, **env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_attach_refusals(server: LiveServer, tmp_path: Path):
    session = spawn_shell(server, tmp_path / "work")
    not_a_tty = run_cli(server, "session", "attach", session["id"])
    assert not_a_tty.returncode == 2 and "needs an interactive terminal" in not_a_tty.stderr

    bad_key = run_cli(server, "session", "attach", "--escape", "q", session["id"])
    assert bad_key.returncode == 2 and "not a control key" in bad_key.stderr

    unknown = Outer(server, "ses_" + "0" * 22)
    try:
        rc, before, after = unknown.finished()
        assert rc == 1 and b"not found" in unknown.output and after == before
    finally:
        unknown.close()

    with server.client() as api:
        assert api.post(f"/api/v1/sessions/{session['id']}/stop").status_code == 200
    ended = Outer(server, session["id"])
    try:
        rc, _, _ = ended.finished()
        assert rc == 1 and b"has ended (stopped" in ended.output
    finally:
        ended.close()


def test_a_session_token_may_not_attach(server: LiveServer, tmp_path: Path):
    """Terminals are the user's: an agent inside a session is refused, in words, with exit code 1."""
    session = spawn_shell(server, tmp_path / "work")
    outer = Outer(server, session["id"])
    try:
        outer.until(b"Ctrl-] detaches")
        outer.type(b"echo TOKEN=$MAESTRO_TOKEN=\r")
        token = re.search(rb"TOKEN=(mst_[A-Za-z0-9_-]+)=", outer.until(re.compile(rb"TOKEN=mst_[A-Za-z0-9_-]+=")))[1]
        outer.type(b"\x1d")
        outer.finished()
    finally:
        outer.close()
    refused = Outer(server, session["id"], env={"MAESTRO_TOKEN": token.decode(), "MAESTRO_API_URL": server.url})
    try:
        rc, before, after = refused.finished()
        assert rc == 1, refused.output
        assert b"may not attach (terminals are the user's, not a session's) [HTTP 403]" in refused.output
        assert after == before
    finally:
        refused.close()


def test_attach_without_a_server_exits_3(tmp_path: Path):
    home = tmp_path / "nohome"
    home.mkdir()
    fake = LiveServer(proc=None, home=home, url="", port=0, token="", log_path=home / "log")  # type: ignore[arg-type]
    outer = Outer(fake, "ses_" + "0" * 22)
    try:
        rc, before, after = outer.finished()
        assert rc == 3 and b"Maestro is not running" in outer.output and after == before
    finally:
        outer.close()


def test_output_beyond_the_flow_control_window_keeps_flowing(server: LiveServer, tmp_path: Path):
    """More output than the 1 MiB the server sends unacknowledged: it all arrives, so the attach acknowledges it."""
    session = spawn_shell(server, tmp_path / "work")
    outer = Outer(server, session["id"])
    try:
        outer.until(b"Ctrl-] detaches")
        outer.type(b"seq 1 300000; echo don''e-seq\r")  # about 2 MB
        outer.until(b"done-seq", timeout=120)
        assert b"\r\n299999\r\n300000\r\n" in outer.output
        outer.type(b"\x1d")
        rc, before, after = outer.finished()
        assert rc == 0 and after == before
    finally:
        outer.close()
