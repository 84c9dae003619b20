"""Idempotency-Key on every change that is not "set these values": a retry returns the first answer, changes nothing
more, and a key reused for another request is 409. The CLI's offline outbox relies on it (docs/api.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

from app.db.tables import IdempotencyKey
from app.services.writes import KEYS_KEPT, forget_old_keys
from app.web import MaestroApp
from tests.test_reports import make_project, make_session, make_task

API = "/api/v1"


async def events_count(client: httpx.AsyncClient) -> int:
    return (await client.get(f"{API}/events", params={"limit": 1})).json()["last_seq"]


async def twice(client: httpx.AsyncClient, method: str, path: str, key: str, body: dict | None = None):
    """Send the same request twice with one key; both answers must match and the second must write no event."""
    headers = {"Idempotency-Key": key}
    kwargs = {"json": body} if body is not None else {}
    first = await client.request(method, path, headers=headers, **kwargs)
    assert first.status_code < 300, first.text
    seq = await events_count(client)
    again = await client.request(method, path, headers=headers, **kwargs)
    assert again.status_code == first.status_code and again.content == first.content
    assert await events_count(client) == seq, f"a retry of {method} {path} wrote again"
    return first


async def test_a_retried_report_is_recorded_once_even_after_the_session_ended(
    client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path
):
    pid = await make_project(client, tmp_path)
    tid = await make_task(client, pid)
    sid = await make_session(app, pid, [tid])
    body = {"kind": "progress", "message": "halfway", "task_id": tid}
    first = await twice(client, "POST", f"{API}/sessions/{sid}/reports", "report-1", body)
    entries = (await client.get(f"{API}/sessions/{sid}/timeline")).json()
    assert [e["message"] for e in entries].count("halfway") == 1

    ended = await client.patch(f"{API}/sessions/{sid}", json={"status": "completed"})
    assert ended.status_code == 200, ended.text
    late = await client.post(f"{API}/sessions/{sid}/reports", json=body, headers={"Idempotency-Key": "report-1"})
    assert late.status_code == 201 and late.json() == first.json()  # the answer it lost, not "the session ended"
    fresh = await client.post(f"{API}/sessions/{sid}/reports", json=body, headers={"Idempotency-Key": "report-2"})
    assert fresh.status_code == 409

    other = await client.post(
        f"{API}/sessions/{sid}/reports", json={**body, "message": "else"}, headers={"Idempotency-Key": "report-1"}
    )
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]


async def test_task_changes_are_applied_once_per_key(client: httpx.AsyncClient, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    parent, child, other = [await make_task(client, pid) for _ in range(3)]
    await twice(client, "PATCH", f"{API}/tasks/{child}", "update-1", {"status": "in_progress"})
    await twice(client, "POST", f"{API}/tasks/{child}/move", "move-1", {"parent_id": parent})
    await twice(client, "POST", f"{API}/tasks/{child}/dependencies", "dep-1", {"depends_on": other})
    await twice(client, "POST", f"{API}/tasks/{child}/timeline", "note-1", {"kind": "note", "message": "n"})
    await twice(client, "DELETE", f"{API}/tasks/{child}/dependencies/{other}", "undep-1")
    await twice(client, "DELETE", f"{API}/tasks/{parent}", "delete-1")
    assert (await client.get(f"{API}/tasks/{child}")).status_code == 404  # went with its parent, once


async def test_keys_are_forgotten_after_a_week(client: httpx.AsyncClient, app: MaestroApp, tmp_path: Path):
    pid = await make_project(client, tmp_path)
    tid = await make_task(client, pid)
    await twice(client, "PATCH", f"{API}/tasks/{tid}", "old-key", {"title": "kept"})
    assert await forget_old_keys(app.runtime.writer) == 0
    later = dt.datetime.now(dt.UTC) + KEYS_KEPT + dt.timedelta(minutes=1)
    assert await forget_old_keys(app.runtime.writer, now=later) >= 1
    assert await IdempotencyKey.count() == 0
