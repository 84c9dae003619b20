"""Session records: create (for spawning), list, get, and task links (statuses live in session_status)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from app.db.tables import Session as SessionRow
from app.db.tables import Task as TaskRow
from app.db.tables import TaskSession
from app.db.writer import Tx, Writer
from app.errors import InvalidInput, NotFound
from app.ids import is_id, new_id
from app.models.common import ENDED_STATUSES, LINK_STATUSES, ROLES, SESSION_STATUSES, SPAWN_SOURCES, utcnow
from app.models.decoding import from_column
from app.models.events import SessionCreated, TaskLinked, TaskUnlinked, from_entity
from app.models.runs import StateReason
from app.models.sessions import Session, TaskLink
from app.services.owners import session_project, task_project
from app.services.projects import require_project
from app.services.tasks.commands import apply_task_changes
from app.services.tasks.queries import get_row
from app.services.tasks.runs import run_columns

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
    role: str = "worker",
    session_id: str | None = None,
    host: str = "",
    worktree_id: str | None = None,
    token_digest: str | None = None,
) -> Session:
    """Record a new session, linked (status working) to tasks of its own project; emits session.created, task.linked.

    `host` names the instance that will run it, from the start: if that instance dies mid-spawn, its restart finds
    the record (app/services/sessions/orphans.py)."""
    task_ids = list(dict.fromkeys(task_ids))  # a task named twice is linked once
    _check_record_args(name, profile, command, cwd, spawn_source, status, parent_session_id, task_ids)
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", {"role": role})
    if session_id is not None and not is_id(session_id, "ses"):
        raise InvalidInput("session_id is not a session id", {"session_id": session_id})

    async def op(tx: Tx) -> Session:
        await require_project(project_id)
        if parent_session_id is not None and await session_project(parent_session_id) != project_id:
            raise InvalidInput(
                "parent_session_id must name a session of the same project", {"parent_session_id": parent_session_id}
            )
        await _require_tasks_in(project_id, task_ids)
        now = utcnow()
        row: dict[str, Any] = {
            "id": session_id or new_id("ses"),
            "project": project_id,
            "parent_session": parent_session_id,
            "name": name.strip(),
            "status": status,
            "spawn_source": spawn_source,
            "profile": profile,
            "role": role,
            "command": list(command),
            "cwd": cwd,
            "exit_code": None,
            "started_at": now if status == "running" else None,
            "ended_at": now if status in ENDED_STATUSES else None,
            "last_activity_at": None,
            "created_at": now,
            "updated_at": now,
            "host": host,
            "isolation": "worktree" if worktree_id else "in_place",
            "worktree": worktree_id,
            "token_digest": token_digest,
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
        tx.emit(from_entity(SessionCreated, session), project_id=project_id, entity_id=session.id)
        for link in links:
            _emit_link(tx, TaskLinked, project_id, link)
        await _taken_up_in(tx, task_ids, session.id)
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
            _emit_link(tx, TaskLinked, project_id, link)
            if status == "working":
                await _taken_up_in(tx, [task_id], session_id)
            return link, True
        link = _link_model(existing)
        if existing["status"] == status:
            return link, False  # nothing changed, so nothing to record
        await TaskSession.update({"status": status, "updated_at": now}).where(TaskSession.id == existing["id"])
        link = msgspec.structs.replace(link, status=status, updated_at=now)
        _emit_link(tx, TaskLinked, project_id, link)
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
        _emit_link(tx, TaskUnlinked, project_id, _link_model(existing))

    await writer.write(op, actor)


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


async def _taken_up_in(tx: Tx, task_ids: Iterable[str], session_id: str) -> None:
    """Tasks a new session works on no longer wait for the person's decision about an earlier session that ended
    without reporting them complete: starting another is that decision. (A planned run's failure keeps its own
    decision: retry, or remove the plan.)"""
    for task_id in task_ids:
        row = await get_row(task_id)
        if row["run_state"] == "ended_without_report" and row["run_plan"] is None:
            why = f"session {session_id} works on it now"
            await apply_task_changes(tx, task_id, {}, extra=run_columns(tx, None, why))


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


def _emit_link(tx: Tx, event: type[TaskLinked | TaskUnlinked], project_id: str, link: TaskLink) -> None:
    data = event(task_id=link.task_id, session_id=link.session_id, status=link.status)
    tx.emit(data, project_id=project_id, entity_id=link.task_id)


def _to_model(row: dict[str, Any], links: list[TaskLink]) -> Session:
    return Session(
        id=row["id"],
        project_id=row["project"],
        name=row["name"],
        status=row["status"],
        spawn_source=row["spawn_source"],
        parent_session_id=row["parent_session"],
        profile=row["profile"],
        role=row["role"],
        command=list(row["command"] or []),
        cwd=row["cwd"],
        exit_code=row["exit_code"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        last_activity_at=row["last_activity_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        tasks=links,
        isolation=row.get("isolation") or "in_place",
        worktree_id=row.get("worktree"),
        status_reason=from_column(row.get("status_reason"), StateReason),
        last_report_at=row.get("last_report_at"),
    )


async def change_link_status_in(tx: Tx, project_id: str, link: TaskLink, status: str) -> TaskLink:
    """Inside a write op: set an existing link's status; emits task.linked (nothing when it is unchanged)."""
    if status not in LINK_STATUSES:
        raise InvalidInput(f"link status must be one of {', '.join(LINK_STATUSES)}", {"status": status})
    if link.status == status:
        return link
    now = utcnow()
    await TaskSession.update({"status": status, "updated_at": now}).where(
        TaskSession.session == link.session_id, TaskSession.task == link.task_id
    )
    link = msgspec.structs.replace(link, status=status, updated_at=now)
    _emit_link(tx, TaskLinked, project_id, link)
    return link
