"""MAESTRO_HOME files: the token and the runtime file of a running server."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from app.home import (
    RuntimeInfo,
    live_runtime,
    load_or_create_token,
    read_runtime,
    remove_runtime,
    write_runtime,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_token_is_256_bits_private_and_stable(tmp_path: Path):
    home = tmp_path / "home"
    token = load_or_create_token(home)
    assert len(token) >= 43  # 32 random bytes, url-safe base64
    assert mode(home / "token") == 0o600
    assert mode(home) == 0o700
    assert load_or_create_token(home) == token


def test_loose_home_permissions_are_tightened(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    load_or_create_token(home)
    assert mode(home) == 0o700


def test_runtime_file_is_private_and_removed_only_by_its_owner(tmp_path: Path):
    info = RuntimeInfo(url="http://127.0.0.1:1/", host="127.0.0.1", port=1, pid=os.getpid(), version="1")
    path = write_runtime(tmp_path, info)
    assert mode(path) == 0o600
    assert read_runtime(tmp_path) == info
    assert live_runtime(tmp_path) == info
    remove_runtime(tmp_path, pid=os.getpid() + 1)  # another server's pid: untouched
    assert path.exists()
    remove_runtime(tmp_path, pid=os.getpid())
    assert not path.exists()


def test_stale_runtime_file_of_dead_pid_is_not_trusted(tmp_path: Path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_runtime(tmp_path, RuntimeInfo(url="http://127.0.0.1:1/", host="127.0.0.1", port=1, pid=dead.pid, version="1"))
    assert read_runtime(tmp_path) is not None
    assert live_runtime(tmp_path) is None


def test_garbage_runtime_file_reads_as_absent(tmp_path: Path):
    (tmp_path / "server.json").write_text("{not json")
    assert read_runtime(tmp_path) is None
