"""`maestro task plan|unplan|run-tree|bump|decide|wait`: run plans and waiting for tasks to end."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from app.cli.client import ApiClient, ApiError, Target
from app.cli.common import (
    TASK_ID,
    api_client,
    body_of,
    console,
    echo_json,
    err_console,
    json_option,
    project_or_env,
    text,
)
from app.cli.event_stream_client import EventFollower
from app.cli.task_views import reason_text, run_line
from app.models.common import ROLES
from app.models.runs import FAILED_RUN_STATES, FAILURE_POLICIES, RunDecision, RunPlan, TreeRun
from app.models.worktrees import ISOLATIONS

F = TypeVar("F", bound=Callable[..., Any])
EXIT_TIMED_OUT = 4  # `task wait --timeout`: the time ran out before every task ended
LIVE_RECHECK_S = 5.0  # with the event stream: look again this often anyway (a missed wake-up costs this much)
POLL_S = 1.0  # without it (refused, or not reachable yet): look once a second
TASK_ARG = click.argument("task_id", type=TASK_ID, metavar="TASK_ID")
PLAN_OPTIONS = [
    click.option("--profile", required=True, metavar="NAME", help="The profile Maestro starts on it (`profile list`)."),
    click.option("--role", type=click.Choice(ROLES), default=None, help="Its agent's role [default: worker]."),
    click.option("--skill", "skills", multiple=True, metavar="NAME", help="A skill for its agent. Repeatable."),
    click.option("--instructions", default=None, help="Extra instructions for its agent."),
    click.option("--isolation", type=click.Choice(ISOLATIONS), default=None, help="[default: the project's]"),
    click.option("--base", "base_ref", default=None, metavar="REF", help="The branch its worktree starts from."),
    click.option("--check", default=None, metavar="CMD", help="Run when the agent reports complete; must pass."),
    click.option(
        "--check-timeout", type=click.IntRange(1, 86_400), default=None, metavar="SECONDS", help="[default: 600]"
    ),
    click.option(
        "--on-failure", type=click.Choice(FAILURE_POLICIES), default=None, help="Stop, retry or ask [default: stop]."
    ),
    click.option(
        "--retries", type=click.IntRange(0, 10), default=None, metavar="N", help="With --on-failure retry [default: 2]."
    ),
]


def plan_options(function: F) -> F:
    """The options that make a run plan (`task plan` and `task run-tree`)."""
    for option in reversed(PLAN_OPTIONS):
        function = option(function)
    return function


def plan_body(options: dict[str, Any]) -> dict[str, Any]:
    """The RunPlan body the plan options give, checked with the server's model."""
    check, timeout, retries = options.pop("check"), options.pop("check_timeout"), options["retries"]
    if timeout is not None and check is None:
        raise click.UsageError("--check-timeout needs --check CMD")
    if retries is not None and options["on_failure"] != "retry":
        raise click.UsageError("--retries needs --on-failure retry")
    values = {key: value for key, value in options.items() if value is not None}
    values["skills"] = list(options["skills"])
    if check is not None:
        values["check"] = {"command": check, **({"timeout_s": timeout} if timeout is not None else {})}
    return body_of(RunPlan, values)


@click.command("plan")
@TASK_ARG
@plan_options
@json_option("Print the planned task as JSON.")
def plan(task_id: str, as_json: bool, **options: Any) -> None:
    """Give a task a run plan: Maestro starts the profile on it by itself once every dependency is completed."""
    body = plan_body(options)
    with api_client() as client:
        task = client.put(f"/tasks/{task_id}/plan", body)
    if as_json:
        echo_json(task)
        return
    console.print(f"planned [bold]{text(task['title'])}[/] {task_id} with {text(body['profile'])}: {run_line(task)}")


@click.command("unplan")
@TASK_ARG
@json_option("Print the task as JSON.")
def unplan(task_id: str, as_json: bool) -> None:
    """Remove a task's run plan (a run not started yet will not start; a running agent carries on)."""
    with api_client() as client:
        task = client.delete(f"/tasks/{task_id}/plan")
    if as_json:
        echo_json(task)
        return
    left = f"; its run carries on: {run_line(task)}" if task["run"] else ""
    console.print(f"removed the run plan of [bold]{text(task['title'])}[/] {task_id}{left}")


