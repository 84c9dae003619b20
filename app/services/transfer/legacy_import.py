"""Import the original TypeScript Maestro's data directory (one JSON file per entity) in one transaction.

Reads projects/<id>.json, tasks/<projectId>/<taskId>.json, sessions/<id>.json (and ordering/task/<projectId>.json
for sibling order), converts each object with `legacy_convert` into an export document, then loads it
exactly like POST /import does. Session environments are never stored: they are dropped whole, and the values of
secret-looking variables are also scrubbed from every imported text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from app.db.writer import Tx, Writer
from app.errors import InvalidInput
from app.models.common import utcnow
from app.models.transfer import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    DependencyRecord,
    ExportDocument,
    ImportCounts,
    LegacyImportReport,
    LinkRecord,
    ProjectRecord,
    SessionRecord,
    TaskRecord,
    TimelineRecord,
)
from app.services.transfer import legacy_convert as convert
from app.services.transfer import legacy_rules as rules
from app.services.transfer.documents import load_document, validate_document

MAX_FILE_BYTES = 64 * 1024 * 1024
DROPPED_TASK_FIELDS = ("images", "referenceTaskIds", "agentIds", "teamMemberId", "teamMemberIds", "teamId", "pinned")
DROPPED_SESSION_FIELDS = ("docs", "events", "archivedAt", "needsInput", "teamId", "teamMemberId")


async def import_legacy_dir(writer: Writer, data_dir: Path, actor: str) -> LegacyImportReport:
    """Convert `data_dir` and load it all or nothing; the report lists counts, skips, warnings and the id map."""
    root = _checked_dir(data_dir)
    converted = await asyncio.to_thread(convert_data_dir, root)  # file reads must not stall the event loop
    validate_document(converted.document)  # a conversion slip is a 400 here, never a half-written import
    extra = {"data_dir": str(root), "skipped": len(converted.notes.skipped), "secrets_dropped": converted.secrets}

    async def op(tx: Tx) -> ImportCounts:
        return await load_document(tx, converted.document, source=rules.SOURCE, extra=extra)

    counts = await writer.write(op, actor)
    return LegacyImportReport(
        data_dir=str(root),
        counts=counts,
        id_map=converted.id_map,
        skipped=converted.notes.skipped,
        warnings=converted.notes.warnings,
        env_vars_dropped=converted.env_vars,
        secrets_dropped=converted.secrets,
    )


@dataclass
class Converted:
    """A legacy data directory as an export document, plus what the report needs."""

    document: ExportDocument
    id_map: dict[str, str]
    notes: convert.Notes
    env_vars: int
    secrets: int


def convert_data_dir(root: Path, now: dt.datetime | None = None) -> Converted:
    """Read and convert a legacy data directory (no database access)."""
    return _Converter(root, convert.Context(convert.Notes(), now or utcnow())).run()


def _checked_dir(data_dir: Path) -> Path:
    text = str(data_dir)
    if "\0" in text or not os.path.isabs(text):
        raise InvalidInput("data_dir must be an absolute path", {"data_dir": text})
    try:
        if not data_dir.is_dir():
            raise InvalidInput("data_dir must be an existing directory", {"data_dir": text})
        if not (data_dir / "projects").is_dir():
            raise InvalidInput("data_dir is not a Maestro data directory (no projects/ folder)", {"data_dir": text})
    except OSError as exc:  # e.g. a folder on the way that this user may not read
        raise InvalidInput(f"data_dir cannot be read: {exc.strerror}", {"data_dir": text}) from exc
    return data_dir


@dataclass
class _Converter:
    """One pass over a data directory: files, then entities, then the relations between them."""

    root: Path
    ctx: convert.Context
    id_map: dict[str, str] = field(default_factory=dict)
    projects: dict[str, ProjectRecord] = field(default_factory=dict)
    master_ids: set[str] = field(default_factory=set)
    tasks: dict[str, convert.PendingTask] = field(default_factory=dict)
    sessions: dict[str, convert.PendingSession] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)
    env_vars: int = 0
    secrets: int = 0

    @property
    def notes(self) -> convert.Notes:
        return self.ctx.notes

    def run(self) -> Converted:
        projects = self._load_dir(self.root / "projects")
        task_dirs = self._listing(self.root / "tasks", lambda: sorted(p for p in (self.root / "tasks").iterdir()))
        tasks = [item for d in task_dirs if d.is_dir() for item in self._load_dir(d)]
        sessions = self._load_dir(self.root / "sessions")
        for _, obj in sessions:  # first, so every text converted afterwards is scrubbed of these values
            self._drop_env(obj.get("env"))
        for rel, obj in projects:
            self._project(rel, obj)
        for rel, obj in tasks:
            self._task(rel, obj)
        for rel, obj in sessions:
            self._session(rel, obj)
        convert.break_parent_loops(self.tasks, "task", self.notes)
        convert.break_parent_loops(self.sessions, "session", self.notes)
        links, timeline = self._links_and_timeline()
        document = ExportDocument(
            format=EXPORT_FORMAT,
            version=EXPORT_VERSION,
            exported_at=self.ctx.now,
            projects=sorted(self.projects.values(), key=lambda p: p.id),
            tasks=self._positioned_tasks(),
            dependencies=self._dependencies(),
            sessions=self._parented_sessions(),
            task_sessions=links,
            timeline=timeline,
        )
        if self.dropped:
            listed = ", ".join(f"{name} ({n})" for name, n in sorted(self.dropped.items()))
            self.notes.warn(f"not imported, Maestro has no equivalent: {listed}")
        if self.ctx.scrubbed:
            self.notes.warn(f"{self.ctx.scrubbed} occurrence(s) of secret values replaced by {rules.REDACTED}")
        return Converted(document, self.id_map, self.notes, self.env_vars, self.secrets)

    # -- files ---------------------------------------------------------------------------------------------------

    def _load_dir(self, folder: Path) -> list[tuple[str, dict[str, Any]]]:
        loaded = []
        for path in self._listing(folder, lambda: sorted(folder.glob("*.json"))):
            rel = str(path.relative_to(self.root))
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
                obj = msgspec.json.decode(path.read_bytes())
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError, msgspec.DecodeError) as exc:  # the messages say where, never what
                self.notes.warn(f"skipped unreadable file {rel}: {exc}")
                self.notes.skip("file", None, f"unreadable: {exc}", rel)
                continue
            loaded.append((rel, obj))
        return loaded

    def _listing(self, folder: Path, list_it: Callable[[], list[Path]]) -> list[Path]:
        try:
            return list_it() if folder.is_dir() else []
        except OSError as exc:
            self.notes.warn(f"skipped unreadable folder {folder.relative_to(self.root)}: {exc.strerror}")
            return []

    def _ordering(self, project_old: str) -> dict[str, int]:
        path = self.root / "ordering" / "task" / f"{project_old}.json"
        try:
            if not path.is_file():
                return {}
            ids = msgspec.json.decode(path.read_bytes()).get("orderedIds")
        except (OSError, ValueError, AttributeError, msgspec.DecodeError):
            self.notes.warn(f"ignored unreadable task ordering {path.relative_to(self.root)}")
            return {}
        return {old: i for i, old in enumerate(convert.text_list(ids))}

    def _drop_env(self, env: Any) -> None:
        if not isinstance(env, dict):
            return
        self.env_vars += len(env)
        for name, value in env.items():
            if rules.is_secret(str(name), value):
                self.secrets += 1
                self.ctx.add_secret(value)

    # -- entities ------------------------------------------------------------------------------------------------

    def _key(self, rel: str, obj: dict[str, Any], kind: str) -> str | None:
        old = convert.string(obj, "id") or Path(rel).stem
        if old in self.id_map:
            self.notes.skip(kind, old, "the same id appears in another file", rel)
            return None
        return old

    def _keep(self, kind: str, old: str, rel: str, record_type: type, values: dict[str, Any]) -> Any:
        try:
            record = convert.checked(record_type, values)
        except msgspec.ValidationError as exc:
            self.notes.skip(kind, old, f"cannot be represented: {exc}", rel)
            return None
        self.id_map[old] = record.id
        return record

    def _project(self, rel: str, obj: dict[str, Any]) -> None:
        if (old := self._key(rel, obj, "project")) is None:
            return
        name = self.ctx.text(obj.get("name"), limit=rules.NAME_LIMIT, where=f"project {old} name").strip()
        if obj.get("isMaster") is True and name == rules.MASTER_PROJECT_NAME:
            self.master_ids.add(old)
            self.notes.skip("project", old, "system-seeded Master project (the original recreates it)", rel)
            return
        if obj.get("isMaster") is True:
            self.notes.warn(f"project {old} was a master project; Maestro has none: imported as a normal project")
        working_dir = self.ctx.text(obj.get("workingDir"), limit=4096, where=f"project {old} workingDir")
        if not rules.is_absolute(working_dir):
            self.notes.skip("project", old, "workingDir is missing or not an absolute path", rel)
            return
        values = convert.project_values(obj, old, self._unique_name(name or old), working_dir, self.ctx)
        if (record := self._keep("project", old, rel, ProjectRecord, values)) is not None:
            self.projects[old] = record

    def _task(self, rel: str, obj: dict[str, Any]) -> None:
        if (old := self._key(rel, obj, "task")) is None:
            return
        project_old = convert.string(obj, "projectId") or Path(rel).parent.name
        if obj.get("clientRequestId") == rules.VOICE_TASK_REQUEST_ID:
            self.notes.skip("task", old, "system-seeded Voice Directives task", rel)
        elif obj.get("taskType") == rules.TEAM_MEMBER_TASK_TYPE:
            self.notes.skip("task", old, "team-member task (the original migrated these to team members)", rel)
        elif project_old in self.master_ids:
            self.notes.skip("task", old, "belongs to the system-seeded Master project", rel)
        elif project_old not in self.projects:
            self.notes.skip("task", old, f"its project {project_old} was not imported", rel)
        else:
            values = convert.task_values(obj, old, self.projects[project_old].id, self.ctx)
            if (record := self._keep("task", old, rel, TaskRecord, values)) is None:
                return
            self.dropped.update(f"task {name}" for name in DROPPED_TASK_FIELDS if obj.get(name))
            session_ids, statuses = convert.task_session_statuses(obj)
            parent, deps = convert.string(obj, "parentId"), convert.text_list(obj.get("dependencies"))
            self.tasks[old] = convert.PendingTask(old, record, parent, session_ids, statuses, deps)

    def _session(self, rel: str, obj: dict[str, Any]) -> None:
        if (old := self._key(rel, obj, "session")) is None:
            return
        project_old = convert.string(obj, "projectId")
        if project_old in self.master_ids:
            self.notes.skip("session", old, "belongs to the system-seeded Master project", rel)
        elif project_old not in self.projects:
            self.notes.skip("session", old, f"its project {project_old} was not imported", rel)
        else:
            values = convert.session_values(obj, old, self.projects[project_old], self.ctx)
            if (record := self._keep("session", old, rel, SessionRecord, values)) is None:
                return
            self.dropped.update(f"session {name}" for name in DROPPED_SESSION_FIELDS if obj.get(name))
            timeline = obj.get("timeline") if isinstance(obj.get("timeline"), list) else []
            parent, task_ids = convert.string(obj, "parentSessionId"), convert.session_task_ids(obj)
            self.sessions[old] = convert.PendingSession(
                old, record, parent, task_ids, convert.string(obj, "status"), timeline
            )

    # -- relations -----------------------------------------------------------------------------------------------

    def _positioned_tasks(self) -> list[TaskRecord]:
        for task in self.tasks.values():
            parent = self.tasks.get(task.parent_old) if task.parent_old else None
            if task.parent_old and (parent is None or parent.record.project_id != task.record.project_id):
                self.notes.warn(f"task {task.old}: parent {task.parent_old} was not imported; it becomes a root task")
                task.parent_old = None
        siblings: dict[tuple[str, str | None], list[convert.PendingTask]] = defaultdict(list)
        for task in self.tasks.values():
            siblings[(task.record.project_id, task.parent_old)].append(task)
        orderings = {p.id: self._ordering(old) for old, p in self.projects.items()}
        records = []
        for (project_id, parent_old), group in siblings.items():
            order = orderings[project_id]  # the UI's saved order first, then creation time
            group.sort(key=lambda t: (order.get(t.old, len(order)), t.record.created_at, t.old))
            parent_id = self.tasks[parent_old].record.id if parent_old else None
            records += [msgspec.structs.replace(t.record, parent_id=parent_id, position=i) for i, t in enumerate(group)]
        return sorted(records, key=lambda r: r.id)

    def _parented_sessions(self) -> list[SessionRecord]:
        records = []
        for session in self.sessions.values():
            parent = self.sessions.get(session.parent_old) if session.parent_old else None
            if session.parent_old and (parent is None or parent.record.project_id != session.record.project_id):
                self.notes.warn(f"session {session.old}: parent session {session.parent_old} was not imported here")
                parent = None
            parent_id = parent.record.id if parent else None
            records.append(msgspec.structs.replace(session.record, parent_session_id=parent_id))
        return sorted(records, key=lambda r: r.id)

    def _dependencies(self) -> list[DependencyRecord]:
        # The original always wrote `dependencies: []`; hand-edited data may say more, so take what is coherent.
        edges: dict[str, set[str]] = defaultdict(set)
        records = []
        for task in self.tasks.values():
            for target_old in task.depends_on:
                target = self.tasks.get(target_old)
                if target is None or target is task or target.record.project_id != task.record.project_id:
                    self.notes.warn(f"task {task.old}: dependency on {target_old} dropped (no such task here)")
                elif convert.reaches(edges, target.old, task.old):
                    self.notes.warn(f"task {task.old}: dependency on {target_old} dropped (it would close a cycle)")
                elif target.old not in edges[task.old]:
                    edges[task.old].add(target.old)
                    created = task.record.created_at
                    records.append(
                        DependencyRecord(task_id=task.record.id, depends_on=target.record.id, created_at=created)
                    )
        return records

    def _links_and_timeline(self) -> tuple[list[LinkRecord], list[TimelineRecord]]:
        # A link may be named by the task (sessionIds, taskSessionStatuses) or by the session (taskIds).
        pairs: dict[tuple[str, str], str | None] = {}
        for task in self.tasks.values():
            pairs.update({(task.old, sid): None for sid in task.session_ids})
            pairs.update({(task.old, sid): status for sid, status in task.statuses.items()})
        for session in self.sessions.values():
            for tid in session.task_ids:
                pairs.setdefault((tid, session.old), None)
        links: list[LinkRecord] = []
        timeline: list[TimelineRecord] = []
        unresolved = 0
        for (tid, sid), legacy in sorted(pairs.items()):
            task, session = self.tasks.get(tid), self.sessions.get(sid)
            if task is None or session is None or task.record.project_id != session.record.project_id:
                unresolved += 1
                continue
            status = rules.LINK_STATUS.get(legacy) if legacy else None
            if legacy and status is None:
                self.notes.warn(f"task {tid}: unknown status {legacy!r} for session {sid}; imported as working")
            status = status or rules.LINK_FROM_SESSION.get(session.legacy_status or "", "working")
            created, updated = session.record.created_at, session.record.updated_at
            ids = {"task_id": task.record.id, "session_id": session.record.id}
            links.append(LinkRecord(**ids, status=status, created_at=created, updated_at=updated))
            if legacy == "skipped":  # our link statuses cannot say it; the task's timeline keeps it
                message = f"Session {session.record.name or session.record.id} skipped this task"
                timeline.append(TimelineRecord(**ids, kind="note", message=message, created_at=updated))
        if unresolved:
            self.notes.warn(
                f"{unresolved} task-session link(s) dropped: one side was not imported, or in another project"
            )
        for session in self.sessions.values():
            timeline.extend(self._timeline(session))
        timeline.sort(key=lambda e: e.created_at)  # stable: row order follows time across sessions
        return links, timeline

    def _timeline(self, session: convert.PendingSession) -> list[TimelineRecord]:
        entries = []
        for i, entry in enumerate(session.timeline):
            where = f"session {session.old} timeline entry {i}"
            if not isinstance(entry, dict):
                self.notes.warn(f"{where} is not an object; skipped")
                continue
            kind, message, created = convert.timeline_values(entry, where, self.ctx)
            task = self.tasks.get(convert.string(entry, "taskId") or "")
            on_task = task is not None and task.record.project_id == session.record.project_id
            entries.append(
                TimelineRecord(
                    task_id=task.record.id if task is not None and on_task else None,
                    session_id=session.record.id,
                    kind=kind,
                    message=message,
                    created_at=created or session.record.created_at,
                )
            )
        return entries

    def _unique_name(self, name: str) -> str:
        taken = {p.name for p in self.projects.values()}
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            suffix = f" ({n})"
            candidate = name[: rules.NAME_LIMIT - len(suffix)] + suffix
        if candidate != name:
            self.notes.warn(f"project name {name!r} was used twice; imported as {candidate!r}")
        return candidate
