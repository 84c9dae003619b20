"""GET /api/v1/export and POST /api/v1/import through the real stack: lossless round trip, refusals, no 5xx."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import random
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from asgi_lifespan import LifespanManager

from app.db.tables import Event, Project, Session, Task, TaskDependency, TaskSession, TimelineEntry
from app.ids import new_id
from app.models.common import utcnow
from app.models.transfer import ExportDocument
from app.services.transfer import documents as transfer
from app.settings import Settings
from app.web import create_app
from tests.conftest import BASE_URL, PORT
from tests.helpers import fresh_postgres_database, postgres_url_or_skip

ERROR_KEYS = {"status_code", "detail", "extra"}


@contextlib.asynccontextmanager
async def running(home: Path, database_url: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A whole app with its lifespan, and a bearer-authenticated client for it."""
    application = create_app(Settings(home=home, port=PORT, database_url=database_url))
    token = (home / "token").read_text().strip()
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            yield client


@pytest.fixture
def second_database_url(database_url: str | None) -> Iterator[str | None]:
    """Another empty database of the same kind (SQLite lives in each app's own home)."""
    if database_url is None:
        yield None
        return
    with fresh_postgres_database(postgres_url_or_skip()) as url:
        yield url


async def seed_rich_data(client: httpx.AsyncClient, working_dir: Path) -> dict[str, str]:
    """Projects through the API; a task tree, dependencies, sessions, links and timelines straight in the tables."""
    p1 = (
        await client.post(
            "/api/v1/projects",
            json={"name": "Alpha ✓", "working_dir": str(working_dir), "description": "Ünïcode and **markdown**"},
        )
    ).json()["id"]
    p2 = (await client.post("/api/v1/projects", json={"name": "Beta", "working_dir": str(working_dir)})).json()["id"]
    now = utcnow()

    def ago(minutes: int) -> dt.datetime:
        return now - dt.timedelta(minutes=minutes, microseconds=minutes * 7)

    ids = {k: new_id("tsk") for k in ("root", "a", "b", "grandchild", "other")}
    ids |= {k: new_id("ses") for k in ("s1", "s2", "s3")}
    ids |= {"p1": p1, "p2": p2}
    await Task.insert(
        Task(id=ids["root"], project=p1, title="Root", description="# Plan\n\n- one\n- two", status="in_progress",
             priority="high", position=0, skills=["python", "testing"], initial_prompt="Start here",
             due_date=dt.date(2026, 12, 24), started_at=ago(50), created_at=ago(60), updated_at=ago(40)),
    )  # fmt: skip
    await Task.insert(
        Task(id=ids["a"], project=p1, parent=ids["root"], title="Child A", status="completed", priority="low",
             position=0, started_at=ago(45), completed_at=ago(30), created_at=ago(59), updated_at=ago(30)),
        Task(id=ids["b"], project=p1, parent=ids["root"], title="Child B", status="blocked", priority="critical",
             position=1, skills=["rust"], created_at=ago(58), updated_at=ago(20)),
        Task(id=ids["other"], project=p2, title="Elsewhere", status="in_review", created_at=ago(57),
             updated_at=ago(57), due_date=dt.date(2027, 1, 31)),
    )  # fmt: skip
    await Task.insert(
        Task(id=ids["grandchild"], project=p1, parent=ids["a"], title="Grandchild", status="cancelled",
             position=0, archived_at=ago(5), created_at=ago(56), updated_at=ago(5)),
    )  # fmt: skip
    await TaskDependency.insert(
        TaskDependency(task=ids["b"], depends_on=ids["a"], created_at=ago(29)),
        TaskDependency(task=ids["grandchild"], depends_on=ids["b"], created_at=ago(28)),
    )
    await Session.insert(
        Session(id=ids["s1"], project=p1, name="worker", status="running", spawn_source="ui", profile="claude",
                command=["claude", "--model", "opus"], cwd=str(working_dir), started_at=ago(50),
                last_activity_at=ago(1), created_at=ago(50), updated_at=ago(1)),
        Session(id=ids["s3"], project=p2, name="", status="lost", spawn_source="api", profile="shell",
                command=[], cwd="", created_at=ago(40), updated_at=ago(39)),
    )  # fmt: skip
    await Session.insert(
        Session(id=ids["s2"], project=p1, parent_session=ids["s1"], name="helper", status="completed",
                spawn_source="session", profile="codex", command=["codex"], cwd=str(working_dir), exit_code=0,
                started_at=ago(44), ended_at=ago(31), last_activity_at=ago(31), created_at=ago(44),
                updated_at=ago(31)),
    )  # fmt: skip
    await TaskSession.insert(
        TaskSession(task=ids["root"], session=ids["s1"], status="working", created_at=ago(50), updated_at=ago(2)),
        TaskSession(task=ids["a"], session=ids["s2"], status="completed", created_at=ago(44), updated_at=ago(30)),
        TaskSession(task=ids["b"], session=ids["s1"], status="blocked", created_at=ago(21), updated_at=ago(20)),
        TaskSession(task=ids["other"], session=ids["s3"], status="failed", created_at=ago(40), updated_at=ago(39)),
    )
    await TimelineEntry.insert(
        TimelineEntry(task=ids["root"], kind="note", message="Task-only note", created_at=ago(49)),
        TimelineEntry(session=ids["s1"], kind="progress", message="Session-only progress", created_at=ago(48)),
        TimelineEntry(task=ids["a"], session=ids["s2"], kind="milestone", message="Both", created_at=ago(35)),
        TimelineEntry(task=ids["b"], session=ids["s1"], kind="blocked", message="Waiting on A", created_at=ago(21)),
        TimelineEntry(session=ids["s1"], kind="needs_input", message="Which port?", created_at=ago(10)),
        TimelineEntry(task=ids["a"], session=ids["s2"], kind="completed", message="Done", created_at=ago(30)),
        TimelineEntry(session=ids["s3"], kind="error", message="Process vanished", created_at=ago(39)),
    )
    return ids


