"""The project dialog (create or edit): errors appear beside the field they concern, nothing is lost on a refusal.

"Agents at once" is how many planned runs Maestro starts in the project at the same time; the others queue.

Its Git section holds how the project's agents get their checkout: in place or a worktree of their own by default,
the base branch, a setup command for a fresh worktree, local files copied into it, and how branches are merged.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from nicegui import ui

from app.errors import MaestroError
from app.models.projects import Project, ProjectCreate, ProjectUpdate
from app.models.runs import DEFAULT_MAX_AGENTS
from app.models.worktrees import ProjectGitSettings
from app.services import projects
from app.services.runtime import Runtime
from app.services.worktrees import gitflow
from ui.context import UI_ACTOR, tid

FIELDS = ("name", "working_dir", "description", "max_agents")
GIT_FIELDS = ("isolation", "base_ref", "setup_command", "copy_files", "merge_strategy")
ISOLATION_CHOICES = {"in_place": "In place (the project's folder)", "worktree": "Own worktree (a branch each)"}
MERGE_CHOICES = {"fast_forward": "Fast-forward only", "merge_commit": "Merge commit"}


def open_project_form(
    runtime: Runtime, *, project: Project | None = None, on_saved: Callable[[Project], Awaitable[None] | None]
) -> None:
    """Show the dialog; `on_saved` gets the created or updated project."""
    git = project.git if project else ProjectGitSettings()
    with ui.dialog() as dialog, ui.card().classes("w-[36rem] max-w-full"):
        tid(dialog, "project-form")
        ui.label("Edit project" if project else "New project").classes("text-lg font-semibold")
        name = tid(ui.input("Name", value=project.name if project else "").classes("w-full"), "project-name")
        working_dir = ui.input(
            "Working directory", value=project.working_dir if project else "", placeholder="/home/me/code/my-app"
        ).classes("w-full")
        tid(working_dir.props("hint='An existing folder: the agents work there'"), "project-working-dir")
        description = ui.textarea("Description (optional)", value=project.description if project else "")
        tid(description.classes("w-full").props("autogrow"), "project-description")
        max_agents = ui.number(
            "Agents at once", value=project.max_agents if project else DEFAULT_MAX_AGENTS, min=1, max=64, precision=0
        )
        max_agents.props("hint='Planned runs Maestro starts at the same time (1 to 64); the others queue'")
        tid(max_agents.classes("w-full"), "project-max-agents")
        git_inputs = _git_section(git)
        inputs: dict[str, Any] = {"name": name, "working_dir": working_dir, "description": description, **git_inputs}
        inputs["max_agents"] = max_agents
        problem = tid(ui.label("").classes("text-negative text-sm"), "project-form-error")

        def show_error(field: str | None, message: str) -> None:
            for key, element in inputs.items():
                element.props["error"] = key == field
                element.props["error-message"] = message if key == field else None
                element.update()
            problem.text = "" if field in inputs else message

        async def save() -> None:
            values: dict[str, Any] = {"name": name.value.strip(), "working_dir": working_dir.value.strip()}
            values["description"] = description.value or ""
            values["max_agents"] = int(max_agents.value) if max_agents.value is not None else 0
            values["git"] = _git_values(git_inputs)
            try:
                if project is None:
                    body = msgspec.convert(values, ProjectCreate)
                    await _check_git(body.working_dir, body.git)
                    saved = await projects.create_project(runtime.writer, body, UI_ACTOR)
                else:
                    changed = {k: v for k, v in values.items() if _current(project, k) != v}
                    body_update = msgspec.convert(changed, ProjectUpdate)
                    await _check_git(values["working_dir"], msgspec.convert(values["git"], ProjectGitSettings))
                    saved = await projects.update_project(runtime.writer, project.id, body_update, UI_ACTOR)
            except msgspec.ValidationError as exc:
                show_error(_field_of(str(exc)), _friendly(str(exc), values["git"]["copy_files"]))
                return
            except FieldError as exc:
                show_error(exc.field, exc.message)
                return
            except MaestroError as exc:
                field = next(iter(exc.extra), None) if isinstance(exc.extra, dict) else None
                if "name" in exc.detail and "already exists" in exc.detail:
                    field = "name"
                show_error(field, exc.detail)
                return
            dialog.close()
            result = on_saved(saved)
            if hasattr(result, "__await__"):
                await result

        for field in (name, working_dir, git_inputs["base_ref"], git_inputs["setup_command"]):
            field.on("keydown.enter", save)  # Enter in a one-line field submits, as in any form
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            tid(ui.button("Save" if project else "Create project", on_click=save).props("unelevated"), "project-save")
    dialog.on("hide", dialog.delete)  # a closed form is gone: old inputs never linger in the page
    dialog.open()


def _git_section(git: ProjectGitSettings) -> dict[str, Any]:
    """The Git fields, filled from the project's settings."""
    with ui.column().classes("w-full gap-1 pt-2"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.icon("call_split", size="sm").classes("text-grey-7")
            ui.label("Git").classes("text-base font-semibold")
            ui.label("how agents get their checkout").classes("text-sm text-grey-7")
        with ui.row().classes("w-full gap-3 no-wrap"):
            isolation = ui.select(ISOLATION_CHOICES, value=git.isolation, label="Agents work by default")
            tid(isolation.classes("grow"), "project-git-isolation")
            merge = ui.select(MERGE_CHOICES, value=git.merge_strategy, label="Merge strategy")
            tid(merge.classes("w-48"), "project-git-merge-strategy")
        base = ui.input("Base branch (optional)", value=git.base_ref, placeholder="the branch checked out now")
        base.props("stack-label")
        tid(
            base.props("hint='New worktrees branch off it, and merge back into it'").classes("w-full"),
            "project-git-base",
        )
        setup = ui.input("Setup command (optional)", value=git.setup_command, placeholder="npm ci")
        setup.props("stack-label input-class=font-mono hint='Runs in each new worktree before the agent starts'")
        tid(setup.classes("w-full"), "project-git-setup")
        copy = ui.textarea("Files to copy (optional)", value="\n".join(git.copy_files), placeholder=".env")
        copy.props("autogrow rows=1 stack-label input-class=font-mono")
        copy.props("hint='Untracked files copied into each new worktree, comma or newline separated'")
        tid(copy.classes("w-full"), "project-git-copy-files")
    return {
        "isolation": isolation,
        "base_ref": base,
        "setup_command": setup,
        "copy_files": copy,
        "merge_strategy": merge,
    }


def _git_values(inputs: dict[str, Any]) -> dict[str, Any]:
    """The Git section as the settings' fields (files split on commas and new lines)."""
    names = [n.strip() for n in re.split(r"[,\n]", inputs["copy_files"].value or "") if n.strip()]
    return {
        "isolation": inputs["isolation"].value,
        "base_ref": (inputs["base_ref"].value or "").strip(),
        "setup_command": (inputs["setup_command"].value or "").strip(),
        "copy_files": list(dict.fromkeys(names)),
        "merge_strategy": inputs["merge_strategy"].value,
    }


def _current(project: Project, key: str) -> Any:
    return msgspec.to_builtins(project.git) if key == "git" else getattr(project, key)


class FieldError(Exception):
    """A value the form refuses before saving, said beside `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


async def _check_git(working_dir: str, git: ProjectGitSettings) -> None:
    """What would only fail at an agent's start is said now: worktree mode needs a repository, the base must exist,
    files to copy stay inside the checkout. A folder that does not exist is left to the project service to refuse."""
    try:
        gitflow.check_copy_names(list(git.copy_files))
    except MaestroError as exc:
        raise FieldError("copy_files", exc.detail) from None
    if not (git.isolation == "worktree" or git.base_ref) or not Path(working_dir).is_dir():  # noqa: ASYNC240
        return
    try:
        repo = await gitflow.repo_root(Path(working_dir))
    except MaestroError as exc:
        raise FieldError("isolation" if git.isolation == "worktree" else "base_ref", exc.detail) from None
    if git.base_ref:
        try:
            await gitflow.resolve_commit(repo, git.base_ref)
        except MaestroError as exc:
            raise FieldError("base_ref", exc.detail) from None


def _field_of(message: str) -> str | None:
    for field in GIT_FIELDS:
        if f"`$.git.{field}" in message:
            return field
    for field in FIELDS:
        if f"`$.{field}`" in message:
            return field
    return None


def _friendly(message: str, copy_files: list[str]) -> str:
    """msgspec's validation messages name the rule; say it the way a person would (naming the file at fault)."""
    if "`$.name`" in message:
        return "A name is needed (at most 200 characters)"
    if "`$.max_agents`" in message:
        return "A whole number from 1 to 64"
    if "`$.working_dir`" in message:
        return "Give the folder as an absolute path, like /home/me/code/app"
    if "`$.git.base_ref`" in message:
        return "A branch, tag or commit: letters, digits and . _ / @ ^ ~ + - (at most 200 characters)"
    if "`$.git.setup_command`" in message:
        return "The setup command is too long (at most 4,096 characters)"
    if found := re.search(r"`\$\.git\.copy_files\[(\d+)\]`", message):
        name = copy_files[int(found.group(1))]
        return f"cannot copy {name!r}: give a path inside the repository, like .env or config/local.toml (no '..')"
    if "`$.git.copy_files`" in message:
        return "At most 100 files to copy"
    return message
