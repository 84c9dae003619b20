"""Events as readable lines for `maestro events`: what happened, to what (by title), and who did it."""

from __future__ import annotations

from typing import Any

import msgspec
from rich.markup import escape

from app.cli.client import ApiClient, ApiError, NoServer
from app.models import events as ev
from app.models.projects import Project
from app.models.sessions import Session
from app.models.tasks import Task

MESSAGE_CHARS = 100  # a timeline message is cut here on its line; `--json` has it whole
MAX_LOOKUPS = 200  # names asked from the server per command; past this, ids are shown
ACTORS = {"cli": "the CLI", "ui": "the browser", "api": "the API", "maestro": "Maestro"}
KIND = {"prj": "/projects/", "tsk": "/tasks/", "ses": "/sessions/"}


class Narrator:
    """Turns event envelopes into sentences, naming projects, tasks and sessions by their titles.

    Names come from the events themselves (a created task carries its title) and, for things created before the
    events shown, from the server (each asked once, at most MAX_LOOKUPS; a deleted one stays an id).
    """

    def __init__(self, client: ApiClient | None) -> None:
        self.client = client
        self.names: dict[str, str | None] = {}
        self.lookups = 0

    def line(self, event: dict[str, Any]) -> str:
        """One line of rich markup: seq, time, the sentence, the actor."""
        record = msgspec.convert(event, ev.EventRecord, strict=False)
        data = ev.decode_data(record)
        self._learn(data)
        sentence = self._sentence(record, data) if data is not None else f"{record.type} {record.entity_id or ''}"
        clock = record.ts.astimezone().strftime("%H:%M:%S")
        return f"[dim]#{record.seq:<5}[/] {clock}  {sentence}  [dim]by {escape(self._actor(record.actor))}[/]"

    def _sentence(self, record: ev.EventRecord, data: ev.EventData) -> str:
        match data:
            case ev.ProjectCreated():
                return f"project {self._name(data.id)} created in {escape(data.working_dir)}"
            case ev.ProjectUpdated():
                return f"project {self._name(data.project.id)} changed: {', '.join(data.changed)}"
            case ev.ProjectDeleted():
                return f"project {self._name(data.id)} deleted, with {data.deleted_tasks} task(s)"
            case ev.TaskCreated():
                under = f" under {self._name(data.parent_id)}" if data.parent_id else ""
                return f"task {self._name(data.id)} created{under}"
            case ev.TaskUpdated():
                return f"task {self._name(data.task.id)} {self._changes(data.task, data.changed)}"
            case ev.TaskMoved():
                where = f"under {self._name(data.to_parent_id)}" if data.to_parent_id else "to the top level"
                return f"task {self._name(data.task.id)} moved {where}, position {data.position}"
            case ev.TaskDeleted():
                more = f" with {len(data.deleted_ids) - 1} subtask(s)" if len(data.deleted_ids) > 1 else ""
                return f"task {self._name(data.id)} deleted{more}"
            case ev.DependencyAdded():
                return f"task {self._name(data.task_id)} now depends on {self._name(data.depends_on)}"
            case ev.DependencyRemoved():
                return f"task {self._name(data.task_id)} no longer depends on {self._name(data.depends_on)}"
            case ev.TaskLinked():
                return f"session {self._name(data.session_id)} works on {self._name(data.task_id)} ({data.status})"
            case ev.TaskUnlinked():
                return f"session {self._name(data.session_id)} no longer works on {self._name(data.task_id)}"
            case ev.SessionCreated():
                return f"session {self._name(data.id)} created ({data.profile}, {data.role})"
            case ev.SessionUpdated():
                changes = ", ".join(
                    f"exit code {data.session.exit_code}" if field == "exit_code" else field for field in data.changed
                )
                return f"session {self._name(data.session.id)} changed: {changes}"
            case ev.SessionStatusChanged():
                return f"session {self._name(data.session.id)} {data.from_} → [bold]{data.to}[/]"
            case ev.TimelineAdded():
                about = self._name(data.task_id or data.session_id)
                message = data.message if len(data.message) <= MESSAGE_CHARS else data.message[:MESSAGE_CHARS] + "…"
                return f"[bold]{data.kind}[/] on {about}: {escape(message)}"
            case ev.ImportCompleted():
                counts = msgspec.to_builtins(data.counts)
                return "imported " + ", ".join(f"{n} {what}" for what, n in counts.items() if n) + f" ({data.source})"
        return f"{record.type} {record.entity_id or ''}"

    def _changes(self, task: Task, changed: list[str]) -> str:
        shown = {"status": task.status, "priority": task.priority, "title": task.title}
        parts = []
        for field in changed:
            if field in shown:
                parts.append(f"{field} → [bold]{escape(str(shown[field]))}[/]")
            elif field == "archived_at":
                parts.append("archived" if task.archived_at else "unarchived")
            elif field not in ("started_at", "completed_at"):  # they follow the status shown beside them
                parts.append(field.replace("_", " "))
        return "changed: " + ", ".join(parts)

    def _learn(self, data: ev.EventData | None) -> None:
        """Remember the names an event carries (the newest wins: a renamed task shows its new title)."""
        for entity in (
            data,
            getattr(data, "project", None),
            getattr(data, "task", None),
            getattr(data, "session", None),
        ):
            if isinstance(entity, Project | Session):
                self.names[entity.id] = entity.name
            elif isinstance(entity, Task):
                self.names[entity.id] = entity.title

    def _name(self, entity_id: str | None) -> str:
        """'Title' (for a known name) or the id, as rich markup."""
        if not entity_id:
            return "?"
        if entity_id not in self.names:
            self.names[entity_id] = self._ask(entity_id)
        name = self.names[entity_id]
        return f"'[bold]{escape(name)}[/]'" if name else escape(entity_id)

    def _ask(self, entity_id: str) -> str | None:
        route = KIND.get(entity_id[:3])
        if self.client is None or route is None or self.lookups >= MAX_LOOKUPS:
            return None
        self.lookups += 1
        try:
            found = self.client.get(route + entity_id)
        except (ApiError, NoServer):
            return None
        return found.get("title") or found.get("name")

    def _actor(self, actor: str) -> str:
        if actor.startswith("ses_"):
            name = self.names.get(actor) if actor in self.names else self._ask(actor)
            self.names[actor] = name
            return f"session '{name}'" if name else f"session {actor}"
        return ACTORS.get(actor, actor)
