"""The scheduler: starts planned tasks by themselves once their dependencies are completed, and runs exit checks.

One per instance. It wakes on every event that can change a gate (task, dependency, session and project events,
from this instance or, through the event hub, from others) and at least every `SWEEP_S`, then makes one scheduling
pass (`claims.gate_and_claim`: a single write transaction, so each task is claimed exactly once however many
instances share the database). It starts the sessions of the claims it made, and the exit checks of runs it
claimed whose agents reported complete. At startup it first settles claims an earlier run of this instance left
half done (`claims.reconcile_claims`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from app.db.tables import Task as TaskRow
from app.db.writer import Writer
from app.errors import MaestroError, NotFound
from app.models.events import EventRecord
from app.models.sessions import SessionSpawn
from app.services.events import log as event_log
from app.services.events.hub import EventHub, Filter, Reset, SlowConsumer
from app.services.orchestration import claims, outcomes
from app.services.orchestration.checks import run_check
from app.services.sessions.records import get_session
from app.services.sessions.runner import SessionRunner
from app.services.tasks.runs import plan_of

log = logging.getLogger("maestro.scheduler")

SWEEP_S = 2.0  # a pass at least this often, whatever the events say (a missed wake-up costs at most this)
WAKING_EVENTS = ("task.", "dependency.", "session.status_changed", "project.updated")


@dataclass
class Scheduler:
    """Starts planned runs and their exit checks on this instance."""

    writer: Writer
    hub: EventHub
    runner: SessionRunner
    host: str
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _work: set[asyncio.Task[None]] = field(default_factory=set)  # starts and checks in flight
    _checking: set[str] = field(default_factory=set)  # task ids whose check runs here now
    passes: int = 0

    async def run(self) -> None:
        """Settle half-done claims, then schedule until cancelled."""
        fixed = await claims.reconcile_claims(self.writer, self.host)
        if fixed:
            log.info("%d planned start(s) interrupted by the last stop settled", fixed)
        watcher = asyncio.create_task(self._watch(), name="maestro-scheduler-events")
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), SWEEP_S)
                self._wake.clear()
                try:
                    await self._pass()
                except MaestroError as exc:  # the database is unavailable, say: the next pass tries again
                    log.warning("scheduling pass failed: %s", exc)
                except Exception:
                    log.exception("scheduling pass failed")
        finally:
            watcher.cancel()
            for task in (watcher, *self._work):
                task.cancel()
            await asyncio.gather(watcher, *self._work, return_exceptions=True)

    def wake(self) -> None:
        """Make a pass soon."""
        self._wake.set()

    async def _watch(self) -> None:
        """Wake on every event that may open or close a gate."""
        after = await event_log.last_seq()
        while True:
            try:
                async for item in self.hub.subscribe(after, Filter(type_prefixes=WAKING_EVENTS)):
                    if isinstance(item, Reset):
                        after = item.last_seq
                    elif isinstance(item, EventRecord):
                        after = item.seq
                    self._wake.set()
                return  # the hub stopped
            except SlowConsumer as exc:
                after = exc.last_seq
                self._wake.set()

    async def _pass(self) -> None:
        self.passes += 1
        for claim in await claims.gate_and_claim(self.writer, self.host):
            self._spawn_work(self._start(claim), f"maestro-start-{claim.task_id}")
        checking = await TaskRow.select(TaskRow.id, TaskRow.run_session, TaskRow.run_plan).where(
            (TaskRow.run_state == "checking") & (TaskRow.run_host == self.host)
        )
        for row in checking:
            if row["id"] not in self._checking and row["run_session"]:
                self._checking.add(row["id"])
                self._spawn_work(self._check(row), f"maestro-check-{row['id']}")

    def _spawn_work(self, work: object, name: str) -> None:
        task = asyncio.ensure_future(work)  # type: ignore[arg-type]
        task.set_name(name)
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def _start(self, claim: claims.Claim) -> None:
        """Start the claimed run's session; a refusal fails the attempt with its reason."""
        plan = claim.plan
        request = SessionSpawn(
            project_id=claim.project_id,
            task_ids=[claim.task_id],
            profile=plan.profile,
            name=claim.title[:200],
            role=plan.role,
            skills=list(plan.skills),
            instructions=plan.instructions,
            isolation=plan.isolation,
            base_ref=plan.base_ref,
        )
        try:
            session = await self.runner.spawn(request, actor="maestro")
        except MaestroError as exc:
            await claims.record_start_failed(self.writer, claim, exc.detail)
            return
        except Exception as exc:
            log.exception("starting the planned run of task %s failed", claim.task_id)
            await claims.record_start_failed(self.writer, claim, f"internal error: {exc}")
            return
        await claims.record_started(self.writer, claim, session)

    async def _check(self, row: dict[str, object]) -> None:
        """Run a task's exit check in its session's directory and apply the result."""
        task_id, session_id = str(row["id"]), str(row["run_session"])
        try:
            plan = plan_of(row)  # type: ignore[arg-type]
            if plan is None or plan.check is None:
                return
            session = await get_session(session_id)
            result = await run_check(plan.check.command, session.cwd, plan.check.timeout_s, self.runner.base_env)
            if result.passed:
                await outcomes.check_passed(self.writer, task_id, session_id, plan, result)
                return
            live = self._is_live(session_id)
            if await outcomes.check_failed(self.writer, task_id, session_id, plan, result, agent_live=live):
                try:
                    self.runner.type_line(session_id, outcomes.instruction(task_id, plan, result))
                except MaestroError as exc:
                    why = f"{result.summary(plan.check.command)}, and its agent could not be told: {exc.detail}"
                    await outcomes.agent_gone(self.writer, task_id, session_id, why)
        except Exception:
            log.exception("the exit check of task %s failed to run", task_id)
        finally:
            self._checking.discard(task_id)

    def _is_live(self, session_id: str) -> bool:
        try:
            self.runner.get(session_id)
        except NotFound:
            return False
        return True
