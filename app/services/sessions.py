"""Session record use cases: create (for spawning), list, get, rename, status changes, task links."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from app.db.tables import Session as SessionRow
from app.db.tables import Task as TaskRow
from app.db.tables import TaskSession
from app.db.writer import Tx, Writer
from app.errors import Conflict, InvalidInput, NotFound
from app.home import pid_alive
from app.ids import is_id, new_id
from app.models.common import SESSION_STATUSES, utcnow
from app.models.sessions import TERMINAL_STATUSES, Session, SessionUpdate, TaskLink
from app.services.projects import require_project
from app.services.task_queries import task_project

SPAWN_SOURCES = ("ui", "cli", "api", "session")
LINK_STATUSES = ("working", "blocked", "completed", "failed")
MAX_LIST = 500


async def list_sessions(
    *,
    project_id: str | None = None,
    statuses: Sequence[str] = (),
    task_id: str | None = None,
    parent_session_id: str | None = None,
    limit: int = 100,
) -> list[Session]:
    """Sessions matching every filter given, newest first."""
    query = SessionRow.select()
    if project_id is not None:
        query = query.where(SessionRow.project == project_id)
    if statuses:
        query = query.where(SessionRow.status.is_in(list(statuses)))
    if task_id is not None:
        linked = TaskSession.select(TaskSession.session).where(TaskSession.task == task_id)
        query = query.where(SessionRow.id.is_in(linked))
    if parent_session_id is not None:
        query = query.where(SessionRow.parent_session == parent_session_id)
    limit = max(1, min(limit, MAX_LIST))
    rows = (
        await query.order_by(SessionRow.created_at, SessionRow.id, ascending=False).limit(limit).output(load_json=True)
    )
    links = await _links_of([r["id"] for r in rows])
    return [_to_model(r, links.get(r["id"], [])) for r in rows]


async def get_session(session_id: str) -> Session:
    """One session with its task links, or NotFound."""
    row = await _row(session_id)
    links = await _links_of([session_id])
    return _to_model(row, links.get(session_id, []))


async def session_project(session_id: str) -> str | None:
    """The project a session belongs to, or None if there is no such session (for other services)."""
    row = await SessionRow.select(SessionRow.project).where(SessionRow.id == session_id).first()
    return row["project"] if row else None


async def create_session_record(
    writer: Writer,
    *,
    project_id: str,
    name: str,
    profile: str,
    command: list[str],
    cwd: str,
    spawn_source: str,
    actor: str,
    parent_session_id: str | None = None,
    task_ids: Iterable[str] = (),
    status: str = "spawning",
) -> Session:
    """Record a new session, linked (status working) to tasks of its own project; emits session.created, task.linked."""
    task_ids = list(dict.fromkeys(task_ids))  # a task named twice is linked once
    _check_record_args(name, profile, command, cwd, spawn_source, status, parent_session_id, task_ids)

    async def op(tx: Tx) -> Session:
        await require_project(project_id)
        if parent_session_id is not None and await session_project(parent_session_id) != project_id:
            raise InvalidInput(
                "parent_session_id must name a session of the same project", {"parent_session_id": parent_session_id}
            )
        await _require_tasks_in(project_id, task_ids)
        now = utcnow()
        row: dict[str, Any] = {
            "id": new_id("ses"),
            "project": project_id,
            "parent_session": parent_session_id,
            "name": name.strip(),
            "status": status,
            "spawn_source": spawn_source,
            "profile": profile,
            "command": list(command),
            "cwd": cwd,
            "exit_code": None,
            "started_at": now if status == "running" else None,
            "ended_at": now if status in TERMINAL_STATUSES else None,
            "last_activity_at": None,
            "created_at": now,
            "updated_at": now,
        }
        await SessionRow.insert(SessionRow(**row))
        links = [
            TaskLink(task_id=t, session_id=row["id"], status="working", created_at=now, updated_at=now)
            for t in task_ids
        ]
        if links:
            await TaskSession.insert(
                *(
                    TaskSession(task=t, session=row["id"], status="working", created_at=now, updated_at=now)
                    for t in task_ids
                )
            )
        session = _to_model(row, links)
        tx.emit("session.created", project_id=project_id, entity_id=session.id, data=session)
        for link in links:
            _emit_link(tx, "task.linked", project_id, link)
        return session

    return await writer.write(op, actor)


async def update_session(writer: Writer, session_id: str, body: SessionUpdate, actor: str) -> Session:
    """Rename and/or change status; a terminal session cannot return to a live status (409)."""
    changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not msgspec.UNSET}
    if "name" in changes:
        changes["name"] = changes["name"].strip()

    async def op(tx: Tx) -> Session:
        current = await get_session(session_id)
        renamed = "name" in changes and changes["name"] != current.name
        old_status = current.status
        new_status = changes.get("status", old_status)
        if not renamed and new_status == old_status:
            return current
        now = utcnow()
        update: dict[str, Any] = {"updated_at": now}
        if renamed:
            update["name"] = changes["name"]
        if new_status != old_status:
            update.update(_status_update(current, new_status, now))
        await SessionRow.update(update).where(SessionRow.id == session_id)
        session = msgspec.structs.replace(current, **update)
        if renamed:
            tx.emit(
                "session.updated",
                project_id=session.project_id,
                entity_id=session_id,
                data={"session": session, "changed": ["name"]},
            )
        if new_status != old_status:
            tx.emit(
                "session.status_changed",
                project_id=session.project_id,
                entity_id=session_id,
                data={"session": session, "from": old_status, "to": new_status},
            )
        return session

    return await writer.write(op, actor)


async def link_task(
    writer: Writer, session_id: str, task_id: str, actor: str, status: str = "working"
) -> tuple[TaskLink, bool]:
    """Link a task of the same project to a session (or change the link's status); True if the link is new."""
    if status not in LINK_STATUSES:
        raise InvalidInput(f"link status must be one of {', '.join(LINK_STATUSES)}", {"status": status})

    async def op(tx: Tx) -> tuple[TaskLink, bool]:
        project_id = (await _row(session_id))["project"]
        owner = await task_project(task_id)
        if owner is None:
            raise NotFound(f"task {task_id} not found")
        if owner != project_id:
            raise InvalidInput("the task belongs to another project than the session", {"task_id": task_id})
        existing = await _link_row(session_id, task_id)
        now = utcnow()
        if existing is None:
            await TaskSession.insert(
                TaskSession(task=task_id, session=session_id, status=status, created_at=now, updated_at=now)
            )
            link = TaskLink(task_id=task_id, session_id=session_id, status=status, created_at=now, updated_at=now)
            _emit_link(tx, "task.linked", project_id, link)
            return link, True
        link = _link_model(existing)
        if existing["status"] == status:
            return link, False  # nothing changed, so nothing to record
        await TaskSession.update({"status": status, "updated_at": now}).where(TaskSession.id == existing["id"])
        link = msgspec.structs.replace(link, status=status, updated_at=now)
        _emit_link(tx, "task.linked", project_id, link)
        return link, False

    return await writer.write(op, actor)


async def unlink_task(writer: Writer, session_id: str, task_id: str, actor: str) -> None:
    """Remove a task link; NotFound if the session or the link does not exist."""

    async def op(tx: Tx) -> None:
        project_id = (await _row(session_id))["project"]
        existing = await _link_row(session_id, task_id)
        if existing is None:
            raise NotFound(f"task {task_id} is not linked to session {session_id}")
        await TaskSession.delete().where(TaskSession.id == existing["id"])
        _emit_link(tx, "task.unlinked", project_id, _link_model(existing))

    await writer.write(op, actor)


async def set_status(
    writer: Writer, session_id: str, status: str, actor: str, *, exit_code: int | None = None
) -> Session:
    """Move a session to `status` (recording the process's exit code, if any); emits session.status_changed."""

    async def op(tx: Tx) -> Session:
        current = await get_session(session_id)
        if current.status == status and exit_code is None:
            return current
        now = utcnow()
        update: dict[str, Any] = {"updated_at": now, **_status_update(current, status, now)}
        if exit_code is not None:
            update["exit_code"] = exit_code
        await SessionRow.update(update).where(SessionRow.id == session_id)
        session = msgspec.structs.replace(current, **update)
        tx.emit(
            "session.status_changed",
            project_id=session.project_id,
            entity_id=session_id,
            data={"session": session, "from": current.status, "to": status},
        )
        return session

    return await writer.write(op, actor)


async def mark_live_sessions_lost(writer: Writer, host: str) -> int:
    """At startup: this instance's sessions recorded as live whose process is gone become lost (never "running")."""
    live = [s for s in SESSION_STATUSES if s not in TERMINAL_STATUSES]
    rows = await SessionRow.select(SessionRow.id, SessionRow.pid).where(
        SessionRow.status.is_in(live) & (SessionRow.host == host)
    )
    gone = [r["id"] for r in rows if r["pid"] is None or not pid_alive(r["pid"])]
    for session_id in gone:
        await set_status(writer, session_id, "lost", "maestro")
    return len(gone)


async def set_process(writer: Writer, session_id: str, host: str, pid: int | None) -> None:
    """Record which instance and pid run a session's process (no event: runtime bookkeeping)."""

    async def op(tx: Tx) -> None:
        await SessionRow.update({SessionRow.host: host, SessionRow.pid: pid}).where(SessionRow.id == session_id)

    await writer.write(op, "maestro")


def _status_update(current: Session, new_status: str, now: dt.datetime) -> dict[str, Any]:
    """The columns a status change sets: started_at on first entering running, ended_at on ending."""
    if current.status in TERMINAL_STATUSES and new_status not in TERMINAL_STATUSES:
        raise Conflict(
            f"session {current.id} has ended ({current.status}); it cannot become {new_status} again",
            {"from": current.status, "to": new_status},
        )
    update: dict[str, Any] = {"status": new_status}
    if new_status == "running" and current.started_at is None:
        update["started_at"] = now
    # Moving between terminal statuses corrects how it ended, not when: ended_at is kept.
    if new_status in TERMINAL_STATUSES and current.ended_at is None:
        update["ended_at"] = now
    return update


def _check_record_args(
    name: str,
    profile: str,
    command: list[str],
    cwd: str,
    spawn_source: str,
    status: str,
    parent_session_id: str | None,
    task_ids: list[str],
) -> None:
    # Callers are Python code (the spawn feature); still refuse what the tables or the API could not represent.
    if not isinstance(name, str) or len(name) > 200:
        raise InvalidInput("name must be a string of at most 200 characters")
    if not isinstance(profile, str) or not 1 <= len(profile) <= 100:
        raise InvalidInput("profile must be 1 to 100 characters", {"profile": profile})
    if not isinstance(command, list | tuple) or not all(isinstance(a, str) for a in command):
        raise InvalidInput("command must be a list of strings")
    if not isinstance(cwd, str):
        raise InvalidInput("cwd must be a string")
    if spawn_source not in SPAWN_SOURCES:
        raise InvalidInput(f"spawn_source must be one of {', '.join(SPAWN_SOURCES)}", {"spawn_source": spawn_source})
    if status not in SESSION_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(SESSION_STATUSES)}", {"status": status})
    if parent_session_id is not None and not is_id(parent_session_id, "ses"):
        raise InvalidInput("parent_session_id is not a session id", {"parent_session_id": parent_session_id})
    bad = [t for t in task_ids if not isinstance(t, str) or not is_id(t, "tsk")]
    if bad:
        raise InvalidInput("task_ids must be task ids", {"task_ids": bad})


