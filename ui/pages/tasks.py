"""The task tree of a project: expand, search, change status and priority in place, add subtasks, move and reorder."""

from __future__ import annotations

from fastapi import Request
from nicegui import ui

from app.models.events import EventRecord
from app.models.tasks import Task
from ui.components.task_form import open_task_form
from ui.components.tree import TaskTree
from ui.context import tid
from ui.frame import frame
from ui.live import follow
from ui.pages.projects import project_or_not_found
from ui.runtime import runtime_of

TREE_EVENTS = frozenset({"task.created", "task.updated", "task.moved", "task.deleted"})
TOP_LEVEL = "__top__"  # the move dialog's value for "no parent" (a select cannot hold None as a key reliably)


@ui.page("/projects/{project_id}/tasks")
async def tree_page(request: Request, project_id: str) -> None:
    """Every live task of a project as an expandable tree; collapsed nodes do not draw their children."""
    runtime = runtime_of(request)
    found = await project_or_not_found(project_id)
    if found is None:
        return
    project, all_projects = found
    tree: TaskTree | None = None

    async def created(task: Task) -> None:
        if tree is None:
            return
        if task.parent_id:
            tree.expanded.update([task.parent_id, *tree.forest.ancestors(task.parent_id)])
        tree.selected = task.id
        await tree.reload()

    def form(parent: Task | None = None) -> None:
        # Dialogs live in one holder, emptied first: a closed form is dropped (not kept, matched by tests or
        # leaked), and a tree redraw cannot delete a form that is open.
        forms.clear()
        with forms:
            open_task_form(runtime, project_id=project.id, parent=parent, on_saved=created)

    def new_task() -> None:
        form()

    def add_subtask(parent: Task) -> None:
        form(parent)

    def open_selected() -> None:
        if tree is not None and tree.selected:
            ui.navigate.to(f"/tasks/{tree.selected}")

    keys = {
        "c": new_task,
        "/": lambda: search.run_method("focus"),
        "j": lambda: tree and tree.step(1),
        "k": lambda: tree and tree.step(-1),
        "ArrowDown": lambda: tree and tree.step(1),
        "ArrowUp": lambda: tree and tree.step(-1),
        "ArrowRight": lambda: tree and tree.open_selected(True),
        "ArrowLeft": lambda: tree and tree.open_selected(False),
        "Enter": open_selected,
    }
    with frame(f"{project.name} tasks", projects=all_projects, current=project, active="tasks", keys=keys):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(project.name).classes("text-xl font-semibold break-all")
            ui.space()
            search = ui.input(placeholder="Search tasks  ( / )")
            tid(search.props("dense outlined clearable debounce=250").classes("w-64"), "task-tree-search")
            expand = ui.button("Expand all", on_click=lambda: tree and tree.set_all(True))
            tid(expand.props("flat dense no-caps"), "task-tree-expand-all")
            collapse = ui.button("Collapse all", on_click=lambda: tree and tree.set_all(False))
            tid(collapse.props("flat dense no-caps"), "task-tree-collapse-all")
            tid(ui.button("New task", icon="add", on_click=new_task).props("unelevated"), "new-task")
        forms = ui.element("div")
        move = MoveDialog(lambda: tree)
        tree = TaskTree(runtime, project.id, on_add_subtask=add_subtask, on_move=move.open)

        def searched(value: str | None) -> None:
            tree.query = (value or "").strip()
            tree.draw()

        search.on_value_change(lambda e: searched(e.value))
        await tree.reload()
    follow(runtime.hub, lambda batch: tree.reload() if _changes_tree(batch) else None, project_id=project.id)


def _changes_tree(batch: list[EventRecord]) -> bool:
    """Only task changes redraw the tree (agents' reports and session activity do not); no events means re-read."""
    return not batch or any(record.type in TREE_EVENTS for record in batch)


class MoveDialog:
    """One dialog per tab: pick a new parent (any other task, or top level) for a task."""

    def __init__(self, tree) -> None:
        self.tree = tree
        self.task: Task | None = None
        with ui.dialog() as self.dialog, ui.card().classes("w-[32rem] max-w-full"):
            tid(self.dialog, "task-move-dialog")
            self.heading = ui.label("").classes("text-lg font-semibold break-all")
            self.target = ui.select({}, label="New parent", with_input=True).classes("w-full")
            tid(self.target.props("options-dense"), "task-move-target")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                tid(ui.button("Move", on_click=self.save).props("unelevated"), "task-move-save")

    def open(self, task: Task) -> None:
        """Show the dialog for one task; every other task is offered (the service refuses a cycle)."""
        tree = self.tree()
        self.task = task
        self.heading.text = f"Move '{task.title}' under…"
        options = {TOP_LEVEL: "Top level"}
        options.update({t.id: t.title for t in tree.forest.tasks.values() if t.id != task.id})
        self.target.set_options(options, value=task.parent_id or TOP_LEVEL)
        self.dialog.open()

    async def save(self) -> None:
        """Move; on a refusal the dialog stays open and the toast gives the reason."""
        tree = self.tree()
        if self.task is None or tree is None:
            return
        value = self.target.value
        parent_id = None if value in (None, TOP_LEVEL) else value
        if parent_id == self.task.parent_id:
            self.dialog.close()
            return
        if await tree.move_under(self.task, parent_id):
            self.dialog.close()
