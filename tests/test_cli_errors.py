"""How `maestro` fails and talks: exit codes, one-line errors in words (allowed values, never a regex), --debug,
--json on every command, readable events, shell completion."""

from __future__ import annotations

import html
import json
import shlex
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli.client import ApiError
from app.cli.errors import describe
from app.ids import new_id
from tests.cli_support import as_json, cli, failed, new_project, ok, run_cli
from tests.helpers import LiveServer, live_server, maestro_env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("cli-errors") / "home") as running:
        yield running


@pytest.fixture(scope="module")
def project(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return new_project(server, tmp_path_factory.mktemp("work"), "Errors")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_server_is_exit_3_for_every_reading_command(tmp_path: Path):
    home = tmp_path / "empty-home"
    for args in (["task", "list"], ["project", "show", "x"], ["events"], ["export", str(tmp_path / "e.json")], ["url"]):
        line = failed(run_cli(home, *args, "--json"), 3)
        assert "Maestro is not running" in line and "`maestro`" in line, args
    gone = failed(run_cli(home, "session", "list", MAESTRO_API_URL=f"http://127.0.0.1:{closed_port()}"), 3)
    assert "cannot reach Maestro" in gone
    assert run_cli(home, "status").returncode == 3


def test_refused_by_the_server_is_exit_1_in_words(server: LiveServer, project: dict):
    missing = new_id("tsk")
    line = failed(cli(server, "task", "show", missing, "--json"), 1)
    assert line == f"Error: task {missing} not found [HTTP 404]"
    a = as_json(cli(server, "task", "create", "A", "--project", "Errors", "--json"))
    assert "409" in failed(cli(server, "task", "dep", "add", a["id"], a["id"]), 1)


def test_usage_errors_are_exit_2_and_list_the_allowed_values(server: LiveServer, project: dict):
    task = as_json(cli(server, "task", "create", "Valid", "--project", "Errors", "--json"))
    status = failed(cli(server, "task", "update", task["id"], "--status", "done"), 2)
    assert "'done' is not one of" in status and all(s in status for s in ("todo", "in_progress", "cancelled"))
    assert "see `maestro task update -h`" in status
    session_status = failed(cli(server, "session", "list", "--status", "busy"), 2)
    assert "needs_input" in session_status and "lost" in session_status
    bad_id = failed(cli(server, "task", "show", "tsk_123"), 2)
    assert "'tsk_123' is not a task id: tsk_ and 22 letters and digits" in bad_id
    long_title = failed(cli(server, "task", "update", task["id"], "--title", "x" * 201), 2)
    assert "title must be at most 200 characters (this one has 201)" in long_title
    blank = failed(cli(server, "task", "create", "   ", "--project", "Errors"), 2)
    assert "title must not be empty" in blank
    skill = failed(cli(server, "task", "update", task["id"], "--skill", "two words"), 2)
    assert "each skill must be a name of letters, digits" in skill
    date = failed(cli(server, "task", "update", task["id"], "--due", "31/01/2030"), 2)
    assert "not a date like 2030-01-31" in date
    assert "Missing argument" in failed(cli(server, "task", "show"), 2)
    assert "nothing to change" in failed(cli(server, "task", "update", task["id"]), 2)
    assert "No such command" in failed(cli(server, "tsak", "list"), 2)
    assert as_json(cli(server, "task", "show", task["id"], "--json"))["title"] == "Valid"  # nothing was sent


def test_the_servers_validation_answers_in_words(server: LiveServer, project: dict):
    """What the server itself answers for a bad status, a bad id and a too-long title, as the CLI words it."""
    with server.client() as client:
        task = client.post("/api/v1/tasks", json={"project_id": project["id"], "title": "t"}).json()
        answers = {
            "task status": client.get("/api/v1/tasks", params={"status": "done"}),
            "session status": client.get("/api/v1/sessions", params={"status": "busy"}),
            "bad id": client.get("/api/v1/tasks/tsk_bad"),
            "long title": client.patch(f"/api/v1/tasks/{task['id']}", json={"title": "x" * 201}),
            "blank title": client.patch(f"/api/v1/tasks/{task['id']}", json={"title": "  "}),
            "body status": client.patch(f"/api/v1/tasks/{task['id']}", json={"status": "done"}),
            "body id": client.post("/api/v1/tasks", json={"project_id": "prj_x", "title": "t"}),
        }
    assert sum("regex" in response.text for response in answers.values()) == 3  # what must not reach a person
    words = {}
    for name, response in answers.items():
        body = response.json()
        assert response.status_code == 400, name
        words[name] = describe(ApiError(response.status_code, body["detail"], body["extra"]))
        assert "regex" not in words[name] and "Validation failed" not in words[name], words[name]
    assert words["task status"].startswith("status 'done' is not allowed; use one of: todo, in_progress, in_review")
    assert "spawning, running, idle, needs_input" in words["session status"]
    assert words["bad id"].startswith("task must be a task id: tsk_ and 22 letters and digits")
    assert words["long title"].startswith("title must be at most 200 characters")
    assert words["blank title"].startswith("title must be more than blanks")
    assert words["body status"].startswith("status 'done' is not allowed; use one of: todo,")
    assert words["body id"].startswith("project must be a project id: prj_")


def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path: Path):
    plain = run_cli(tmp_path / "home", "task", "list")
    debug = run_cli(tmp_path / "home", "--debug", "task", "list")
    assert plain.returncode == debug.returncode == 3
    assert "Traceback" not in plain.stderr and "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1] == plain.stderr.strip()


