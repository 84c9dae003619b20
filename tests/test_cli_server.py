"""`maestro serve|status|stop` as a user runs them: a real uvicorn process, real signals, real files."""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.home import RuntimeInfo, write_runtime
from tests.helpers import MAESTRO, live_server, maestro_env, start_server


def run_cli(home: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAESTRO, *args], env=maestro_env(home), capture_output=True, text=True, timeout=timeout, check=False
    )


def test_serve_publishes_runtime_file_and_answers(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home) as server:
        info = json.loads((home / "server.json").read_text())
        assert info["pid"] == server.proc.pid
        assert info["url"] == f"http://127.0.0.1:{server.port}/"
        assert stat.S_IMODE((home / "server.json").stat().st_mode) == 0o600
        assert f"running at {server.url}" in server.log()
        health = httpx.get(f"{server.url}api/v1/health").json()
        assert health["status"] == "ok" and health["version"] == info["version"]
        with server.client() as c:
            assert c.get("/api/v1/ready").json()["status"] == "ready"
        assert httpx.get(f"{server.url}api/v1/ready").status_code == 401


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_means_graceful_exit_0_and_runtime_file_removed(tmp_path: Path, sig: signal.Signals):
    home = tmp_path / "home"
    server = start_server(home)
    assert server.stop(sig) == 0, server.log()
    assert not (home / "server.json").exists()
    assert "Maestro stopped" in server.log()


def test_status_and_stop_commands(tmp_path: Path):
    home = tmp_path / "home"
    not_running = run_cli(home, "status")
    assert not_running.returncode == 3 and "not running" in not_running.stdout
    with live_server(home) as server:
        status = run_cli(home, "status", "--json")
        assert status.returncode == 0, status.stderr
        body = json.loads(status.stdout)
        assert body["running"] and body["pid"] == server.proc.pid and body["ready"] == "ready"
        assert body["url"] == server.url
        human = run_cli(home, "status")
        assert f"running at {server.url}" in human.stdout
        assert run_cli(home, "url").stdout.strip() == server.url
        stopped = run_cli(home, "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert server.proc.wait(timeout=10) == 0
    assert run_cli(home, "stop").stdout.strip() == "Maestro is not running."


def test_stale_runtime_file_is_detected_and_replaced(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_runtime(home, RuntimeInfo(url="http://127.0.0.1:9/", host="127.0.0.1", port=9, pid=dead.pid, version="0"))
    status = run_cli(home, "status")
    assert status.returncode == 3 and f"stale server.json left by pid {dead.pid}" in status.stdout
    with live_server(home) as server:
        assert json.loads((home / "server.json").read_text())["pid"] == server.proc.pid


def test_second_server_on_same_home_refuses(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home) as server:
        second = run_cli(home, "serve", "--no-browser", "--port", "0")
        assert second.returncode == 1
        assert f"already running at {server.url}" in second.stderr


def test_explicit_busy_port_is_a_clear_error(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(tmp_path / "home", "serve", "--no-browser", "--port", str(port))
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


def test_non_loopback_bind_without_allowed_hosts_refuses_to_start(tmp_path: Path):
    result = run_cli(tmp_path / "home", "serve", "--no-browser", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode != 0
    assert "--allowed-host" in result.stderr
    assert not (tmp_path / "home" / "server.json").exists()


def test_lan_mode_keeps_auth_and_host_check(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home, "--host", "0.0.0.0", "--allowed-host", "maestro.test") as server:
        url = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{url}/api/v1/ready").status_code == 401
        with server.client() as c:
            assert c.get(f"{url}/api/v1/ready").status_code == 200
            assert c.get(f"{url}/api/v1/ready", headers={"host": f"maestro.test:{server.port}"}).status_code == 200
            assert c.get(f"{url}/api/v1/ready", headers={"host": "other.test"}).status_code == 403


def test_tokens_never_reach_the_log(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home) as server:
        with httpx.Client(base_url=server.url) as browser:
            assert browser.get(f"/?token={server.token}", follow_redirects=False).status_code == 303
            assert browser.get("/?token=wrong-guess").status_code == 401
            link = server.client().post("/api/v1/login-links").json()["url"]
            assert browser.get(link, follow_redirects=False).status_code == 303
        time.sleep(0.2)
        log = server.log()
    assert server.token not in log
    assert link.split("token=")[1] not in log
    assert "wrong-guess" not in log


def test_python_dash_m_entry_point(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "app.cli", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "maestro, version" in result.stdout


def test_open_flag_opens_a_single_use_login_link(tmp_path: Path):
    home = tmp_path / "home"
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    env = maestro_env(home, BROWSER=f"{browser} %s")
    with live_server(home, "--open", env=env) as server:
        deadline = time.monotonic() + 10
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        link = opened.read_text().strip()
        assert link.startswith(f"{server.url}?token=")
        assert server.token not in link  # the browser's argv never sees the real token
        with httpx.Client() as browser_client:
            first = browser_client.get(link, follow_redirects=False)
            assert first.status_code == 303 and f"maestro_{server.port}=" in first.headers["set-cookie"]
            assert browser_client.get(link, follow_redirects=False).status_code == 401


def test_bare_maestro_command_serves_and_opens(tmp_path: Path):
    home = tmp_path / "home"
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    proc = subprocess.Popen(
        MAESTRO,
        env=maestro_env(home, BROWSER=f"{browser} %s"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        info = json.loads((home / "server.json").read_text())
        assert opened.read_text().startswith(f"{info['url']}?token=")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


@pytest.mark.postgres
def test_serve_on_postgresql(tmp_path: Path):
    from tests.helpers import fresh_postgres_database, postgres_url_or_skip

    with fresh_postgres_database(postgres_url_or_skip()) as url:
        home = tmp_path / "home"
        with live_server(home, env=maestro_env(home, MAESTRO_DATABASE_URL=url)) as server:
            with server.client() as api:
                ready = api.get("/api/v1/ready").json()
            assert ready["database"]["backend"] == "postgresql"
            assert ready["status"] == "ready"
            assert server.stop() == 0  # the pool closes cleanly before DROP DATABASE
        assert not (home / "maestro.db").exists()


def test_events_command_prints_and_follows(tmp_path: Path):
    home = tmp_path / "home"
    with live_server(home) as server, server.client() as api:
        api.post("/api/v1/projects", json={"name": "Before", "working_dir": "/"})
        printed = run_cli(home, "events", "--json")
        assert printed.returncode == 0, printed.stderr
        assert [event["type"] for event in json.loads(printed.stdout)] == ["project.created"]
        follow = subprocess.Popen(
            [*MAESTRO, "events", "--follow", "--json", "--after", "0"],
            env=maestro_env(home),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            first = json.loads(follow.stdout.readline())
            api.post("/api/v1/projects", json={"name": "After", "working_dir": "/"})
            second = json.loads(follow.stdout.readline())
        finally:
            follow.send_signal(signal.SIGINT)
            follow.wait(timeout=10)
        assert (first["data"]["name"], second["data"]["name"]) == ("Before", "After")
        assert second["seq"] > first["seq"]
