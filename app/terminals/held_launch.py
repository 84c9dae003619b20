"""Starting a holder process: what is refused before anything starts, the spec file, and the launch itself.

The holder (``python -m app.terminals.holder SPEC``) forks away from the server and answers ``ok HOLDER_PID …`` or
``error <kind> <message>`` on its standard output; ``launch`` turns that into a pid or the matching error.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import sys
from pathlib import Path

from app.terminals.held_link import HolderGone
from app.terminals.holder_forks import ForkServer
from app.terminals.holder_protocol import HolderRefused, HolderSpec, check_private_dir
from app.terminals.pty_host import ProgramNotFoundError

START_TIMEOUT_S = 10.0  # the holder process starting (an interpreter start and a fork: ~0.1 s on an idle machine)
log = logging.getLogger("maestro.holder")
APP_ROOT = Path(__file__).resolve().parents[2]  # where `app` is importable from, for the holder's interpreter


def make_spec(
    argv: list[str],
    *,
    cwd: str,
    env: dict[str, str],
    cols: int,
    rows: int,
    socket_dir: Path,
    name: str,
    scrollback_bytes: int,
    recording_path: Path | None,
    recording_max_bytes: int,
    orphan_grace_s: float | None,
) -> HolderSpec:
    """Check what can be refused before anything starts (as ``Terminal.spawn`` does) and make the holder's spec.

    A few stats and a mkdir, like ``Terminal.spawn``'s own checks: not worth a thread hop."""
    if not argv or not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError("argv must be a non-empty list of strings")
    if not name or "/" in name or name.startswith(".") or len(name) > 64:
        raise ValueError(f"bad holder name: {name!r}")
    if shutil.which(argv[0], path=env.get("PATH", os.defpath)) is None:
        raise ProgramNotFoundError(argv[0])
    if not os.path.isdir(cwd):
        raise NotADirectoryError(errno.ENOTDIR, f"working directory does not exist: {cwd}", cwd)
    try:
        socket_dir = private_dir(socket_dir)
    except HolderRefused as exc:
        raise HolderGone(str(exc)) from None
    return HolderSpec(
        argv=list(argv),
        cwd=os.path.abspath(cwd),  # the holder works in its socket directory
        env=dict(env),
        cols=cols,
        rows=rows,
        socket_path=os.path.abspath(socket_dir / f"{name}.sock"),
        scrollback_bytes=scrollback_bytes,
        recording_path=os.path.abspath(recording_path) if recording_path is not None else None,
        recording_max_bytes=recording_max_bytes,
        orphan_grace_s=orphan_grace_s,
        log_path=os.path.abspath(socket_dir / f"{name}.log"),
    )


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if missing; HolderRefused when it exists but is not ours alone."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private_dir(path)
    return path


async def launch(spec: HolderSpec, spec_path: Path) -> int:
    """Write the spec, start the holder (forked by the fork server, or in a fresh interpreter when that fails) and
    wait for its first words; the holder's pid."""
    _write_spec(spec, spec_path)
    try:
        words = await _forked(spec_path)
        if words is None:
            words = await _exec(spec_path)
    finally:
        _remove(spec_path)  # normally the holder did; not when it failed before reading it
    kind, _, rest = words.partition(" ")
    if kind == "ok":
        return int(rest.split()[0])
    what, _, message = rest.partition(" ")
    if kind == "error" and what == "program":
        raise ProgramNotFoundError(spec.argv[0])
    if kind == "error" and what == "cwd":
        raise NotADirectoryError(errno.ENOTDIR, f"working directory does not exist: {spec.cwd}", spec.cwd)
    raise HolderGone(f"the holder failed to start: {message or words}")


def close_fork_server(socket_dir: Path) -> None:
    """Stop the fork server of this socket directory, if one runs (server shutdown)."""
    server = _fork_servers.pop(Path(socket_dir), None)
    if server is not None:
        server.close()


_fork_servers: dict[Path, ForkServer] = {}


async def _forked(spec_path: Path) -> str | None:
    """The launcher's words, forked by this socket directory's fork server (started on first use); None when the
    fork server cannot be used (it could not start, or died): the caller starts the holder the plain way."""
    socket_dir = spec_path.parent
    server = _fork_servers.get(socket_dir)
    if server is None or not server.alive:
        if server is not None:
            close_fork_server(socket_dir)
        try:
            server = _fork_servers[socket_dir] = ForkServer(socket_dir, _holder_env())
        except OSError as exc:
            log.warning("the holder fork server did not start (%s); starting holders one interpreter each", exc)
            return None
    try:
        return await server.launch(spec_path, START_TIMEOUT_S)
    except TimeoutError:
        raise HolderGone(f"the holder did not start within {START_TIMEOUT_S:.0f}s") from None
    except OSError as exc:  # it died between requests: this start goes the plain way, the next makes a new one
        log.warning("the holder fork server failed (%s); starting this holder in its own interpreter", exc)
        close_fork_server(socket_dir)
        return None


async def _exec(spec_path: Path) -> str:
    """The launcher's words, from `python -m app.terminals.holder SPEC` in a fresh interpreter."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.terminals.holder",
        str(spec_path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=spec_path.parent,
        env=_holder_env(),
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), START_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise HolderGone(f"the holder did not start within {START_TIMEOUT_S:.0f}s") from None
    words = out.decode(errors="replace").strip()
    if proc.returncode == 0 or words:
        return words
    return err.decode(errors="replace").strip()[-500:] or f"exit status {proc.returncode}"


def _write_spec(spec: HolderSpec, spec_path: Path) -> None:
    """The spec file, created 0600 (it holds the session's environment and token; the holder deletes it)."""
    _remove(spec_path)
    fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(spec.dumps())


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _holder_env() -> dict[str, str]:
    """The holder's own environment: only what Python needs (the program's is in the spec)."""
    # PYTHONSAFEPATH: `-m` would otherwise put the working directory (the socket directory) first on sys.path.
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": str(APP_ROOT), "PYTHONSAFEPATH": "1"}
    for key in ("LANG", "LC_ALL", "LC_CTYPE"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env