def test_json_everywhere_prints_one_document_and_nothing_else(server: LiveServer, project: dict):
    task = as_json(cli(server, "task", "create", "Jsonable", "--project", "Errors", "--json"))
    commands = [
        ["project", "list"],
        ["project", "show", "Errors"],
        ["task", "list"],
        ["task", "list", "--tree"],
        ["task", "show", task["id"]],
        ["task", "timeline", task["id"]],
        ["session", "list"],
        ["profile", "list"],
        ["profile", "show", "shell"],
        ["skill", "list"],
        ["events"],
        ["status"],
        ["url"],
    ]
    for args in commands:
        value = as_json(cli(server, *args, "--json"))
        assert value is not None, args


def test_events_are_readable_lines(server: LiveServer, project: dict):
    task = as_json(cli(server, "task", "create", "Readable", "--project", "Errors", "--json"))
    ok(cli(server, "task", "update", task["id"], "--status", "in_progress", "--priority", "high"))
    ok(cli(server, "task", "create", "Sub step", "--parent", task["id"]))
    lines = ok(cli(server, "events", "--project", "Errors", "--types", "task.")).splitlines()
    assert any("task 'Readable' created" in line and "by the CLI" in line for line in lines), lines
    assert any("task 'Readable' changed: priority → high, status → in_progress" in line for line in lines), lines
    assert any("task 'Sub step' created under 'Readable'" in line for line in lines), lines
    events = as_json(cli(server, "events", "--project", project["id"], "--json"))
    assert {e["type"] for e in events} >= {"task.created", "task.updated"} and events == sorted(
        events, key=lambda e: e["seq"]
    )
    # An event about something created before the lines shown still names it, by asking the server.
    last = ok(cli(server, "events", "--project", "Errors", "--limit", "1"))
    assert "'Sub step'" in last and "'Readable'" in last


def test_shell_completion(server: LiveServer):
    for shell in ("bash", "zsh", "fish"):
        script = ok(cli(server, "completion", shell))
        assert "_MAESTRO_COMPLETE" in script and "maestro" in script, shell
    words = ok(cli(server, _MAESTRO_COMPLETE="bash_complete", COMP_WORDS="maestro ta", COMP_CWORD="1"))
    assert words.split() == ["plain,task"]
    statuses = ok(
        cli(server, _MAESTRO_COMPLETE="bash_complete", COMP_WORDS="maestro task list --status in", COMP_CWORD="4")
    )
    assert statuses.split() == ["plain,in_progress", "plain,in_review"]
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in failed(cli(server, "completion", "tcsh"), 2)


def test_login_page_names_a_command_that_works(server: LiveServer):
    page = httpx.get(server.url, headers={"accept": "text/html"})
    assert page.status_code == 401
    command = html.unescape(page.text.split("Run <code>")[1].split(" open</code>")[0])
    # From a shell whose PATH does not have `maestro` (as after `make run`): the page names this installation's own.
    answer = subprocess.run(
        [*shlex.split(command), "url", "--json"],
        env=maestro_env(server.home, PATH="/usr/bin:/bin"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"url": server.url}
