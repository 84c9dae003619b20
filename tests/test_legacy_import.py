"""POST /api/v1/import/legacy: the original TypeScript Maestro's data directory (tests/fixtures/legacy_maestro)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.tables import TABLES, Event, Project, Session, Task, TaskDependency, TaskSession, TimelineEntry
from app.ids import is_id
from app.services.transfer.legacy_rules import is_secret, legacy_id, parse_date, parse_timestamp

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_maestro"
ERROR_KEYS = {"status_code", "detail", "extra"}

BENCH, SITE, MASTER = "proj_1771234567890_abc123def", "proj_1771234599999_xyz789ghi", "proj_1770000000000_mst000000"
A, B, C, D, E, F, G = (f"task_177123457{i}000_{c * 9}" for i, c in enumerate("abcdefg"))
W1, W2 = "task_1771234580000_w1w1w1w1w", "task_1771234581000_w2w2w2w2w"
S1, S2, S3 = "sess_1771234600000_s1aaaaaaa", "sess_1771234700000_s2bbbbbbb", "sess_1771234800000_s3ccccccc"
SECRETS = [
    "sk-ant-FAKE-anthropic-0000-not-a-real-key",
    "sk-proj-FAKE-openai-1111-not-a-real-key",
    "AIzaFAKE-gemini-2222-not-a-real-key",
    "AIzaFAKE-google-3333-not-a-real-key",
    "ghp_FAKE_github_4444_not_a_real_token",
    "FAKE-db-password-5555",
    "FAKE-custom-credential-6666",
]


def ms(value: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=value)


def iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def import_dir(client: httpx.AsyncClient, path: Path | str) -> httpx.Response:
    return await client.post("/api/v1/import/legacy", json={"data_dir": str(path)})


async def rows(table) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in await table.select().output(load_json=True)}


async def test_fixture_directory_imports_with_every_rule(client: httpx.AsyncClient):
    response = await import_dir(client, FIXTURE)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["counts"] == {
        "projects": 2, "tasks": 8, "dependencies": 1, "sessions": 3, "task_sessions": 4, "timeline": 14
    }  # fmt: skip
    # Ids: deterministic, in our format, all mapped in the report.
    nid = report["id_map"]
    assert nid[BENCH] == legacy_id("prj", BENCH) and nid[S1] == legacy_id("ses", S1) and nid[A] == legacy_id("tsk", A)
    assert all(is_id(v, v[:3]) for v in nid.values()) and len(nid) == 13
    # Skipped: system-seeded Master project, its Voice Directives task and session; the team-member task; bad files.
    skipped = {(s["kind"], s["legacy_id"] or s["file"]): s["reason"] for s in report["skipped"]}
    assert "Master" in skipped[("project", MASTER)]
    assert "Voice Directives" in skipped[("task", "task_1770000001000_voice0000")]
    assert "Master" in skipped[("session", "sess_1770000002000_smaster00")]
    assert "team-member" in skipped[("task", F)]
    assert ("file", "projects/proj_1771300000000_broken000.json") in skipped
    assert ("file", "tasks/proj_1771234567890_abc123def/task_1771234577000_notobject.json") in skipped
    assert len(skipped) == 6
    warnings = "\n".join(report["warnings"])
    assert "projects/proj_1771300000000_broken000.json" in warnings and "unknown priority 'p0'" in warnings
    assert "timeline entry 9 is not an object" in warnings
    assert report["env_vars_dropped"] == 14 and report["secrets_dropped"] == 8

    projects = await rows(Project)
    assert sorted(p["name"] for p in projects.values()) == ["Bench", "Website"]
    bench, site = projects[nid[BENCH]], projects[nid[SITE]]
    assert bench["working_dir"] == "/srv/bench" and bench["created_at"] == ms(1771234567890)  # epoch ms
    assert site["created_at"] == iso("2026-02-16T09:46:39.999+00:00")  # ISO

    tasks = await rows(Task)
    t = {old: tasks[nid[old]] for old in (A, B, C, D, E, G, W1, W2)}
    # The tree (depth 3) and sibling order: ordering/task/<project>.json first, then creation time.
    assert t[A]["parent"] is None and t[B]["parent"] == nid[A] and t[C]["parent"] == nid[B]
    assert (t[E]["position"], t[B]["position"]) == (0, 1) and (t[A]["position"], t[G]["position"]) == (0, 1)
    assert (t[C]["position"], t[D]["position"]) == (0, 1)
    assert t[W2]["parent"] == nid[W1]
    # Statuses and priorities; "archived" keeps archived_at and becomes completed or cancelled.
    assert (t[A]["status"], t[A]["priority"]) == ("in_progress", "high")
    assert (t[C]["status"], t[C]["archived_at"]) == ("cancelled", ms(1771234599000))
    assert (t[D]["status"], t[D]["archived_at"], t[D]["priority"]) == ("completed", ms(1771234598000), "critical")
    assert (t[G]["status"], t[G]["priority"]) == ("in_review", "medium")
    assert all(t[k]["archived_at"] is None for k in (A, B, E, G, W1, W2))
    # Fields: skills (the empty name dropped), due date, prompt, timestamps of both kinds, missing arrays.
    assert t[A]["skills"] == ["python", "load-testing"] and t[A]["due_date"] == dt.date(2026, 3, 1)
    assert t[A]["initial_prompt"] == "Start with the writer" and t[A]["started_at"] == ms(1771234580000)
    assert t[B]["completed_at"] == iso("2026-02-16T11:00:00+00:00") and t[B]["started_at"] == iso("2026-02-16T09:50Z")
    assert t[G]["created_at"] == iso("2026-02-16T10:00:00+00:00")  # naive ISO is UTC
    assert t[E]["skills"] == [] and t[E]["description"] == "Old-style task"
    deps = await TaskDependency.select()
    assert [(d["task"], d["depends_on"]) for d in deps] == [(nid[B], nid[E])]

    sessions = await rows(Session)
    s1, s2, s3 = (sessions[nid[k]] for k in (S1, S2, S3))
    assert (s1["status"], s2["status"], s3["status"]) == ("lost", "completed", "stopped")  # no process survives
    assert (s1["spawn_source"], s2["spawn_source"], s3["spawn_source"]) == ("ui", "session", "api")
    assert (s1["profile"], s2["profile"], s3["profile"]) == ("claude", "codex", "gemini")
    assert s1["cwd"] == "/srv/wt/bench-a1b2" and s3["cwd"] == "/srv/website" and s2["parent_session"] == nid[S1]
    assert s1["started_at"] == ms(1771234600000) and s1["last_activity_at"] == ms(1771234650000)
    assert s2["ended_at"] == iso("2026-02-16T10:21:00+00:00") and s1["ended_at"] == ms(1771234650000)

    links = {(r["task"], r["session"]): r["status"] for r in await TaskSession.select()}
    assert links == {
        (nid[A], nid[S1]): "working",
        (nid[B], nid[S1]): "completed",
        (nid[E], nid[S2]): "failed",  # legacy `sessionStatus: skipped` (and `taskId` on the session)
        (nid[W1], nid[S3]): "blocked",
    }

    timeline = await TimelineEntry.select().order_by(TimelineEntry.id)
    entries = [(e["kind"], e["message"], e["task"], e["session"]) for e in timeline]
    assert ("note", "Session started", None, nid[S1]) in entries
    assert ("progress", "Working on the benchmark", nid[A], nid[S1]) in entries
    assert ("milestone", "Generator works", nid[B], nid[S1]) in entries
    assert ("needs_input", "Which port?", None, nid[S1]) in entries
    assert ("completed", "Task completed", nid[B], nid[S1]) in entries
    assert ("error", "Timeout talking to server", None, nid[S1]) in entries
    assert ("note", "Document added: results.md", None, nid[S1]) in entries
    assert ("note", "custom_event: Something new", None, nid[S1]) in entries
    assert ("note", "Task skipped: Not needed", nid[E], nid[S2]) in entries
    assert ("blocked", "Waiting for the profiler", nid[E], nid[S2]) in entries
    assert ("note", "Session stopped", None, nid[S2]) in entries
    assert ("progress", "Hero drafted", nid[W1], nid[S3]) in entries
    assert ("note", "Session profiler skipped this task", nid[E], nid[S2]) in entries
    assert [e["created_at"] for e in timeline] == sorted(e["created_at"] for e in timeline)

    events = await Event.select().output(load_json=True)
    assert [(e["type"], e["data"]["source"]) for e in events] == [("import.completed", "maestro-legacy")]
    assert events[0]["data"]["counts"] == report["counts"]


async def test_no_secret_reaches_the_database_or_the_report(client: httpx.AsyncClient):
    response = await import_dir(client, FIXTURE)
    assert response.status_code == 201
    assert not [s for s in SECRETS if s in response.text]
    for table in TABLES:  # every column of every table, events and idempotency keys included
        dump = json.dumps(await table.select().output(load_json=True), default=str)
        assert not [s for s in SECRETS if s in dump], table._meta.tablename
        assert "OPENAI_API_KEY=" not in dump or "OPENAI_API_KEY=[redacted]" in dump
    landing = (await Task.select(Task.description).where(Task.title == "Landing page").first())["description"]
    assert landing == "Deploy with key [redacted] (pasted by mistake)"


async def test_importing_again_is_a_conflict_that_writes_nothing(client: httpx.AsyncClient):
    assert (await import_dir(client, FIXTURE)).status_code == 201
    counts = {t._meta.tablename: await t.count() for t in TABLES}
    again = await import_dir(client, FIXTURE)
    assert again.status_code == 409, again.text
    assert set(again.json()) == ERROR_KEYS and legacy_id("prj", BENCH) in again.json()["extra"]["projects"]
    assert {t._meta.tablename: await t.count() for t in TABLES} == counts


async def test_data_dir_must_be_an_existing_maestro_directory(client: httpx.AsyncClient, tmp_path: Path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "file.json").write_text("{}")
    for body, fragment in [
        ({"data_dir": "relative/data"}, "absolute"),
        ({"data_dir": str(tmp_path / "missing")}, "existing directory"),
        ({"data_dir": str(tmp_path / "file.json")}, "existing directory"),
        ({"data_dir": str(tmp_path / "plain")}, "projects/"),
        ({"data_dir": str(FIXTURE), "dry_run": True}, ""),
        ({"data_dir": 5}, ""),
        ({}, ""),
    ]:
        response = await client.post("/api/v1/import/legacy", json=body)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) == ERROR_KEYS and fragment in response.json()["detail"]
    assert await Event.count() == 0 and await Project.count() == 0


def write(root: Path, rel: str, content: Any) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))


async def test_hostile_and_odd_files_are_skipped_or_repaired_never_a_500(client: httpx.AsyncClient, tmp_path: Path):
    root = tmp_path / "data"
    write(root, "projects/p1.json", {"id": "p1", "name": "X" * 300, "workingDir": "/w", "createdAt": "yesterday"})
    write(root, "projects/p2.json", {"id": "p2", "name": 5, "workingDir": "relative"})
    write(root, "projects/p3.json", {"id": "p3", "name": "X" * 300, "workingDir": "C:\\work", "isMaster": True})
    write(root, "projects/p4.json", {"id": ["not", "text"], "name": "Nul\x00name", "workingDir": "/n"})
    write(root, "projects/p5.json", "\xff\xfe not utf-8 or json")
    loop = {"projectId": "p1", "status": ["in_progress"], "priority": {}, "taskSessionStatuses": [1]}
    write(root, "tasks/p1/t1.json", {"id": "t1", "parentId": "t2", "title": "", **loop, "dependencies": ["t2"]})
    write(root, "tasks/p1/t2.json", {"id": "t2", "parentId": "t1", "title": None, "dependencies": ["t1", "t9"]})
    write(root, "tasks/p1/t3.json", {"id": "t3", "parentId": "gone", "title": "T" * 500, "skillIds": ["ok", "no way"]})
    write(root, "tasks/p1/t4.json", {"id": "t4", "projectId": "p2", "title": "orphan"})
    write(root, "tasks/p1/t5.json", {"id": "t5", "title": "due", "dueDate": "2026-13-45", "createdAt": 1e300})
    write(root, "tasks/p1/t9-copy.json", {"id": "t1", "title": "duplicate id"})
    session = {"projectId": "p1", "status": "zombie", "env": ["A=1"], "timeline": {"type": "progress"}}
    write(root, "sessions/s1.json", {"id": "s1", "parentSessionId": "s1", "taskIds": "t1", **session})
    write(root, "sessions/s2.json", {"id": "s2", "projectId": "p1", "taskIds": ["t1", "t4", 7], "timeline": [
        {"type": 5, "message": ["x"], "timestamp": "never", "taskId": "t1"}, {}]})  # fmt: skip
    write(root, "tasks/loose-file.json", {"id": "ignored"})
    response = await import_dir(client, root)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["counts"]["projects"] == 3 and report["counts"]["tasks"] == 4 and report["counts"]["sessions"] == 2
    reasons = {(s["kind"], s["legacy_id"]): s["reason"] for s in report["skipped"]}
    assert "absolute" in reasons[("project", "p2")] and "not imported" in reasons[("task", "t4")]
    assert "another file" in reasons[("task", "t1")]
    warnings = "\n".join(report["warnings"])
    assert "loop" in warnings and "parent gone was not imported" in warnings and "p5.json" in warnings
    names = sorted(p["name"] for p in await Project.select(Project.name))
    assert names == ["Nulname", "X" * 196 + " (2)", "X" * 200]
    tasks = {r["title"]: r for r in await Task.select().output(load_json=True)}
    assert len(tasks["T" * 200]["skills"]) == 1 and "Untitled task" in tasks
    assert tasks["due"]["due_date"] is None
    assert await TaskDependency.count() == 1  # t1 -> t2 kept, t2 -> t1 would close a cycle, t9 does not exist


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1771234567890, dt.datetime(2026, 2, 16, 9, 36, 7, 890000, tzinfo=dt.UTC)),
        ("1771234567890", dt.datetime(2026, 2, 16, 9, 36, 7, 890000, tzinfo=dt.UTC)),
        (1771234567890.5, dt.datetime(2026, 2, 16, 9, 36, 7, 890500, tzinfo=dt.UTC)),
        ("2026-02-16T09:36:07.890Z", dt.datetime(2026, 2, 16, 9, 36, 7, 890000, tzinfo=dt.UTC)),
        ("2026-02-16T10:36:07+01:00", dt.datetime(2026, 2, 16, 9, 36, 7, tzinfo=dt.UTC)),
        ("2026-02-16T09:36:07", dt.datetime(2026, 2, 16, 9, 36, 7, tzinfo=dt.UTC)),
        (None, None),
        (True, None),
        ("soon", None),
        (-5, None),
        (10**20, None),
        (float("nan"), None),
        ({"ms": 1}, None),
        ("0001-01-01T00:00:00+01:00", None),
    ],
)
def test_timestamps_accept_epoch_ms_and_iso(value, expected):
    assert parse_timestamp(value) == expected


def test_due_dates_and_ids_and_secrets():
    assert parse_date("2026-03-01") == dt.date(2026, 3, 1) and parse_date("2026-02-30") is None
    assert parse_date("2026-03-01T23:00:00-05:00") == dt.date(2026, 3, 2) and parse_date(None) is None
    assert legacy_id("tsk", A) == legacy_id("tsk", A) != legacy_id("tsk", B)
    assert is_id(legacy_id("ses", S1), "ses")
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GITHUB_TOKEN"):
        assert is_secret(name, "x")
    for name in ("DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "NPM_AUTH_TOKEN", "MY_CREDENTIALS", "PRIVATE_KEY"):
        assert is_secret(name, "x")
    assert is_secret("DATABASE_URL", "postgres://user:hunter22@db/x") and is_secret("NOTE", "sk-abc123456789")
    for name in ("PATH", "HOME", "MAESTRO_SESSION_ID", "TERM", "LANG", "PWD", "GIT_AUTHOR_NAME"):
        assert not is_secret(name, "/usr/bin")


async def test_a_copy_of_the_fixture_imports_into_a_fresh_database(client: httpx.AsyncClient, tmp_path: Path):
    copy = tmp_path / "maestro data"  # spaces in the path are fine
    shutil.copytree(FIXTURE, copy)
    response = await import_dir(client, copy)
    assert response.status_code == 201 and response.json()["data_dir"] == str(copy)


async def test_fixture_imports_on_each_database(tmp_path: Path, database_url: str | None):
    from tests.test_transfer import running

    async with running(tmp_path / "home", database_url) as client:
        response = await import_dir(client, FIXTURE)
        assert response.status_code == 201, response.text
        assert response.json()["counts"]["tasks"] == 8
        exported = (await client.get("/api/v1/export")).text
        assert not [s for s in SECRETS if s in exported]
        assert (await import_dir(client, FIXTURE)).status_code == 409