@click.command("run-tree")
@TASK_ARG
@plan_options
@json_option('Print {"planned": [ids], "already_planned": [ids]} as JSON.')
def run_tree(task_id: str, as_json: bool, **options: Any) -> None:
    """Run a subtree: every unfinished leaf under TASK_ID without a plan gets this one, and starts once ready."""
    body = body_of(TreeRun, {"plan": plan_body(options)})
    with api_client() as client:
        result = client.post(f"/tasks/{task_id}/run-tree", body)
        if as_json:
            echo_json(result)
            return
        titles = _titles(client.get(f"/tasks/{task_id}/tree"))
    if result["planned"]:
        console.print(f"planned {len(result['planned'])} task(s) with {text(body['plan']['profile'])}:")
    else:
        console.print("planned no new task: every unfinished leaf already had a plan")
    for planned_id in result["planned"]:
        console.print(f"  {text(titles.get(planned_id, ''))}  [dim]{planned_id}[/]")
    if result["already_planned"]:
        console.print(f"kept the plan of {len(result['already_planned'])} task(s) that had one:")
        for kept_id in result["already_planned"]:
            console.print(f"  {text(titles.get(kept_id, ''))}  [dim]{kept_id}[/]")


def _titles(node: dict[str, Any]) -> dict[str, str]:
    """Titles by id in a {task, children} tree (without recursion: trees may be deep)."""
    titles, stack = {}, [node]
    while stack:
        current = stack.pop()
        titles[current["task"]["id"]] = current["task"]["title"]
        stack.extend(current["children"])
    return titles


@click.command("bump")
@TASK_ARG
@json_option("Print the task as JSON.")
def bump(task_id: str, as_json: bool) -> None:
    """Move a planned task to the front of its project's queue: it starts first once it is ready."""
    with api_client() as client:
        task = client.post(f"/tasks/{task_id}/bump")
    if as_json:
        echo_json(task)
        return
    console.print(f"bumped [bold]{text(task['title'])}[/] {task_id}: {run_line(task)}")


@click.command("decide")
@TASK_ARG
@click.argument("action", type=click.Choice(["retry", "skip", "stop"]), metavar="retry|skip|stop")
@json_option("Print the task as JSON.")
def decide(task_id: str, action: str, as_json: bool) -> None:
    """Answer a failed run: retry it, skip it (the task counts as completed) or stop (its dependents stay blocked)."""
    with api_client() as client:
        task = client.post(f"/tasks/{task_id}/run/decide", body_of(RunDecision, {"action": action}))
    if as_json:
        echo_json(task)
        return
    console.print(f"{action}: [bold]{text(task['title'])}[/] {task_id}: {run_line(task)}")


@click.command("wait")
@click.argument("task_ids", nargs=-1, required=True, type=TASK_ID, metavar="TASK_ID…")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Give up after this long (exit 4).",
)
@json_option("Print a JSON array of {task_id, title, outcome, status, run_state, reason, failed_dependencies}.")
def wait(task_ids: tuple[str, ...], timeout: float | None, as_json: bool) -> None:
    """Block until every task has ended, then print each one's outcome and why.

    Ended: completed or cancelled; or its run failed, needs a person or ended without report; or it waits on a
    dependency whose run failed (blocked by failed …). Exit 0 when all completed, 1 when any ended otherwise, 4 when
    --timeout passed first.
    """
    ids = list(dict.fromkeys(task_ids))
    deadline = None if timeout is None else time.monotonic() + timeout
    with api_client() as client:
        first = [client.get(f"/tasks/{task_id}") for task_id in ids]  # an unknown id is refused before waiting
        projects = {task["project_id"] for task in first}
        project_id = project_or_env(next(iter(projects)) if len(projects) == 1 else None)
        scope = {"project_id": project_id} if project_id else {}
        after = client.get("/events", limit=1, **scope)["last_seq"]  # before reading: no change can slip between
        tasks = {task["id"]: task for task in first}
        with Wakeups(client.target, after, project_id) as wakeups:
            while True:
                tasks = {task_id: _current(client, task_id, tasks.get(task_id)) for task_id in ids}
                ended = all(outcome_of(task) is not None for task in tasks.values())
                if ended or (deadline is not None and time.monotonic() >= deadline):
                    break
                wakeups.watch(tasks.values())
                wakeups.wait(None if deadline is None else deadline - time.monotonic())
        records = [outcome_record(client, tasks[task_id]) for task_id in ids]
    if as_json:
        echo_json([record for record, _ in records])
    else:
        for record, reason in records:
            console.print(outcome_line(record, reason))
    running = [r["task_id"] for r, _ in records if r["outcome"] == "running"]
    if running:
        err_console.print(f"timed out after {timeout:g} s; still running: {', '.join(running)}", markup=False)
        raise click.exceptions.Exit(EXIT_TIMED_OUT)
    if any(r["outcome"] != "completed" for r, _ in records):
        raise click.exceptions.Exit(1)


def _current(client: ApiClient, task_id: str, last: dict[str, Any] | None) -> dict[str, Any]:
    """The task as it is now; a task deleted while waited for has ended, as deleted."""
    try:
        return client.get(f"/tasks/{task_id}")
    except ApiError as exc:
        if exc.status_code != 404 or last is None:
            raise
        return {**last, "deleted": True}