async def export(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert re.fullmatch(
        r'attachment; filename="maestro-export-\d{4}-\d{2}-\d{2}\.json"', response.headers["content-disposition"]
    )
    msgspec.json.decode(response.content, type=ExportDocument)  # the stream is one valid, typed document
    return response.json()


async def table_counts() -> dict[str, int]:
    tables = (Project, Task, TaskDependency, Session, TaskSession, TimelineEntry, Event)
    return {t._meta.tablename: await t.count() for t in tables}


async def test_round_trip_is_lossless(
    tmp_path: Path, database_url: str | None, second_database_url: str | None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(transfer, "PAGE_SIZE", 2)  # several pages per table, several statements per insert
    async with running(tmp_path / "a", database_url) as a:
        ids = await seed_rich_data(a, tmp_path)
        first = await export(a)
    kinds = ("projects", "tasks", "dependencies", "sessions", "task_sessions", "timeline")
    assert [len(first[k]) for k in kinds] == [2, 5, 2, 3, 4, 7]
    grandchild = next(t for t in first["tasks"] if t["id"] == ids["grandchild"])
    assert grandchild["parent_id"] == ids["a"] and grandchild["archived_at"] is not None
    root = next(t for t in first["tasks"] if t["id"] == ids["root"])
    assert root["skills"] == ["python", "testing"] and root["due_date"] == "2026-12-24"
    assert [t["id"] for t in first["tasks"]] == sorted(t["id"] for t in first["tasks"])

    async with running(tmp_path / "b", second_database_url) as b:
        imported = await b.post("/api/v1/import", json=first)
        assert imported.status_code == 201, imported.text
        assert imported.json() == {
            "format": "maestro-export",
            "version": 1,
            "counts": {"projects": 2, "tasks": 5, "dependencies": 2, "sessions": 3, "task_sessions": 4, "timeline": 7},
        }
        second = await export(b)
        events = (await b.get("/api/v1/events")).json()["items"]
        assert [(e["type"], e["data"]["source"]) for e in events] == [("import.completed", "maestro-export")]
        assert events[0]["data"]["counts"] == imported.json()["counts"]
        before = await table_counts()
        again = await b.post("/api/v1/import", json=first)
        assert again.status_code == 409, again.text
        assert set(again.json()) == ERROR_KEYS
        assert ids["p1"] in again.json()["extra"]["projects"] and ids["root"] in again.json()["extra"]["tasks"]
        assert await table_counts() == before  # nothing written, not even an event
    first.pop("exported_at")
    second.pop("exported_at")
    assert second == first


async def test_empty_database_exports_an_empty_document_that_imports(client: httpx.AsyncClient):
    document = await export(client)
    assert document["format"] == "maestro-export" and document["version"] == 1
    assert all(document[k] == [] for k in ("projects", "tasks", "dependencies", "sessions", "task_sessions"))
    response = await client.post("/api/v1/import", json=document)
    assert response.status_code == 201 and set(response.json()["counts"].values()) == {0}


def sample_document(working_dir: Path) -> dict[str, Any]:
    """A small valid document: two projects, a parent and child task, a session, a link, a dependency, a note."""
    stamp = "2026-05-01T12:00:00.123456Z"
    p1, p2, t1, t2, t3, s1 = (new_id(p) for p in ("prj", "prj", "tsk", "tsk", "tsk", "ses"))

    def task(tid: str, project: str, parent: str | None, title: str) -> dict[str, Any]:
        return {
            "id": tid, "project_id": project, "parent_id": parent, "title": title, "description": "",
            "status": "todo", "priority": "medium", "position": 0, "skills": [], "initial_prompt": "",
            "due_date": None, "started_at": None, "completed_at": None, "archived_at": None,
            "created_at": stamp, "updated_at": stamp,
        }  # fmt: skip

    def project(pid: str, name: str) -> dict[str, Any]:
        return {"id": pid, "name": name, "working_dir": str(working_dir), "description": "", "created_at": stamp,
                "updated_at": stamp}  # fmt: skip

    return {
        "format": "maestro-export",
        "version": 1,
        "exported_at": stamp,
        "projects": [project(p1, "One"), project(p2, "Two")],
        "tasks": [task(t1, p1, None, "Parent"), task(t2, p1, t1, "Child"), task(t3, p2, None, "Other")],
        "dependencies": [{"task_id": t2, "depends_on": t1, "created_at": stamp}],
        "sessions": [
            {
                "id": s1,
                "project_id": p1,
                "parent_session_id": None,
                "name": "s",
                "status": "completed",
                "spawn_source": "cli",
                "profile": "shell",
                "command": ["bash"],
                "cwd": "/",
                "exit_code": 0,
                "started_at": stamp,
                "ended_at": stamp,
                "last_activity_at": None,
                "created_at": stamp,
                "updated_at": stamp,
            }
        ],  # fmt: skip
        "task_sessions": [
            {"task_id": t1, "session_id": s1, "status": "completed", "created_at": stamp, "updated_at": stamp}
        ],
        "timeline": [{"task_id": t1, "session_id": None, "kind": "note", "message": "hi", "created_at": stamp}],
    }


def _set(path: str, value: Any):
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return change


BAD_DOCUMENTS = [
    ("newer version", _set("version", 2), "export format version 2 is newer than this Maestro supports (1)"),
    ("unknown format", _set("format", "trello-board"), "unknown document format"),
    ("version zero", _set("version", 0), "does not exist"),
    ("version as text", _set("version", "1"), "not a Maestro export document"),
    ("wrong type", _set("tasks.0.title", 5), "Expected `str`"),
    ("unknown row field", _set("tasks.0.colour", "red"), "unknown field"),
    ("unknown top field", _set("comments", []), "unknown field"),
    ("list is an object", _set("tasks", {}), "Expected `array`"),
    ("malformed id", _set("projects.0.id", "proj_1771234567890_abc123def"), "$.projects[0].id"),
    ("naive timestamp", _set("projects.0.created_at", "2026-01-01T00:00:00"), "timezone"),
    ("timestamp out of range in UTC", _set("tasks.0.created_at", "0001-01-01T00:00:00+01:00"), "out of range"),
    ("NUL in text", _set("tasks.0.description", "a\x00b"), "$.tasks[0].description"),
    ("archived is not a status", _set("tasks.0.status", "archived"), "$.tasks[0].status"),
    ("negative position", _set("tasks.0.position", -1), "$.tasks[0].position"),
    ("relative working_dir", _set("projects.0.working_dir", "relative/dir"), "$.projects[0].working_dir"),
    ("blank title", _set("tasks.0.title", "   "), "$.tasks[0].title"),
    ("task in unknown project", _set("tasks.0.project_id", new_id("prj")), "does not resolve"),
    ("unknown parent", _set("tasks.1.parent_id", new_id("tsk")), "does not resolve"),
    ("parent in another project", _set("tasks.2.parent_id", "@t1"), "belongs to another project"),
    ("parent cycle", _set("tasks.0.parent_id", "@t2"), "cycle"),
    ("dependency on unknown task", _set("dependencies.0.depends_on", new_id("tsk")), "does not resolve"),
    ("self dependency", _set("dependencies.0.depends_on", "@t2"), "itself"),
    ("dependency across projects", _set("dependencies.0.depends_on", "@t3"), "another project"),
    ("link to unknown session", _set("task_sessions.0.session_id", new_id("ses")), "does not resolve"),
    ("link across projects", _set("task_sessions.0.task_id", "@t3"), "another project"),
    ("timeline without target", _set("timeline.0.task_id", None), "needs a task_id or a session_id"),
    ("duplicate project name", _set("projects.1.name", "One"), "appears twice"),
    ("duplicate task id", _set("tasks.2.id", "@t1"), "appears twice"),
]


def _resolve_refs(doc: dict[str, Any]) -> dict[str, Any]:
    """Replace "@t1"-style placeholders with the document's own task ids (t1, t2, t3 in order)."""
    refs = {f"@t{i + 1}": t["id"] for i, t in enumerate(doc["tasks"])}
    return json.loads(
        json.dumps(doc), object_hook=lambda o: {k: refs.get(v, v) if isinstance(v, str) else v for k, v in o.items()}
    )


@pytest.mark.parametrize(("case", "change", "message"), BAD_DOCUMENTS, ids=[c[0] for c in BAD_DOCUMENTS])
async def test_bad_documents_are_a_400_that_writes_nothing(
    client: httpx.AsyncClient, tmp_path: Path, case: str, change, message: str
):
    document = sample_document(tmp_path)
    change(document)
    response = await client.post("/api/v1/import", json=_resolve_refs(document))
    assert response.status_code == 400, response.text
    assert set(response.json()) == ERROR_KEYS
    assert message in response.json()["detail"], response.json()
    assert set((await table_counts()).values()) == {0}


async def test_dependency_cycle_is_refused(client: httpx.AsyncClient, tmp_path: Path):
    document = sample_document(tmp_path)
    t1, t2 = document["tasks"][0]["id"], document["tasks"][1]["id"]
    document["dependencies"].append({"task_id": t1, "depends_on": t2, "created_at": document["exported_at"]})
    response = await client.post("/api/v1/import", json=document)
    assert response.status_code == 400 and "cycle" in response.json()["detail"]
    assert set((await table_counts()).values()) == {0}


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'"text"', b"{}", b'{"format": "maestro-export"}', b'{"version": 1e999}']
)
async def test_bodies_that_are_not_documents_are_a_400(client: httpx.AsyncClient, body: bytes):
    response = await client.post("/api/v1/import", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert set(response.json()) == ERROR_KEYS


async def test_import_needs_a_json_body(client: httpx.AsyncClient, tmp_path: Path):
    body = json.dumps(sample_document(tmp_path)).encode()
    response = await client.post("/api/v1/import", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 415


async def test_import_next_to_existing_data_and_name_conflicts(client: httpx.AsyncClient, tmp_path: Path):
    await client.post("/api/v1/projects", json={"name": "Mine", "working_dir": str(tmp_path)})
    response = await client.post("/api/v1/import", json=sample_document(tmp_path))
    assert response.status_code == 201, response.text
    clash = sample_document(tmp_path)
    clash["projects"][0]["name"], clash["projects"][1]["name"] = "Mine", "Three"
    before = await table_counts()
    refused = await client.post("/api/v1/import", json=clash)
    assert refused.status_code == 409 and refused.json()["extra"]["project_names"] == ["Mine"]
    assert await table_counts() == before


async def test_large_documents_pass_the_import_size_limit(client: httpx.AsyncClient, tmp_path: Path):
    document = sample_document(tmp_path)
    template, p1 = document["tasks"][2], document["projects"][0]["id"]
    document["tasks"] += [
        {**template, "id": new_id("tsk"), "project_id": p1, "position": i, "description": "x" * 8000}
        for i in range(400)
    ]
    body = json.dumps(document).encode()
    assert len(body) > 3 * 1024 * 1024  # more than the default body limit of every other route
    response = await client.post("/api/v1/import", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text[:500]
    assert response.json()["counts"]["tasks"] == 403


POISON = [None, 0, -1, 2**70, 1.5, True, "", " ", "x" * 300, "\x00", [], {}, "2026-01-01", "prj_" + "0" * 22]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


async def test_no_input_is_a_server_error(client: httpx.AsyncClient, tmp_path: Path):
    rng = random.Random(20261123)
    base = sample_document(tmp_path)
    paths = [p for p in _paths(base) if p]
    for _ in range(150):
        document = copy.deepcopy(base)
        for path in rng.sample(paths, rng.randint(1, 3)):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                target = document
                for part in path[:-1]:
                    target = target[part]
                target[path[-1]] = rng.choice(POISON)
        response = await client.post("/api/v1/import", json=document)
        assert response.status_code in (201, 400, 409), (response.status_code, response.text, document)
        if response.status_code != 201:
            assert set(response.json()) == ERROR_KEYS
