"""Shared test helpers: a real `maestro serve` subprocess, and PostgreSQL test databases."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
MAESTRO = (
    [sys.executable, "-m", "app.cli"]
    if not (Path(sys.executable).parent / "maestro").exists()
    else [str(Path(sys.executable).parent / "maestro")]
)


@dataclass
class LiveServer:
    """A `maestro serve` child process on a free port, with its MAESTRO_HOME."""

    proc: subprocess.Popen
    home: Path
    url: str
    port: int
    token: str
    log_path: Path

    def client(self, **kwargs) -> httpx.Client:
        """An HTTP client authenticated with the bearer token."""
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.url.rstrip("/"), headers=headers, timeout=10, **kwargs)

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Signal the server and wait for its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def maestro_env(home: Path, **extra: str) -> dict[str, str]:
    """A child environment pointing at `home`, without inherited MAESTRO_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAESTRO_")}
    env.update(MAESTRO_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def start_server(
    home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30, command: list[str] | None = None
) -> LiveServer:
    """Start `maestro serve --no-browser --port 0` and wait until server.json appears and health answers."""
    home.mkdir(parents=True, exist_ok=True)
    log_path = home.parent / f"server-{uuid.uuid4().hex[:6]}.log"
    log_file = log_path.open("wb")
    proc = subprocess.Popen(
        [*(command or MAESTRO), "serve", "--no-browser", "--port", "0", *args],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env or maestro_env(home),
        cwd=home.parent,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    runtime = home / "server.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
        if runtime.exists():
            info = json.loads(runtime.read_text())
            with contextlib.suppress(httpx.HTTPError):
                health = f"http://127.0.0.1:{info['port']}/api/v1/health"  # info['url'] may be a LAN name
                if httpx.get(health, timeout=2).status_code == 200:
                    token = (home / "token").read_text().strip()
                    return LiveServer(proc, home, info["url"], info["port"], token, log_path)
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start within {timeout} s:\n{log_path.read_text()}")


@contextlib.contextmanager
def live_server(home: Path, *args: str, **kwargs) -> Iterator[LiveServer]:
    """Context manager around start_server that always stops the process."""
    server = start_server(home, *args, **kwargs)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.proc.kill()


def postgres_url_or_skip() -> str:
    """MAESTRO_TEST_DATABASE_URL; missing means skip on a user's machine but fail under CI=true."""
    return _service_url_or_skip("MAESTRO_TEST_DATABASE_URL", "PostgreSQL")


def redis_url_or_skip() -> str:
    """MAESTRO_TEST_REDIS_URL; missing means skip on a user's machine but fail under CI=true."""
    return _service_url_or_skip("MAESTRO_TEST_REDIS_URL", "Redis")


def _service_url_or_skip(variable: str, service: str) -> str:
    url = os.environ.get(variable)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {variable} is not set: the {service} tests must run in CI")
        pytest.skip(f"set {variable} to run the {service} tests")
    return url


@contextlib.contextmanager
def fresh_postgres_database(base_url: str) -> Iterator[str]:
    """Create an empty, uniquely named database next to `base_url`; drop it afterwards."""
    import asyncio

    import asyncpg

    name = f"maestro_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(base_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL at MAESTRO_TEST_DATABASE_URL is not usable: {exc}")
    head, _, _ = base_url.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def wait_for(predicate, timeout: float = 30, interval: float = 0.1):
    """Poll until predicate() returns something truthy; that value (an AssertionError after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def reap_holders(under: Path) -> int:
    """SIGTERM every session holder process whose files live under `under` (a test run's temporary folders):
    tests that kill a server with -9 and never start it again leave their sessions running, by design."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"app.terminals.holder" in argv and any(a.startswith(str(under).encode()) for a in argv):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGTERM)  # it stops its program (HUP, TERM, KILL) and exits
                count += 1
    return count
