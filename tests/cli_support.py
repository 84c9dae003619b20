"""Running `maestro` as a user does (a subprocess, its exit code, stdout and stderr) against a live server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import MAESTRO, LiveServer, maestro_env


def run_cli(
    home: Path, *args: str, stdin: str | None = None, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`maestro ARGS` with MAESTRO_HOME=home (hence the server's URL and the user's token), a wide terminal."""
    return subprocess.run(
        [*MAESTRO, *args],
        env=maestro_env(home, COLUMNS="200", **env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """Its stdout, after checking it succeeded (the whole story otherwise)."""
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    """The one JSON document a --json command prints, and nothing else (json.loads refuses trailing text)."""
    value = json.loads(ok(result))
    assert isinstance(value, dict | list), value
    return value


def failed(result: subprocess.CompletedProcess[str], code: int) -> str:
    """Its one-line error, after checking the exit code, that stdout is empty and that no traceback was shown."""
    assert result.returncode == code, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr and "regex" not in result.stderr
    return lines[0]


def cli(server: LiveServer, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """`maestro ARGS` against this server, as its user."""
    return run_cli(server.home, *args, **kwargs)


def new_project(server: LiveServer, folder: Path, name: str) -> dict[str, Any]:
    """A project made through the CLI, in `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    return as_json(cli(server, "project", "create", name, "--dir", str(folder), "--json"))


def api(server: LiveServer) -> httpx.Client:
    """The REST API as the user, to set things up or check what a command did."""
    return server.client()
