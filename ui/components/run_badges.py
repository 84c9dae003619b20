"""Run states and reasons in words, shared by the board, the tree, the task page, the sessions and the attention menu:
the compact run badge ("queued #2", "blocked by failed 'Parse logs'", "needs you"), a reason as "why · by · when"
with the full time in a tooltip, and the "12 min ago" / "10:42" texts.

Reasons are written by the services with raw ids and actors ("session ses_… ended", "set to in_progress by ui"); they
are shown with titles, names and words instead. All of it is untrusted text and is drawn as text.
"""

from __future__ import annotations

import datetime as dt
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass

from nicegui import ui

from app.models.runs import RUN_STATES, RunPlan, StateReason
from app.models.sessions import Session
from app.models.tasks import Task
from ui.context import tid
from ui.describe import ACTORS
from ui.design import BLOCKED_BY_FAILED_COLOR, RUN_COLOR, RUN_WORDS, STATUS_LABEL

PLAN_ICON = "pending_actions"  # a task with a run plan: Maestro starts its agent by itself once it is ready
RUN_HINT = {  # the state in a sentence (the task page's run panel)
    "waiting": "Waiting for its dependencies to be completed",
    "queued": "Ready: waiting for a free agent slot",
    "starting": "Its agent is starting",
    "running": "Its agent is working",
    "checking": "Its agent reported complete: the exit check runs",
    "done": "Done: completed and its check passed",
    "failed": "The run failed: tasks that depend on it stay blocked",
    "needs_person": "The run failed and asks you what to do",
    "ended_without_report": "Its session ended without reporting complete",
}
POLICY_WORDS = {"stop": "stop and block what depends on it", "retry": "retry", "ask": "ask me"}
NEEDS_PERSON = ("failed", "needs_person", "ended_without_report")  # runs a person decides about (retry/skip/stop)

_TASK_ID = re.compile(r"\btsk_[0-9a-z]{22}\b")
_SESSION_ID = re.compile(r"\b(session )?(ses_[0-9a-z]{22})\b")
_STATUS = re.compile(r"\b(set to|created as|moved to) (" + "|".join(STATUS_LABEL) + r")\b")
_BY = re.compile(r"\bby (ui|cli|api|maestro)\b")

assert set(RUN_WORDS) == set(RUN_COLOR) == set(RUN_HINT) == set(RUN_STATES)


def ago(when: dt.datetime, now: dt.datetime) -> str:
    """A duration up to now, roughly: "12 s ago", "12 min ago", "3 h ago", "2 d ago"."""
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def clock(when: dt.datetime, now: dt.datetime) -> str:
    """A moment in the server's local time (the person's, local-first): "10:42", or "3 Mar 10:42" on another day."""
    local, today = when.astimezone(), now.astimezone()
    return f"{local:%H:%M}" if local.date() == today.date() else f"{local.day} {local:%b %H:%M}"


def full_time(when: dt.datetime) -> str:
    """A moment to the second, in local time with its zone: "2026-12-01 10:42:07 CET"."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def actor_words(actor: str, sessions: Mapping[str, str] | None = None) -> str:
    """Who acted: "you (browser)", "Maestro", "session 'coder'"."""
    if actor in ACTORS:
        return ACTORS[actor]
    name = (sessions or {}).get(actor)
    return f"session '{name}'" if name else "an agent session"


def in_words(text: str, tasks: Mapping[str, str] | None = None, sessions: Mapping[str, str] | None = None) -> str:
    """A service's sentence for people: ids become titles and names, raw statuses and actors become words."""

    def session(match: re.Match[str]) -> str:
        name = (sessions or {}).get(match.group(2))
        if name:
            return f"session '{name}'"
        return "its session" if match.group(1) else "a session"

    def task(match: re.Match[str]) -> str:
        title = (tasks or {}).get(match.group(0))
        return f"'{title}'" if title else "a task"

    text = _SESSION_ID.sub(session, text)
    text = _TASK_ID.sub(task, text)
    text = _STATUS.sub(lambda m: f"{m.group(1)} {STATUS_LABEL[m.group(2)]}", text)
    return _BY.sub(lambda m: f"by {ACTORS[m.group(1)]}", text)


def reason_words(
    reason: StateReason,
    now: dt.datetime,
    *,
    tasks: Mapping[str, str] | None = None,
    sessions: Mapping[str, str] | None = None,
    relative: bool = True,
) -> str:
    """A reason as "why · by · when" ("by" left out when the why already says who)."""
    why = in_words(reason.why, tasks, sessions)
    parts = [why]
    who = actor_words(reason.by, sessions)
    if who not in why and f"by {reason.by}" not in reason.why:
        parts.append(who)
    parts.append(ago(reason.at, now) if relative else f"at {clock(reason.at, now)}")
    return " · ".join(parts)


def reason_tip(reason: StateReason) -> str:
    """The tooltip of a reason: the full time and the event that recorded it."""
    return f"{full_time(reason.at)}" + (f" · event {reason.event}" if reason.event else "")


def reason_label(
    reason: StateReason,
    now: dt.datetime,
    test_id: str,
    *,
    tasks: Mapping[str, str] | None = None,
    sessions: Mapping[str, str] | None = None,
) -> ui.label:
    """A reason as a small grey line with the full time in its tooltip."""
    label = ui.label(reason_words(reason, now, tasks=tasks, sessions=sessions))
    label.classes("text-xs text-grey-7 break-words").tooltip(reason_tip(reason))
    return tid(label, test_id)


