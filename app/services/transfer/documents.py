"""Export everything as one versioned JSON document (streamed), and import such a document all or nothing."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import msgspec
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.table import Table

from app.db.tables import Project as ProjectRow
from app.db.tables import Session as SessionRow
from app.db.tables import Task as TaskRow
from app.db.tables import TaskDependency, TaskSession, TimelineEntry
from app.db.writer import Tx, Writer
from app.errors import Conflict, InvalidInput
from app.models.common import utcnow
from app.models.decoding import decode_json
from app.models.events import ImportCompleted
from app.models.transfer import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    DependencyRecord,
    ExportDocument,
    ImportCounts,
    ImportResult,
    LinkRecord,
    ProjectRecord,
    SessionRecord,
    TaskRecord,
    TimelineRecord,
)

PAGE_SIZE = 500  # rows per SELECT while exporting, and per INSERT while importing
CONFLICT_NAMES_SHOWN = 100

# Document field <-> table column, for the columns whose names differ (foreign keys).
_TO_DOC = {
    "project": "project_id",
    "parent": "parent_id",
    "task": "task_id",
    "session": "session_id",
    "parent_session": "parent_session_id",
}
_TO_COLUMN = {v: k for k, v in _TO_DOC.items()}

# (document key, table, record type, whether the table's integer `id` is a local row number left out of documents)
SECTIONS: tuple[tuple[str, type[Table], type[msgspec.Struct], bool], ...] = (
    ("projects", ProjectRow, ProjectRecord, False),
    ("tasks", TaskRow, TaskRecord, False),
    ("dependencies", TaskDependency, DependencyRecord, True),
    ("sessions", SessionRow, SessionRecord, False),
    ("task_sessions", TaskSession, LinkRecord, True),
    ("timeline", TimelineEntry, TimelineRecord, True),
)


def export_filename(now: dt.datetime | None = None) -> str:
    """The download name: maestro-export-<UTC date>.json."""
    return f"maestro-export-{(now or utcnow()).date().isoformat()}.json"


async def export_chunks(page_size: int | None = None) -> AsyncIterator[bytes]:
    """The export document as JSON byte chunks, read page by page from one consistent snapshot."""
    page_size = page_size or PAGE_SIZE
    header = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "exported_at": utcnow()}
    async with _read_snapshot():
        yield msgspec.json.encode(header)[:-1]  # keep the object open: the sections follow
        for key, table, record_type, local_id in SECTIONS:
            yield b',"' + key.encode() + b'":['
            first = True
            async for rows in _pages(table, page_size):
                records = [_record(row, record_type, local_id) for row in rows]
                chunk = b",".join(msgspec.json.encode(r) for r in records)
                yield chunk if first else b"," + chunk
                first = False
            yield b"]"
        yield b"}"


def decode_document(raw: bytes) -> ExportDocument:
    """Check the format and version first (for a clear message), then decode every row with its types."""
    try:
        header = decode_json(raw, _Header)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"not a Maestro export document: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
    if header.format != EXPORT_FORMAT:
        raise InvalidInput(
            f"unknown document format {header.format!r}: expected {EXPORT_FORMAT!r}", {"format": header.format}
        )
    if header.version > EXPORT_VERSION:
        raise InvalidInput(
            f"export format version {header.version} is newer than this Maestro supports ({EXPORT_VERSION}): "
            "upgrade Maestro to import it",
            {"version": header.version, "supported": EXPORT_VERSION},
        )
    if header.version < 1:
        raise InvalidInput(f"export format version {header.version} does not exist", {"version": header.version})
    try:
        return decode_json(raw, ExportDocument)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInput(f"invalid export document: {exc}") from exc


async def import_json(writer: Writer, raw: bytes, actor: str) -> ImportResult:
    """Decode and check a document off the event loop (it may be 256 MiB), then load it like import_document."""
    doc = await asyncio.to_thread(decode_document, raw)
    await asyncio.to_thread(validate_document, doc)
    return await import_document(writer, doc, actor, validated=True)


async def import_document(writer: Writer, doc: ExportDocument, actor: str, *, validated: bool = False) -> ImportResult:
    """Load a decoded document with its ids, in one transaction; 409 naming existing ids, 400 for bad references."""
    if not validated:
        validate_document(doc)

    async def op(tx: Tx) -> ImportCounts:
        return await load_document(tx, doc, source=EXPORT_FORMAT)

    counts = await writer.write(op, actor)
    return ImportResult(format=EXPORT_FORMAT, version=doc.version, counts=counts)


def validate_document(doc: ExportDocument) -> None:
    """Refuse duplicates, unresolved references, cross-project parents or dependencies, and cycles (400).

    Also stores every timestamp in UTC, as both databases hand them back (so a round trip compares equal).
    """
    for key, *_ in SECTIONS:
        for i, record in enumerate(getattr(doc, key)):
            _utc_timestamps(key, i, record)
    projects = _unique_ids("projects", doc.projects)
    _unique_values("projects", "name", [p.name for p in doc.projects])
    tasks = _unique_ids("tasks", doc.tasks)
    sessions = _unique_ids("sessions", doc.sessions)
    for i, task in enumerate(doc.tasks):
        _refers("tasks", i, "project_id", task.project_id, projects)
        if task.parent_id is not None:
            parent = _refers("tasks", i, "parent_id", task.parent_id, tasks)
            _same_project("tasks", i, "parent_id", task, parent)
    parents_first(doc.tasks, lambda t: t.parent_id, "tasks", "parent_id")
    for i, dep in enumerate(doc.dependencies):
        task = _refers("dependencies", i, "task_id", dep.task_id, tasks)
        target = _refers("dependencies", i, "depends_on", dep.depends_on, tasks)
        _same_project("dependencies", i, "depends_on", task, target)
        if dep.task_id == dep.depends_on:
            raise InvalidInput(f"dependencies[{i}]: a task cannot depend on itself", {"task_id": dep.task_id})
    _unique_values("dependencies", "pair", [(d.task_id, d.depends_on) for d in doc.dependencies])
    _acyclic_dependencies(doc.dependencies)
    for i, session in enumerate(doc.sessions):
        _refers("sessions", i, "project_id", session.project_id, projects)
        if session.parent_session_id is not None:
            parent = _refers("sessions", i, "parent_session_id", session.parent_session_id, sessions)
            _same_project("sessions", i, "parent_session_id", session, parent)
    parents_first(doc.sessions, lambda s: s.parent_session_id, "sessions", "parent_session_id")
    for i, link in enumerate(doc.task_sessions):
        task = _refers("task_sessions", i, "task_id", link.task_id, tasks)
        session = _refers("task_sessions", i, "session_id", link.session_id, sessions)
        _same_project("task_sessions", i, "task_id", session, task)
    _unique_values("task_sessions", "pair", [(link.task_id, link.session_id) for link in doc.task_sessions])
    for i, entry in enumerate(doc.timeline):
        if entry.task_id is None and entry.session_id is None:
            raise InvalidInput(f"timeline[{i}]: an entry needs a task_id or a session_id or both")
        if entry.task_id is not None:
            _refers("timeline", i, "task_id", entry.task_id, tasks)
        if entry.session_id is not None:
            _refers("timeline", i, "session_id", entry.session_id, sessions)


async def load_document(
    tx: Tx, doc: ExportDocument, *, source: str, extra: dict[str, Any] | None = None
) -> ImportCounts:
    """Inside a write op: refuse existing ids or names (409), bulk-insert in dependency order, emit one event."""
    await _refuse_existing(doc)
    tasks = parents_first(doc.tasks, lambda t: t.parent_id, "tasks", "parent_id")
    sessions = parents_first(doc.sessions, lambda s: s.parent_session_id, "sessions", "parent_session_id")
    await _insert(ProjectRow, doc.projects)
    await _insert(TaskRow, tasks)
    await _insert(SessionRow, sessions)
    await _insert(TaskDependency, doc.dependencies)
    await _insert(TaskSession, doc.task_sessions)
    await _insert(TimelineEntry, doc.timeline)  # document order, so entry order (and row numbers' order) survive
    counts = ImportCounts(
        projects=len(doc.projects),
        tasks=len(doc.tasks),
        dependencies=len(doc.dependencies),
        sessions=len(doc.sessions),
        task_sessions=len(doc.task_sessions),
        timeline=len(doc.timeline),
    )
    completed = ImportCompleted(source=source, format_version=doc.version, counts=counts, **(extra or {}))
    tx.emit(completed, project_id=None, entity_id=None)
    return counts


def parents_first(items: Sequence[Any], parent_of: Callable[[Any], str | None], kind: str, field: str) -> list[Any]:
    """Items ordered so every parent comes before its children (400 if the parent links form a cycle)."""
    children: dict[str | None, list[Any]] = defaultdict(list)
    known = {item.id for item in items}
    for item in items:
        parent = parent_of(item)
        children[parent if parent in known else None].append(item)
    ordered: list[Any] = []
    queue = deque(children[None])
    while queue:
        item = queue.popleft()
        ordered.append(item)
        queue.extend(children.get(item.id, ()))
    if len(ordered) != len(items):
        stuck = sorted({item.id for item in items} - {item.id for item in ordered})
        raise InvalidInput(f"{kind}: {field} links form a cycle", {"ids": stuck[:CONFLICT_NAMES_SHOWN]})
    return ordered


class _Header(msgspec.Struct):
    """The two fields read before anything else; other fields are ignored at this stage."""

    format: str
    version: int


@contextlib.asynccontextmanager
async def _read_snapshot() -> AsyncIterator[None]:
    """One read transaction, so the export is consistent even while writes go on."""
    engine = ProjectRow._meta.db
    if isinstance(engine, SQLiteEngine):
        tx = engine.transaction(transaction_type=TransactionType.deferred)  # WAL: readers never block the writer
    else:
        tx = engine.transaction()
    await tx.__aenter__()
    try:
        if not isinstance(engine, SQLiteEngine):
            await ProjectRow.raw("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
    except BaseException as exc:
        await _leave(tx, exc)
        raise
    else:
        await _leave(tx, None)


async def _leave(tx: Any, exc: BaseException | None) -> None:
    # A stream abandoned by its client is finalised from another task; Piccolo then fails to reset its context
    # variable after it has already rolled back and released the connection, which is all that matters here.
    with contextlib.suppress(ValueError):
        await tx.__aexit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)


async def _pages(table: type[Table], page_size: int) -> AsyncIterator[list[dict[str, Any]]]:
    pk = table._meta.primary_key
    last: Any = None
    while True:
        query = table.select().order_by(pk).limit(page_size).output(load_json=True)
        if last is not None:
            query = query.where(pk > last)
        rows = await query
        if not rows:
            return
        yield rows
        if len(rows) < page_size:
            return
        last = rows[-1][pk._meta.name]


def _record(row: dict[str, Any], record_type: type[msgspec.Struct], local_id: bool) -> msgspec.Struct:
    # Only the record's own fields: runtime columns (which instance and pid run a session) stay behind.
    fields = set(record_type.__struct_fields__)
    values = {_TO_DOC.get(k, k): v for k, v in row.items() if not (local_id and k == "id")}
    return record_type(**{k: v for k, v in values.items() if k in fields})


def _row(table: type[Table], record: msgspec.Struct) -> Table:
    return table(**{_TO_COLUMN.get(k, k): v for k, v in msgspec.structs.asdict(record).items()})


async def _insert(table: type[Table], records: Sequence[msgspec.Struct]) -> None:
    size = PAGE_SIZE  # many rows per statement, few enough for every driver's parameter limit
    for start in range(0, len(records), size):
        await table.insert(*(_row(table, r) for r in records[start : start + size]))


async def _refuse_existing(doc: ExportDocument) -> None:
    found = {
        "projects": await _existing(ProjectRow.id, [p.id for p in doc.projects]),
        "tasks": await _existing(TaskRow.id, [t.id for t in doc.tasks]),
        "sessions": await _existing(SessionRow.id, [s.id for s in doc.sessions]),
        "project_names": await _existing(ProjectRow.name, [p.name for p in doc.projects]),
    }
    total = sum(len(v) for v in found.values())
    if not total:
        return
    shown = [i for kind in ("projects", "tasks", "sessions") for i in found[kind]][:10]
    names = ", ".join(repr(n) for n in found["project_names"][:10])
    parts = [f"{total - len(found['project_names'])} id(s) already exist ({', '.join(shown)}…)"] if shown else []
    parts += [f"project name(s) already taken: {names}"] if names else []
    raise Conflict(
        "nothing was imported: " + "; ".join(parts),
        {k: v[:CONFLICT_NAMES_SHOWN] for k, v in found.items()} | {"total": total},
    )


async def _existing(column: Any, values: list[str]) -> list[str]:
    found: list[str] = []
    name = column._meta.name
    for start in range(0, len(values), PAGE_SIZE):
        chunk = values[start : start + PAGE_SIZE]
        rows = await column._meta.table.select(column).where(column.is_in(chunk))
        found.extend(r[name] for r in rows)
    return sorted(found)


def _unique_ids(kind: str, items: Iterable[Any]) -> dict[str, Any]:
    by_id: dict[str, Any] = {}
    for i, item in enumerate(items):
        if item.id in by_id:
            raise InvalidInput(f"{kind}[{i}]: id {item.id} appears twice", {"id": item.id})
        by_id[item.id] = item
    return by_id


def _unique_values(kind: str, what: str, values: list[Any]) -> None:
    seen: set[Any] = set()
    for i, value in enumerate(values):
        if value in seen:
            raise InvalidInput(
                f"{kind}[{i}]: {what} {value!r} appears twice",
                {what: list(value) if isinstance(value, tuple) else value},
            )
        seen.add(value)


def _refers(kind: str, index: int, field: str, target: str, known: dict[str, Any]) -> Any:
    if target not in known:
        raise InvalidInput(
            f"{kind}[{index}]: {field} {target} does not resolve to a row of the document", {field: target}
        )
    return known[target]


def _same_project(kind: str, index: int, field: str, item: Any, other: Any) -> None:
    if item.project_id != other.project_id:
        raise InvalidInput(f"{kind}[{index}]: {field} {other.id} belongs to another project", {field: other.id})


def _utc_timestamps(kind: str, index: int, record: msgspec.Struct) -> None:
    for name in record.__struct_fields__:
        value = getattr(record, name)
        if isinstance(value, dt.datetime):
            try:
                setattr(record, name, value.astimezone(dt.UTC))
            except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 is before the first representable instant
                raise InvalidInput(f"{kind}[{index}]: {name} is out of range in UTC", {name: str(value)}) from exc


def _acyclic_dependencies(deps: Sequence[DependencyRecord]) -> None:
    outgoing: dict[str, list[str]] = defaultdict(list)
    indegree: dict[str, int] = defaultdict(int)
    for dep in deps:
        outgoing[dep.task_id].append(dep.depends_on)
        indegree[dep.depends_on] += 1
        indegree.setdefault(dep.task_id, 0)
    queue = deque(t for t, n in indegree.items() if n == 0)
    seen = 0
    while queue:
        task = queue.popleft()
        seen += 1
        for target in outgoing[task]:
            indegree[target] -= 1
            if indegree[target] == 0:
                queue.append(target)
    if seen != len(indegree):
        stuck = sorted(t for t, n in indegree.items() if n > 0)
        raise InvalidInput("dependencies form a cycle", {"task_ids": stuck[:CONFLICT_NAMES_SHOWN]})