async def _require_tasks_in(project_id: str, task_ids: list[str]) -> None:
    if not task_ids:
        return
    rows = await TaskRow.select(TaskRow.id).where(TaskRow.id.is_in(task_ids), TaskRow.project == project_id)
    missing = sorted(set(task_ids) - {r["id"] for r in rows})
    if missing:
        raise InvalidInput("every task must exist in the session's project", {"task_ids": missing})


async def _row(session_id: str) -> dict[str, Any]:
    row = await SessionRow.select().where(SessionRow.id == session_id).output(load_json=True).first()
    if row is None:
        raise NotFound(f"session {session_id} not found")
    return row


async def _link_row(session_id: str, task_id: str) -> dict[str, Any] | None:
    return await TaskSession.select().where(TaskSession.session == session_id, TaskSession.task == task_id).first()


async def _links_of(session_ids: list[str]) -> dict[str, list[TaskLink]]:
    if not session_ids:
        return {}
    rows = await TaskSession.select().where(TaskSession.session.is_in(session_ids)).order_by(TaskSession.id)
    links: dict[str, list[TaskLink]] = {}
    for r in rows:
        links.setdefault(r["session"], []).append(_link_model(r))
    return links


def _link_model(row: dict[str, Any]) -> TaskLink:
    return TaskLink(
        task_id=row["task"],
        session_id=row["session"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _emit_link(tx: Tx, type: str, project_id: str, link: TaskLink) -> None:
    tx.emit(
        type,
        project_id=project_id,
        entity_id=link.task_id,
        data={"task_id": link.task_id, "session_id": link.session_id, "status": link.status},
    )


def _to_model(row: dict[str, Any], links: list[TaskLink]) -> Session:
    return Session(
        id=row["id"],
        project_id=row["project"],
        name=row["name"],
        status=row["status"],
        spawn_source=row["spawn_source"],
        parent_session_id=row["parent_session"],
        profile=row["profile"],
        command=list(row["command"] or []),
        cwd=row["cwd"],
        exit_code=row["exit_code"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        last_activity_at=row["last_activity_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        tasks=links,
    )
