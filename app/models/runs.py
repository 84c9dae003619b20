"""Run plans: what Maestro starts by itself once a task's dependencies are completed, and how each run went.

A task with a run plan is *armed*: when every dependency is completed it is queued, and when its project has a
free agent slot (`Project.max_agents`) Maestro starts the plan's profile on it, once. An agent's "complete" report
passes only if the plan's exit check (when it names one) passes; failures follow the plan's failure policy.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.models.common import NOT_BLANK, Input, LongText, ProfileName, Role, SessionId, SkillList, TaskId, values_of
from app.models.worktrees import Isolation, RefName

# waiting: dependencies not all completed · queued: ready, waiting for an agent slot · starting: an instance took
# it and is starting its session · running: its session runs · checking: the agent reported complete, the exit check
# runs · done: completed (check passed) · failed: the run failed and the policy stops there · needs_person: the
# policy asks the person what to do · ended_without_report: its session ended without reporting complete.
RunState = Literal[
    "waiting", "queued", "starting", "running", "checking", "done", "failed", "needs_person", "ended_without_report"
]
RUN_STATES = values_of(RunState)
ACTIVE_RUN_STATES = ("starting", "running", "checking")  # what counts against a project's agent limit
ARMED_RUN_STATES = ("waiting", "queued")  # what the scheduler may still start
# What makes downstream tasks "blocked by failed …": the run ended badly and nobody has decided yet.
FAILED_RUN_STATES = ("failed", "needs_person", "ended_without_report")
FailurePolicy = Literal["stop", "retry", "ask"]
FAILURE_POLICIES = values_of(FailurePolicy)
Decision = Literal["retry", "skip", "stop"]  # what a person answers to a run that needs them (or has failed)

CheckCommand = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=NOT_BLANK)]
CheckTimeout = Annotated[int, msgspec.Meta(ge=1, le=86_400)]
Retries = Annotated[int, msgspec.Meta(ge=0, le=10)]
MaxAgents = Annotated[int, msgspec.Meta(ge=1, le=64)]
DEFAULT_MAX_AGENTS = 3
DEFAULT_CHECK_TIMEOUT_S = 600


class ExitCheck(Input):
    """A command run (through /bin/sh) in the task's working directory when its agent reports complete."""

    command: CheckCommand
    timeout_s: CheckTimeout = DEFAULT_CHECK_TIMEOUT_S


class RunPlan(Input):
    """Body of PUT /tasks/{id}/plan, and the plan as stored: what to start on the task once it is ready."""

    profile: ProfileName
    role: Role = "worker"
    skills: SkillList = []
    instructions: LongText = ""
    isolation: Isolation | None = None  # None: the project's setting
    base_ref: RefName | None = None
    check: ExitCheck | None = None
    on_failure: FailurePolicy = "stop"
    retries: Retries = 2  # with on_failure "retry": how many more attempts after the first


class TreeRun(Input):
    """Body of POST /tasks/{id}/run-tree: the plan every unfinished leaf of the subtree without one gets."""

    plan: RunPlan


class RunDecision(Input):
    """Body of POST /tasks/{id}/run/decide: retry the run, skip it (the task counts as completed), or stop."""

    action: Decision


class StateReason(msgspec.Struct, kw_only=True):
    """Why a task or session is in its state: what happened, who did it, when, and the event that recorded it."""

    why: str
    by: str
    at: dt.datetime
    event: str = ""


class TaskRun(msgspec.Struct, kw_only=True):
    """How a task's run stands: its state and why, the attempt, the session, the queue position when queued."""

    state: RunState
    attempt: int = 0
    session_id: SessionId | None = None
    reason: StateReason | None = None
    queue_position: int | None = None  # 1 = next to start, when queued
    failed_dependencies: list[TaskId] = []  # dependencies whose runs failed: this task waits on a decision


class TreeRunResult(msgspec.Struct, kw_only=True):
    """What POST /tasks/{id}/run-tree did: the tasks it planned and the ones that already had a plan."""

    planned: list[TaskId]
    already_planned: list[TaskId]
