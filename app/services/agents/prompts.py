"""The agent's prompt, composed from its session manifest: a system prompt (who, role, reporting) and a task prompt."""

from __future__ import annotations

from typing import NamedTuple

from app.models.manifests import Manifest, ManifestSkill, ManifestTask, RelatedTask

ROLE_INSTRUCTIONS = {
    "worker": (
        "Do the tasks below yourself, in the project's working directory. Start with a short plan, then work "
        "through it. Report progress at each milestone, report `blocked` or `needs_input` as soon as you cannot "
        "go on without someone else, and report `error` for failures you cannot fix. When every task is done and "
        'checked, finish with `maestro report complete "<summary>"` (it completes all your tasks and the session). '
        'Only that report completes a task: if you exit without it, your tasks are left "ended without report". '
        "A task may have an exit check that runs when you report it complete; if the check fails, Maestro types "
        "the failure to you as your next instruction: fix it and report complete again. "
        "A worker does not spawn other sessions."
    ),
    "orchestrator": (
        "Coordinate the tasks below rather than implementing them yourself. Decompose each into subtasks with "
        '`maestro task create --parent <task_id> "<title>"`, order them with `maestro task dep add <task_id> '
        "<depends_on_id>`, and let Maestro run them: `maestro task run-tree <task_id> --profile <profile> "
        '[--check "<command>"]` gives every unfinished leaf a run plan, and each starts by itself once its '
        "dependencies are completed (or plan one task with `maestro task plan <subtask_id> --profile <profile>`, "
        "or spawn a worker yourself with `maestro session spawn --task <subtask_id>`). Wait for them with "
        "`maestro task wait <task_id>…`, then read their reports and changes (`maestro task show`, `maestro task "
        "timeline`); re-plan, retry (`maestro task decide <task_id> retry`) or unblock when a worker is stuck. "
        "When the subtasks are done, synthesize and check the results against the "
        'task, then finish with `maestro report complete "<summary>"`. Only an orchestrator may spawn sessions; '
        "the workers it spawns may not."
    ),
}
NO_TASKS = "No tasks are assigned to this session: follow the user's instructions."


class Prompt(NamedTuple):
    """The prompt of an agent: `full` is the system prompt, then the task prompt if there is one."""

    system: str
    task: str
    full: str


def compose_prompt(manifest: Manifest) -> Prompt:
    """Compose the agent's prompt from its manifest (same manifest, same text: nothing here reads the clock)."""
    system = _system(manifest)
    task = _task_prompt(manifest)
    return Prompt(system=system, task=task, full=f"{system}\n\n{task}" if task else system)


def _system(m: Manifest) -> str:
    s = m.session
    lines = [
        "# Maestro session",
        "",
        f"You are an AI coding agent in Maestro session `{s.id}` ({_quoted(s.name)}), role **{s.role}**, "
        f"profile `{s.profile}`.",
        f"Project: {m.project.name} (`{m.project.id}`); working directory `{s.working_dir}`.",
    ]
    if m.worktree is not None:
        w = m.worktree
        lines.append(
            f"You work in your own git worktree on branch `{w.branch}` (made from `{w.base_ref}`): other agents "
            "cannot see or touch your files until a person reviews and merges them. Commit your work on this "
            "branch; do not switch branches or push."
        )
    if s.parent_session_id:
        lines.append(f"You were spawned by session `{s.parent_session_id}`.")
    lines.append(
        f"Your manifest (JSON, version {m.manifest_version}) is at `$MAESTRO_MANIFEST`; it holds everything below."
    )
    if m.tasks or s.role == "orchestrator":
        lines += ["", f"## Your role: {s.role}", "", ROLE_INSTRUCTIONS[s.role]]
    if not m.tasks:
        lines += ["", NO_TASKS]
    lines += ["", *_reporting(m, with_http=bool(m.tasks))]
    return "\n".join(lines)