def evidence(session: Session) -> str:
    """What made Maestro call a session stalled ("no output for 14 min (last 10:02), no report since 09:58, …")."""
    reason = session.status_reason
    if reason is None:
        return "quiet for a long time without a report"
    return reason.why.removeprefix("stalled: ")  # the badge beside it already says stalled


def plan_words(plan: RunPlan) -> str:
    """A plan in one line: "claude (worker) · check `pytest -q` (10 min) · on failure: retry 2×"."""
    parts = [f"{plan.profile} ({plan.role})"]
    if plan.check is not None:
        parts.append(f"check `{plan.check.command}` ({duration(plan.check.timeout_s)})")
    parts.append(f"on failure: {policy_words(plan)}")
    return " · ".join(parts)


def policy_words(plan: RunPlan) -> str:
    """The failure policy in words."""
    if plan.on_failure == "retry":
        return f"retry up to {plan.retries} time{'s' if plan.retries != 1 else ''}, then stop"
    return POLICY_WORDS[plan.on_failure]


def exit_words(code: int) -> str:
    """A program's exit in words: "exited 1", or for a negative code (killed by a signal) "killed by SIGTERM"."""
    if code >= 0:
        return f"exited {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def duration(seconds: int) -> str:
    """A time limit in words: "45 s", "10 min", "1 h 30 min"."""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h" + (f" {rest // 60} min" if rest >= 60 else "")


@dataclass(frozen=True)
class RunBadge:
    """What the compact badge says of a task's run (None text: only the plan icon)."""

    text: str | None
    color: str
    tip: str
    planned: bool


def run_badge_of(task: Task, titles: Mapping[str, str], now: dt.datetime) -> RunBadge | None:
    """The compact badge of a task's run, or None for a task that never had one (or whose run is simply done)."""
    run, plan = task.run, task.run_plan
    if run is None and plan is None:
        return None
    planned = plan is not None
    plan_tip = f"Run plan: {plan_words(plan)}" if plan is not None else "No run plan (removed)"
    if run is None:
        return RunBadge(None, "grey-7", f"{plan_tip}. Not armed: it is finished.", planned)
    reason = (
        reason_words(run.reason, now, tasks=titles, relative=False) if run.reason is not None else RUN_HINT[run.state]
    )
    tip = f"{reason}\n{plan_tip}"
    state = run.state
    if state == "done":
        return RunBadge(None, RUN_COLOR["done"], tip, planned) if planned else None
    if state == "waiting" and run.failed_dependencies:
        first = titles.get(run.failed_dependencies[0], "a task")
        more = len(run.failed_dependencies) - 1
        return RunBadge(
            f"blocked by failed {first}" + (f" +{more}" if more else ""), BLOCKED_BY_FAILED_COLOR, tip, planned
        )
    if state == "waiting" and task.blocked_by:
        names = ", ".join(titles.get(dep, "a task") for dep in task.blocked_by)
        text = f"waiting on {len(task.blocked_by)}"
        return RunBadge(text, RUN_COLOR["waiting"], f"Waiting on {names}\n{tip}", planned)
    if state == "waiting":
        return RunBadge(None, RUN_COLOR["waiting"], f"Ready: it queues for an agent slot.\n{tip}", planned)
    if state == "queued" and run.queue_position:
        return RunBadge(f"queued #{run.queue_position}", RUN_COLOR["queued"], tip, planned)
    return RunBadge(RUN_WORDS[state], RUN_COLOR[state], tip, planned)


def run_badge(task: Task, titles: Mapping[str, str], now: dt.datetime, *, light: bool = False) -> None:
    """Draw the plan icon and the run badge of a task side by side (the tree's rows), if it has any; `light`: native
    tooltips, so that a thousand rows stay cheap."""
    found = run_badge_of(task, titles, now)
    if found is not None:
        plan_icon(task, found, light=light)
        state_badge(found, light=light)


def plan_icon(task: Task, found: RunBadge, *, light: bool = False) -> None:
    """The plan icon of a planned task; its tooltip is the plan, or the run's reason too when no badge says it."""
    if not found.planned:
        return
    icon = ui.icon(PLAN_ICON, size="xs").classes("text-grey-7 shrink-0")
    plan = task.run_plan
    _tip(icon, found.tip if found.text is None or plan is None else f"Run plan: {plan_words(plan)}", light)
    tid(icon, "run-plan-icon")


def state_badge(found: RunBadge, *, light: bool = False) -> None:
    """The run's state in a few words, cut with an ellipsis when long (the failed task's title is untrusted: the
    badge shows it as text)."""
    if found.text is None:
        return
    badge = ui.badge(found.text).props(f"color={found.color}").classes("truncate max-w-full min-w-0")
    badge.style("display: block")  # a block, not Quasar's inline-flex: only a block's text ends in an ellipsis
    _tip(badge, found.tip, light)
    tid(badge, "run-badge")


def _tip(element: ui.element, text: str, light: bool) -> None:
    if light:
        element.props["title"] = text  # an attribute, set as a value: never parsed as props or HTML
        element.update()
    else:
        with element:
            ui.tooltip(text).classes("whitespace-pre-line text-body2")
