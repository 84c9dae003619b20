"""Value rules for importing the original TypeScript Maestro: ids, timestamps, text, status mappings, secrets.

Everything here is pure (no I/O, no database); `legacy_import` walks the data directory and applies
these rules. The mapping tables are documented in docs/api.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from app.models.common import SPAWN_SOURCES, is_name
from app.models.transfer import SessionRecord, SkippedItem, TaskRecord
from app.services.transfer.legacy_rules import (
    DEFAULT_PRIORITY,
    DEFAULT_PROFILE,
    MAX_SKILLS,
    MIN_SCRUBBED_LENGTH,
    NAME_LIMIT,
    PRIORITY,
    PROFILE,
    REDACTED,
    SESSION_STATUS,
    TASK_STATUS,
    TEXT_LIMIT,
    TIMELINE,
    archived_status,
    legacy_id,
    parse_date,
    parse_timestamp,
)

T = TypeVar("T")


@dataclass
class Notes:
    """What the report will say: warnings and skipped items (never a secret value)."""

    warnings: list[str] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Add a warning."""
        self.warnings.append(message)

    def skip(self, kind: str, legacy: str | None, reason: str, file: str | None = None) -> None:
        """Record an item that is not imported."""
        self.skipped.append(SkippedItem(kind=kind, legacy_id=legacy, reason=reason, file=file))


@dataclass
class Context:
    """Shared by every conversion: the notes, the import time, and the secret values no text may keep."""

    notes: Notes
    now: dt.datetime
    secrets: list[str] = field(default_factory=list)
    scrubbed: int = 0

    def add_secret(self, value: Any) -> None:
        """Remember a secret value so no imported text keeps it."""
        if isinstance(value, str) and len(value) >= MIN_SCRUBBED_LENGTH and value not in self.secrets:
            self.secrets.append(value)
            self.secrets.sort(key=len, reverse=True)  # longest first: a secret containing another goes whole

    def text(self, value: Any, *, limit: int, where: str) -> str:
        """`value` as clean text ("" if absent or not text): no NUL (PostgreSQL refuses it), no secret, bounded."""
        if value is None:
            return ""
        if not isinstance(value, str):
            self.notes.warn(f"{where} is not text; left empty")
            return ""
        cleaned = value.replace("\x00", "")
        for secret in self.secrets:
            if secret in cleaned:
                self.scrubbed += cleaned.count(secret)
                cleaned = cleaned.replace(secret, REDACTED)
        if len(cleaned) > limit:
            self.notes.warn(f"{where} was longer than {limit} characters; cut")
            cleaned = cleaned[:limit]
        return cleaned

    def created(self, where: str, *values: Any) -> dt.datetime:
        """The first readable timestamp among `values`, else the import time (with a warning)."""
        stamp = first_timestamp(*values)
        if stamp is None:
            self.notes.warn(f"{where}: no readable creation time; the import time is used")
            return self.now
        return stamp


def string(obj: dict[str, Any], key: str) -> str | None:
    """obj[key] if it is a non-empty string, else None (legacy files may hold anything anywhere)."""
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def first_timestamp(*values: Any) -> dt.datetime | None:
    """The first value that parses as a timestamp."""
    for value in values:
        stamp = parse_timestamp(value)
        if stamp is not None:
            return stamp
    return None


def text_list(value: Any) -> list[str]:
    """A list of the strings in `value` (a missing or malformed array is empty, as the original's loader did)."""
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def break_parent_loops(items: dict[str, Any], kind: str, notes: Notes) -> None:
    """Make a parent chain that loops back on itself end at a root (defensive: the data may be hand-edited)."""
    verified: set[str] = set()
    for start in sorted(items):
        path: list[str] = []
        current: str | None = start
        while current is not None and current in items and current not in verified:
            if current in path:
                items[current].parent_old = None
                notes.warn(f"{kind} {current}: parent links form a loop; it becomes a root {kind}")
                break
            path.append(current)
            current = items[current].parent_old
        verified.update(path)


def reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
    """True if `goal` can be reached from `start` along `edges` (a new edge goal->start would close a cycle)."""
    stack, seen = [start], set()
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return False


def checked(record_type: type[T], values: dict[str, Any]) -> T:
    """`values` as `record_type`, under the same rules POST /import applies (raises msgspec.ValidationError)."""
    return msgspec.convert(values, record_type)


def project_values(obj: dict[str, Any], old: str, name: str, working_dir: str, ctx: Context) -> dict[str, Any]:
    """A legacy project's fields as ours (name and working_dir are decided by the caller)."""
    created = ctx.created(f"project {old}", obj.get("createdAt"), obj.get("updatedAt"))
    return {
        "id": legacy_id("prj", old),
        "name": name,
        "working_dir": working_dir,
        "description": ctx.text(obj.get("description"), limit=TEXT_LIMIT, where=f"project {old} description"),
        "created_at": created,
        "updated_at": parse_timestamp(obj.get("updatedAt")) or created,
    }


def task_values(obj: dict[str, Any], old: str, project_id: str, ctx: Context) -> dict[str, Any]:
    """A legacy task's fields as ours; parent and position are resolved later, among all tasks."""
    where = f"task {old}"
    status, completed = string(obj, "status"), parse_timestamp(obj.get("completedAt"))
    created = ctx.created(where, obj.get("createdAt"), obj.get("updatedAt"))
    updated = parse_timestamp(obj.get("updatedAt")) or created
    archived = parse_timestamp(obj.get("archivedAt"))
    if status == "archived":  # the API refused it, the UI wrote it: keep the fact as archived_at
        status, archived = archived_status(completed), archived or updated
    elif status not in TASK_STATUS:
        ctx.notes.warn(f"{where}: unknown status {obj.get('status')!r}; imported as todo")
        status = "todo"
    priority = string(obj, "priority")
    if priority not in PRIORITY:
        if obj.get("priority") is not None:
            ctx.notes.warn(f"{where}: unknown priority {obj.get('priority')!r}; imported as {DEFAULT_PRIORITY}")
        priority = DEFAULT_PRIORITY
    title = ctx.text(obj.get("title"), limit=NAME_LIMIT, where=f"{where} title").strip()
    return {
        "id": legacy_id("tsk", old),
        "project_id": project_id,
        "parent_id": None,
        "title": title or "Untitled task",
        "description": ctx.text(obj.get("description"), limit=TEXT_LIMIT, where=f"{where} description"),
        "status": TASK_STATUS[status],
        "priority": PRIORITY[priority],
        "position": 0,
        "skills": skills(obj.get("skillIds"), where, ctx.notes),
        "initial_prompt": ctx.text(obj.get("initialPrompt"), limit=TEXT_LIMIT, where=f"{where} initialPrompt"),
        "due_date": parse_date(obj.get("dueDate")),
        "started_at": parse_timestamp(obj.get("startedAt")),
        "completed_at": completed,
        "archived_at": archived,
        "created_at": created,
        "updated_at": updated,
    }


