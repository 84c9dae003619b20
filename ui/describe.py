"""Events in words for people: "Task 'Parse logs' completed by session 'coder'", never raw ids alone."""

from __future__ import annotations

from app.models import events as ev
from app.models.events import EventRecord, decode_data
from ui.design import STATUS_LABEL

ACTORS = {"ui": "you (browser)", "cli": "you (CLI)", "api": "the API", "maestro": "Maestro"}
RUN_STATE_WORDS = {"needs_person": "needs you", "failed": "failed", "done": "done"}  # else the state, spaced


def actor_name(actor: str, session_names: dict[str, str]) -> str:
    """Who acted, in words: a session by its name, the user's own clients by what they are."""
    if actor in ACTORS:
        return ACTORS[actor]
    name = session_names.get(actor)
    return f"session '{name}'" if name else "an agent session"


def describe(record: EventRecord, task_titles: dict[str, str], session_names: dict[str, str]) -> str:
    """One sentence for one event."""
    data = decode_data(record)
    who = actor_name(record.actor, session_names)

    def task(task_id: str) -> str:
        return f"'{task_titles[task_id]}'" if task_id in task_titles else "a task"

    match data:
        case ev.ProjectCreated():
            return f"Project '{data.name}' created by {who}"
        case ev.ProjectUpdated():
            return f"Project '{data.project.name}' updated ({', '.join(data.changed)}) by {who}"
        case ev.TaskCreated():
            return f"Task '{data.title}' created by {who}"
        case ev.TaskUpdated() if "status" in data.changed:
            return f"Task '{data.task.title}' moved to {STATUS_LABEL[data.task.status]} by {who}"
        case ev.TaskUpdated() if "run_plan" in data.changed:
            plan = data.task.run_plan
            if plan is None:
                return f"Task '{data.task.title}': run plan removed by {who}"
            return f"Task '{data.task.title}' planned to run {plan.profile} by {who}"
        case ev.TaskUpdated() if "run" in data.changed and data.task.run is not None:
            state = RUN_STATE_WORDS.get(data.task.run.state, data.task.run.state.replace("_", " "))
            return f"Task '{data.task.title}': run {state} ({who})"
        case ev.TaskUpdated():
            return f"Task '{data.task.title}' edited ({', '.join(data.changed)}) by {who}"
        case ev.TaskMoved():
            return f"Task '{data.task.title}' moved in the tree by {who}"
        case ev.TaskDeleted():
            count = len(data.deleted_ids)
            return f"{count} task{'s' if count != 1 else ''} deleted by {who}"
        case ev.DependencyAdded():
            return f"Task {task(data.task_id)} now depends on {task(data.depends_on)} ({who})"
        case ev.DependencyRemoved():
            return f"Task {task(data.task_id)} no longer depends on {task(data.depends_on)} ({who})"
        case ev.TaskLinked():
            return f"{_cap(actor_name(data.session_id, session_names))} works on {task(data.task_id)}"
        case ev.TaskUnlinked():
            return f"{_cap(actor_name(data.session_id, session_names))} stopped working on {task(data.task_id)}"
        case ev.SessionCreated():
            return f"Session '{data.name}' ({data.profile}) started by {who}"
        case ev.SessionStatusChanged() if data.to == "stalled" and data.session.status_reason is not None:
            return f"Session '{data.session.name}' stalled: {data.session.status_reason.why.removeprefix('stalled: ')}"
        case ev.SessionStatusChanged():
            return f"Session '{data.session.name}' is now {data.to.replace('_', ' ')}"
        case ev.SessionUpdated():
            return f"Session '{data.session.name}' updated"
        case ev.TimelineAdded():
            subject = task(data.task_id) if data.task_id else "its session"
            return f"{_cap(who)} on {subject}: {data.kind.replace('_', ' ')} — {data.message[:120]}"
        case ev.ImportCompleted():
            return f"Import from {data.source} completed by {who}"
    return f"{record.type} by {who}"


def _cap(text: str) -> str:
    """Upper-case the first letter only (str.capitalize would lower-case "CLI")."""
    return text[:1].upper() + text[1:]
