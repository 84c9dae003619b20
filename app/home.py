"""MAESTRO_HOME on disk: the private directory, the API token and the runtime file of a running server."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

TOKEN_FILE = "token"  # noqa: S105 (a file name, not a secret)
RUNTIME_FILE = "server.json"
KEEP_SESSIONS_FILE = "keep-sessions"  # written by `maestro stop --keep-sessions` just before its SIGTERM
TOKEN_BYTES = 32  # 256 bits


def ensure_home(home: Path) -> Path:
    """Create MAESTRO_HOME (mode 0700) if needed and tighten its mode if it is looser."""
    home.mkdir(parents=True, exist_ok=True)
    if os.name == "posix" and home.stat().st_mode & 0o077:
        home.chmod(0o700)
    return home


def load_or_create_token(home: Path) -> str:
    """Return the API token, creating a fresh 256-bit one (file mode 0600) on first run."""
    ensure_home(home)
    path = home / TOKEN_FILE
    try:
        token = path.read_text(encoding="ascii").strip()
        if len(token) >= 43:  # 32 bytes in url-safe base64
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(TOKEN_BYTES)
    write_private(path, token + "\n")
    return token


def read_token(home: Path) -> str | None:
    """The token if one exists (clients use this; they never create one)."""
    try:
        return (home / TOKEN_FILE).read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class RuntimeInfo:
    """What a running server publishes about itself in server.json."""

    url: str
    host: str
    port: int
    pid: int
    version: str


def write_runtime(home: Path, info: RuntimeInfo) -> Path:
    """Publish the running server's address (mode 0600, replaced atomically)."""
    path = home / RUNTIME_FILE
    write_private(path, json.dumps(asdict(info), indent=2) + "\n")
    return path


def remove_runtime(home: Path, pid: int) -> None:
    """Remove server.json if it still describes process `pid` (never another server's file)."""
    info = read_runtime(home)
    if info is not None and info.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            (home / RUNTIME_FILE).unlink()


def read_runtime(home: Path) -> RuntimeInfo | None:
    """Parse server.json; None if absent or unreadable."""
    try:
        raw = json.loads((home / RUNTIME_FILE).read_text(encoding="utf-8"))
        return RuntimeInfo(**{k: raw[k] for k in ("url", "host", "port", "pid", "version")})
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (a file left by a dead server is stale)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A process that exited but was not reaped yet (Linux only; elsewhere assume not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def live_runtime(home: Path) -> RuntimeInfo | None:
    """server.json if its process is alive; a stale file is ignored (and not trusted)."""
    info = read_runtime(home)
    return info if info is not None and pid_alive(info.pid) else None


def write_private(path: Path, data: str | bytes) -> None:
    """Replace `path` atomically with `data`, mode 0600: a reader sees the old file or the new one, never half.

    mkstemp creates the temp file 0600 under a unique name in the same folder, so concurrent writers never share
    one and the rename stays on one file system.
    """
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def ask_to_keep_sessions(home: Path, pid: int) -> None:
    """Tell the server `pid` that its next shutdown leaves the sessions running (read by `sessions_kept`)."""
    write_private(home / KEEP_SESSIONS_FILE, str(pid))


def sessions_kept(home: Path, pid: int) -> bool:
    """True (once) when `maestro stop --keep-sessions` asked this server to leave its sessions running."""
    path = home / KEEP_SESSIONS_FILE
    try:
        asked = path.read_text().strip()
    except OSError:
        return False
    path.unlink(missing_ok=True)
    return asked == str(pid)