def task_session_statuses(obj: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """A legacy task's session ids and per-session statuses, migrating the single early `sessionStatus`."""
    session_ids = text_list(obj.get("sessionIds"))
    statuses = obj.get("taskSessionStatuses")
    statuses = {k: v for k, v in statuses.items() if isinstance(v, str)} if isinstance(statuses, dict) else {}
    if not statuses and isinstance(obj.get("sessionStatus"), str):  # before taskSessionStatuses (2026-02-09)
        statuses = dict.fromkeys(session_ids, obj["sessionStatus"])
    return session_ids, statuses


def session_values(obj: dict[str, Any], old: str, project: Any, ctx: Context) -> dict[str, Any]:
    """A legacy session's fields as ours (its env is never read here); the parent is resolved later."""
    where = f"session {old}"
    legacy_status = string(obj, "status")
    if legacy_status not in SESSION_STATUS:
        ctx.notes.warn(f"{where}: unknown status {obj.get('status')!r}; imported as lost")
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    launch = meta.get("launchConfig") if isinstance(meta.get("launchConfig"), dict) else {}
    tool = string(meta, "agentTool") or string(launch, "provider")
    source = string(meta, "spawnSource")
    if source not in SPAWN_SOURCES:
        source = "session" if string(obj, "parentSessionId") else "api"
    started = parse_timestamp(obj.get("startedAt"))
    activity = parse_timestamp(obj.get("lastActivity"))
    ended = parse_timestamp(obj.get("completedAt"))
    created = started or activity or ended or ctx.created(where)
    return {
        "id": legacy_id("ses", old),
        "project_id": project.id,
        "parent_session_id": None,
        "name": ctx.text(obj.get("name"), limit=NAME_LIMIT, where=f"{where} name").strip(),
        "status": SESSION_STATUS.get(legacy_status or "", "lost"),
        "spawn_source": source,
        "profile": PROFILE.get(tool or "", DEFAULT_PROFILE),
        "role": legacy_role(string(meta, "mode") or string(obj, "role")),
        "command": [],  # the original kept no command line
        "cwd": ctx.text(meta.get("worktreePath"), limit=4096, where=f"{where} worktreePath") or project.working_dir,
        "exit_code": None,
        "started_at": started,
        "ended_at": ended or activity or created,  # every imported session has ended: last known sign of life
        "last_activity_at": activity,
        "created_at": created,
        "updated_at": max(d for d in (created, started, activity, ended) if d is not None),
    }


def legacy_role(mode: str | None) -> str:
    """The original's modes (worker, coordinator, coordinated-…, early orchestrator/coordinate) as our two roles."""
    leading = {"coordinator", "coordinated-coordinator", "coordinate", "orchestrator"}
    return "orchestrator" if mode in leading else "worker"


def session_task_ids(obj: dict[str, Any]) -> list[str]:
    """A legacy session's task ids, migrating the early single `taskId`."""
    if "taskIds" not in obj and string(obj, "taskId"):
        return [obj["taskId"]]
    return text_list(obj.get("taskIds"))


def timeline_values(entry: dict[str, Any], where: str, ctx: Context) -> tuple[str, str, dt.datetime | None]:
    """(kind, message, created_at) for one legacy session timeline entry; see TIMELINE for the kinds."""
    legacy_type = string(entry, "type") or "note"
    kind, label = TIMELINE.get(legacy_type, ("note", legacy_type))
    label = ctx.text(label, limit=NAME_LIMIT, where=f"{where} type").strip() or "Note"
    limit = TEXT_LIMIT - NAME_LIMIT - 2  # room for "label: "
    message = ctx.text(entry.get("message"), limit=limit, where=f"{where} message").strip()
    if kind == "note" and message and not message.lower().startswith(label.lower()):
        message = f"{label}: {message}"  # a note alone would lose what happened
    return kind, message or label, parse_timestamp(entry.get("timestamp"))


def skills(value: Any, where: str, notes: Notes) -> list[str]:
    """Legacy skillIds as our skill names: valid names only, no repeats, at most MAX_SKILLS."""
    names = list(dict.fromkeys(text_list(value)))
    valid = [n for n in names if is_name(n)]
    if len(valid) != len(names):
        notes.warn(f"{where}: {len(names) - len(valid)} invalid skill name(s) dropped")
    if len(valid) > MAX_SKILLS:
        notes.warn(f"{where}: only the first {MAX_SKILLS} skills kept")
    return valid[:MAX_SKILLS]


@dataclass
class PendingTask:
    """A converted task with the legacy relations still to resolve."""

    old: str
    record: TaskRecord
    parent_old: str | None
    session_ids: list[str]
    statuses: dict[str, str]
    depends_on: list[str]


@dataclass
class PendingSession:
    """A converted session with the legacy relations and timeline still to resolve."""

    old: str
    record: SessionRecord
    parent_old: str | None
    task_ids: list[str]
    legacy_status: str | None
    timeline: list[Any]
