"""REST routes for run plans: plan, unplan, run a tree, bump, decide (app.services.tasks.runs).

All of them may start or stop agents (a plan starts its profile by itself once the task is ready), so a session
token may use them only as an orchestrator, like spawning.
"""

from __future__ import annotations

from litestar import delete, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from app.db.writer import Writer
from app.errors import InvalidInput, NotFound
from app.models.runs import RunDecision, RunPlan, TreeRun, TreeRunResult
from app.models.tasks import Task
from app.services.agents import profiles
from app.services.runtime import Runtime
from app.services.tasks import runs
from app.web.deps import IdempotencyKeyHeader, TaskIdPath
from app.web.openapi import conflict, not_found

TAGS = ["runs"]
ORCHESTRATOR = {"agent": "orchestrator"}


def _known_profile(runtime: Runtime, plan: RunPlan) -> None:
    """Refuse a plan naming no profile now (it would only fail when the task becomes ready); a 400, like a spawn."""
    try:
        profiles.get_profile(runtime.settings.home, plan.profile)
    except NotFound as exc:
        raise InvalidInput(exc.detail, {"profile": plan.profile}) from exc


@put(
    "/tasks/{task_id:str}/plan",
    tags=TAGS,
    summary="Give a task a run plan",
    opt=ORCHESTRATOR,
    responses=not_found("No task found by the path"),  # PUT gets no derived 404 (see app.web.openapi)
)
async def put_plan(
    task_id: TaskIdPath,
    data: JSONBody[RunPlan],
    runtime: NamedDependency[Runtime],
    actor: NamedDependency[str],
) -> Task:
    """Replace the task's run plan: the profile Maestro starts on it by itself once every dependency is completed
    (within the project's max_agents), its exit check and failure policy. An unfinished task without a live run is
    armed (`run.state` waiting); a live run carries on. 400 for an unknown profile."""
    _known_profile(runtime, data)
    return await runs.set_plan(runtime.writer, task_id, data, actor)


@delete(
    "/tasks/{task_id:str}/plan",
    tags=TAGS,
    summary="Remove a task's run plan",
    opt=ORCHESTRATOR,
    status_code=HTTP_200_OK,
)
async def delete_plan(task_id: TaskIdPath, writer: NamedDependency[Writer], actor: NamedDependency[str]) -> Task:
    """Remove the plan: a run not started yet is disarmed (`run` becomes null), a live one carries on without it."""
    return await runs.clear_plan(writer, task_id, actor)


@post(
    "/tasks/{task_id:str}/run-tree",
    tags=TAGS,
    summary="Run a subtree",
    opt=ORCHESTRATOR,
    status_code=HTTP_200_OK,
)
async def run_tree(
    task_id: TaskIdPath,
    data: JSONBody[TreeRun],
    runtime: NamedDependency[Runtime],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> TreeRunResult:
    """Give `plan` to every unfinished, unarchived leaf of the task's subtree that has no plan yet (each then starts
    once its dependencies are completed); leaves with a plan keep theirs (`already_planned`). 400 when the subtree
    has no unfinished leaf, or for an unknown profile."""
    _known_profile(runtime, data.plan)
    return await runs.plan_tree(runtime.writer, task_id, data.plan, actor, idempotency_key)


@post(
    "/tasks/{task_id:str}/bump",
    tags=TAGS,
    summary="Move a planned task to the front of the queue",
    opt=ORCHESTRATOR,
    status_code=HTTP_200_OK,
    responses=conflict("The task's run is not waiting to start (not planned, or already started or ended)"),
)
async def bump(
    task_id: TaskIdPath,
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Task:
    """The task starts before every other queued task of its project once it is ready (`run.queue_position`)."""
    return await runs.bump(writer, task_id, actor, idempotency_key)


@post(
    "/tasks/{task_id:str}/run/decide",
    tags=TAGS,
    summary="Decide what happens to a failed run",
    opt=ORCHESTRATOR,
    status_code=HTTP_200_OK,
    responses=conflict(
        "The task's run has not failed and asks nobody (run.state is not failed, needs_person or "
        "ended_without_report), or retry without a run plan"
    ),
)
async def decide(
    task_id: TaskIdPath,
    data: JSONBody[RunDecision],
    writer: NamedDependency[Writer],
    actor: NamedDependency[str],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Task:
    """`retry`: armed again (a new attempt once ready); `skip`: the task completes without a passing run (its
    dependents may start); `stop`: the run stays failed and the tasks that depend on it stay blocked."""
    return await runs.decide(writer, task_id, data.action, actor, idempotency_key)


ROUTES = [put_plan, delete_plan, run_tree, bump, decide]