def outcome_of(task: dict[str, Any]) -> str | None:
    """How a task ended (completed, cancelled, failed, needs_person, ended_without_report, blocked, deleted), or
    None while it has not."""
    if task.get("deleted"):
        return "deleted"
    if task["status"] in ("completed", "cancelled"):
        return str(task["status"])
    run = task.get("run") or {}
    if run.get("state") in FAILED_RUN_STATES:
        return str(run["state"])
    if run.get("state") == "waiting" and run.get("failed_dependencies"):
        return "blocked"
    return None


def outcome_record(client: ApiClient, task: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What `wait` prints of a task (outcome "running" while it has not ended), and the reason behind it."""
    outcome = outcome_of(task) or "running"
    run = task.get("run") or {}
    failed = list(run.get("failed_dependencies") or []) if outcome == "blocked" else []
    reason = task.get("status_reason") if outcome in ("completed", "cancelled") or not run else run.get("reason")
    why = (reason or {}).get("why", "")
    if outcome == "blocked":
        why, reason = "; ".join(_failed_dependency(client, dep) for dep in failed), None
    elif outcome == "deleted":
        why, reason = "deleted while waited for", None
    record = {
        "task_id": task["id"],
        "title": task["title"],
        "outcome": outcome,
        "status": task["status"],
        "run_state": run.get("state"),
        "reason": why,
        "failed_dependencies": failed,
    }
    return record, reason


def _failed_dependency(client: ApiClient, task_id: str) -> str:
    """A failed dependency in words: which, and why its run failed."""
    try:
        task = client.get(f"/tasks/{task_id}")
    except ApiError:
        return task_id
    run = task.get("run") or {}
    why = (run.get("reason") or {}).get("why", "")
    return f"{task_id} ({task['title']}) {str(run.get('state', '')).replace('_', ' ')}: {why}".rstrip(": ")


OUTCOME_STYLE = {"completed": "green", "cancelled": "dim", "running": "yellow"}


def outcome_line(record: dict[str, Any], reason: dict[str, Any] | None) -> str:
    """One line of `wait`: id, outcome, title, and why (rich markup; the title and the reason shown as text)."""
    outcome = record["outcome"]
    if outcome == "blocked":
        shown = f"blocked by failed {', '.join(record['failed_dependencies'])}"
    elif outcome == "running":
        shown = f"still running ({record['run_state'] or record['status']})".replace("_", " ")
    else:
        shown = outcome.replace("_", " ")
    line = f"{record['task_id']}  [{OUTCOME_STYLE.get(outcome, 'red')}]{shown}[/]  [bold]{text(record['title'])}[/]"
    if reason:
        return f"{line} — {reason_text(reason)}"
    return f"{line} — {text(record['reason'])}" if record["reason"] else line


class Wakeups:
    """Wakes `task wait` when a watched task, or a task it depends on, changes: the server's event stream, read in a
    thread of its own. Without it (refused), `wait` looks once a second instead."""

    def __init__(self, target: Target, after: int, project_id: str | None) -> None:
        self._follower = EventFollower(
            target.url, target.token or "", after=after, project_id=project_id, types=("task.",)
        )
        self.live = True
        self._changed = threading.Event()
        self._watched: frozenset[str] = frozenset()
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="task-wait", daemon=True)

    def __enter__(self) -> Wakeups:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started.wait(5) and self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # its loop has ended already
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(5)

    def watch(self, tasks: Iterable[dict[str, Any]]) -> None:
        """Wake for changes of these tasks and of the tasks they depend on."""
        self._watched = frozenset(ref for task in tasks for ref in (task["id"], *task.get("dependencies", ())))

    def wait(self, seconds: float | None) -> None:
        """Until something watched changed, or a while (at most `seconds`)."""
        interval = LIVE_RECHECK_S if self.live else POLL_S
        self._changed.wait(interval if seconds is None else max(0.0, min(interval, seconds)))
        self._changed.clear()

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._started.set()
        follow = asyncio.ensure_future(self._follow())
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({follow, stop}, return_when=asyncio.FIRST_COMPLETED)
        for task in (follow, stop):
            task.cancel()
        await asyncio.gather(follow, stop, return_exceptions=True)

    async def _follow(self) -> None:
        try:
            async for event in self._follower:
                if event.get("type") == "reset" or event.get("entity_id") in self._watched:
                    self._changed.set()
        except Exception:  # refused (a token without access to events…): polling takes over
            self.live = False
            self._changed.set()


RUN_COMMANDS: list[click.Command] = [plan, unplan, run_tree, bump, decide, wait]