def _reporting(m: Manifest, *, with_http: bool) -> list[str]:
    r = m.reporting
    lines = ["## Reporting", "", "Report with the Maestro CLI (`--task` names the task a report is about):", ""]
    lines += [f"- {kind}: `{r.cli[kind]}`" for kind in r.kinds if kind in r.cli]
    if with_http:
        lines += [
            "",
            "Without the CLI, POST JSON to the API (`kind` is one of " + ", ".join(r.kinds) + "):",
            "",
            "```sh",
            f'curl -sS -X POST "$MAESTRO_API_URL{r.endpoint}" \\',
            f'  -H "{r.auth}" -H "Content-Type: application/json" \\',
            f"  -d '{r.body}'",
            "```",
        ]
    return lines


def _task_prompt(m: Manifest) -> str:
    lines: list[str] = []
    if m.tasks:
        lines += ["# Your tasks" if len(m.tasks) > 1 else "# Your task"]
        for number, task in enumerate(m.tasks, start=1):
            lines += ["", *_task(task, number if len(m.tasks) > 1 else None)]
        if m.skills:
            lines += ["", "# Skills"]
            for skill in m.skills:
                lines += ["", *_skill(skill)]
    if m.instructions.strip():
        # Last, so it is what the agent reads just before it starts: the person's own words for this run.
        lines += ["", "# Instructions from the user", "", m.instructions.strip()]
    if not lines:
        return ""
    return "\n".join(lines).strip() + "\n"


def _task(t: ManifestTask, number: int | None) -> list[str]:
    heading = f"{number}. {t.title}" if number is not None else t.title
    lines = [f"## {heading}", "", f"Id `{t.id}` · status {t.status} · priority {t.priority}"]
    if t.ancestors:
        chain = " > ".join(f"{a.title} (`{a.id}`, {a.status})" for a in t.ancestors)
        more = f"… {t.ancestors_truncated} more above > " if t.ancestors_truncated else ""
        lines += ["", f"Part of: {more}{chain}"]
    if t.description.strip():
        lines += ["", t.description.strip()]
    if t.subtasks:
        lines += ["", "### Subtasks", "", *_outline(t.id, t.subtasks)]
        if t.subtasks_truncated:
            lines.append(f"- … and {t.subtasks_truncated} more (see `maestro task` or the API)")
    if t.dependencies:
        blocking = set(t.blocked_by)
        lines += ["", "### Depends on", ""]
        lines += [f"- {_ref(d)}{' — **still blocking**' if d.id in blocking else ''}" for d in t.dependencies]
        if t.dependencies_truncated:
            lines.append(f"- … and {t.dependencies_truncated} more")
    if t.blocked_by:
        count = f"{len(t.blocked_by)} unfinished dependenc{'y' if len(t.blocked_by) == 1 else 'ies'}"
        lines += ["", f"Blocked by {count}: prepare what you can, and report `blocked` if you cannot go on."]
    if t.dependents:
        waiting = ", ".join(_ref(d) for d in t.dependents)
        more = f" and {t.dependents_truncated} more" if t.dependents_truncated else ""
        lines += ["", f"Waiting on this task: {waiting}{more}."]
    return lines


def _outline(root_id: str, subtasks: list[RelatedTask]) -> list[str]:
    depth = {root_id: -1}
    lines = []
    for sub in subtasks:  # listed parents first, so every parent's depth is known
        depth[sub.id] = depth.get(sub.parent_id or root_id, -1) + 1
        box = "x" if sub.status == "completed" else " "
        lines.append(f"{'  ' * depth[sub.id]}- [{box}] {_ref(sub)}")
    return lines


def _skill(skill: ManifestSkill) -> list[str]:
    lines = [f"## Skill: {skill.name}"]
    if skill.description:
        lines += ["", skill.description]
    if skill.instructions.strip():
        lines += ["", skill.instructions.strip()]
    return lines


def _ref(t: RelatedTask) -> str:
    return f"{t.title} (`{t.id}`, {t.status})"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', "'") + '"'
