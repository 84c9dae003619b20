"""The task tree: an in-memory forest of a project's tasks, drawn lazily (only expanded nodes draw their children)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from nicegui import ui

from app.models.common import utcnow
from app.models.tasks import Task, TaskMove, TaskUpdate
from app.services import tasks
from app.services.runtime import Runtime
from ui.actions import run
from ui.components.run_badges import run_badge
from ui.context import UI_ACTOR, tid
from ui.design import PRIORITY_COLOR, STATUS_COLOR, STATUS_LABEL

PAGE = 500
ROW_BUDGET = 200  # rows one draw may add; past it, "show more" buttons (the server stays responsive)
LEVEL_LIMIT = 100  # children drawn per node (or top-level tasks) before "show more": a flat list of 1,000 stays light
PRIORITY_LABEL = {p: p.capitalize() for p in PRIORITY_COLOR}


@dataclass
class Forest:
    """A project's live tasks as a forest; a task whose parent is hidden (archived) is hidden with it."""

    tasks: dict[str, Task] = field(default_factory=dict)
    children: dict[str | None, list[Task]] = field(default_factory=dict)

    @classmethod
    def build(cls, items: list[Task]) -> Forest:
        """Index tasks by parent, siblings by position; keep only what is reachable from the top level."""
        by_parent: dict[str | None, list[Task]] = {}
        for task in items:
            by_parent.setdefault(task.parent_id, []).append(task)
        for kids in by_parent.values():
            kids.sort(key=lambda t: (t.position, t.id))
        forest = cls()
        stack = [None]
        while stack:  # iterative: a deep chain must not exhaust Python's recursion limit
            parent = stack.pop()
            kids = by_parent.get(parent, [])
            if kids:
                forest.children[parent] = kids
            for task in kids:
                forest.tasks[task.id] = task
                stack.append(task.id)
        return forest

    def ancestors(self, task_id: str) -> list[str]:
        """Parent, grandparent, … of a task (nearest first)."""
        chain: list[str] = []
        parent = self.tasks[task_id].parent_id if task_id in self.tasks else None
        while parent is not None and parent in self.tasks and parent not in chain:
            chain.append(parent)
            parent = self.tasks[parent].parent_id
        return chain

    def matches(self, text: str) -> set[str]:
        """Tasks whose title or description contains the text (case-insensitive)."""
        needle = text.lower()
        return {t.id for t in self.tasks.values() if needle in t.title.lower() or needle in t.description.lower()}

    def revealed(self, matches: set[str]) -> set[str]:
        """Every ancestor of a match: these open so that a match inside a collapsed parent shows."""
        return {a for m in matches for a in self.ancestors(m)}

    def preorder(self, opened: set[str]) -> list[str]:
        """Visible task ids top to bottom, descending only into opened nodes."""
        order: list[str] = []
        stack = list(reversed(self.children.get(None, [])))
        while stack:
            task = stack.pop()
            order.append(task.id)
            if task.id in opened:
                stack.extend(reversed(self.children.get(task.id, [])))
        return order

    def replace(self, task: Task) -> None:
        """Swap in a task's new version (same parent and position), e.g. after a status change."""
        if task.id not in self.tasks:
            return
        self.tasks[task.id] = task
        kids = self.children.get(task.parent_id, [])
        for index, old in enumerate(kids):
            if old.id == task.id:
                kids[index] = task


async def load_forest(project_id: str) -> Forest:
    """Every live task of the project, in pages of 500, as a forest."""
    items: list[Task] = []
    cursor = None
    while True:
        page = await tasks.list_tasks(project_id=project_id, sort="position", limit=PAGE, cursor=cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return Forest.build(items)


class TaskTree:
    """This tab's tree: what is expanded, the search text, the keyboard cursor, and the rows drawn for them."""

    def __init__(
        self,
        runtime: Runtime,
        project_id: str,
        *,
        on_add_subtask: Callable[[Task], None],
        on_move: Callable[[Task], None],
    ) -> None:
        self.runtime = runtime
        self.project_id = project_id
        self.on_add_subtask = on_add_subtask
        self.on_move = on_move
        self.forest = Forest()
        self.expanded: set[str] = set()
        self.query = ""
        self.selected: str | None = None
        self.shown: dict[str | None, int] = {}
        self.budget = ROW_BUDGET
        self.rows: dict[str, ui.row] = {}
        self.boxes: dict[str, ui.column] = {}
        self.toggles: dict[str, ui.button] = {}
        self.matches: set[str] | None = None
        self.titles: dict[str, str] = {}  # by task id, for run badges ("blocked by failed …"); set by draw()
        self.now = utcnow()
        self.summary = tid(ui.label("").classes("text-sm text-grey-7"), "task-tree-summary")
        self.container = tid(ui.column().classes("w-full gap-0"), "task-tree")

    async def reload(self) -> None:
        """Re-read the project's tasks and redraw, keeping what is expanded and selected."""
        self.forest = await load_forest(self.project_id)
        self.draw()

    def opened(self) -> set[str]:
        """Nodes whose children show: the expanded ones and, while searching, the ancestors of every match."""
        if self.matches is None:
            return self.expanded
        return self.expanded | self.forest.revealed(self.matches)

    def draw(self) -> None:
        """Draw the whole tree (only opened nodes draw their children)."""
        self.now = utcnow()
        self.titles = {task_id: task.title for task_id, task in self.forest.tasks.items()}
        self.matches = self.forest.matches(self.query) if self.query else None
        self.container.clear()
        self.rows.clear()
        self.boxes.clear()
        self.toggles.clear()
        total = len(self.forest.tasks)
        if self.matches is None:
            self.summary.text = f"{total} task{'s' if total != 1 else ''}"
        else:
            self.summary.text = f"{len(self.matches)} of {total} tasks match"
        if not total:
            with self.container:
                tid(ui.label("No tasks yet: press c or use New task."), "task-tree-empty").classes("text-grey-7")
            return
        self._fill(None, self.container, 0, self.opened())

    def _fill(self, parent: str | None, box: ui.element, depth: int, opened: set[str]) -> None:
        # Breadth first, within a row budget: upper levels draw before deeper ones, and an "expand all" of a
        # thousand tasks draws a few hundred rows plus "show more" instead of blocking the server for seconds.
        left = self.budget
        work: deque[tuple[str | None, ui.element, int]] = deque([(parent, box, depth)])
        while work:  # iterative, for the same reason as Forest.build
            parent_id, target, level = work.popleft()
            kids = self.forest.children.get(parent_id, [])
            limit = min(self.shown.get(parent_id, LEVEL_LIMIT), max(left, 0))
            with target:
                for task in kids[:limit]:
                    child_box = self._node(task, level, task.id in opened)
                    if child_box is not None:
                        work.append((task.id, child_box, level + 1))
                left -= min(limit, len(kids))
                if len(kids) > limit:
                    self._more(parent_id, len(kids) - limit, level)

    def _more(self, parent_id: str | None, hidden: int, level: int) -> None:
        def more() -> None:
            self.shown[parent_id] = self.shown.get(parent_id, LEVEL_LIMIT) + LEVEL_LIMIT * 5
            self.budget += ROW_BUDGET
            self.draw()

        button = ui.button(f"Show {hidden} more", on_click=more).props("flat dense no-caps")
        tid(button.style(f"margin-left: {_indent(level)}"), "task-tree-more")

    def _node(self, task: Task, level: int, is_open: bool) -> ui.column | None:
        """One task's row; returns the box its children go in when it is open and has any."""
        has_kids = bool(self.forest.children.get(task.id))
        with ui.column().classes("w-full gap-0"):
            self._row(task, level, has_kids, is_open)
            if is_open and has_kids:
                self.boxes[task.id] = ui.column().classes("w-full gap-0")
                return self.boxes[task.id]
        return None

    def _row(self, task: Task, level: int, has_kids: bool, is_open: bool) -> None:
        # Rows are kept cheap (a thousand of them may be drawn): pickers and the move menu are plain chips and a
        # button until used; the real select or menu is created on the first click.
        # On a phone the title keeps a line of its own (not cut to a few letters) and the chips wrap under it.
        row = ui.row().classes("w-full items-center gap-1 no-wrap max-sm:flex-wrap py-0.5 rounded hover:bg-grey-2")
        tid(row, "task-row").mark("task-row", f"task-row-{task.id}")  # the second mark lets a test pick one row
        row.props(f"data-task-id={task.id}").style(f"padding-left: {_indent(level)}")
        if self.matches is not None and task.id not in self.matches:
            row.classes("opacity-40")  # searching: what does not match is dimmed, not hidden
        if task.id == self.selected:
            row.classes("bg-amber-2")
        self.rows[task.id] = row
        with row:
            if has_kids:
                toggle = ui.button(icon="expand_more" if is_open else "chevron_right")
                toggle.on_click(lambda t=task: self.toggle(t.id))
                toggle.props(f'flat dense round size=sm aria-label="{"Collapse" if is_open else "Expand"}"')
                self.toggles[task.id] = tid(toggle, "task-toggle")
            else:
                ui.element("div").classes("w-6 shrink-0")
            link = tid(ui.link(task.title, f"/tasks/{task.id}"), "task-link")
            link.classes("grow truncate text-body2 no-underline text-inherit hover:underline")
            link.classes("max-sm:basis-[calc(100%-2rem)] max-sm:whitespace-normal max-sm:break-words")
            if self.matches is not None and task.id in self.matches:
                link.classes("font-bold")
            if task.run is not None or task.run_plan is not None:
                run_badge(task, self.titles, self.now, light=True)  # native tooltips: rows stay cheap
            count = len(self.forest.children.get(task.id, []))
            if count:
                ui.badge(str(count)).props("outline color=grey-7").classes("shrink-0")
            self._chip(row, task, "status", STATUS_LABEL[task.status], f"color={STATUS_COLOR[task.status]}")
            self._chip(
                row, task, "priority", PRIORITY_LABEL[task.priority], f"outline color={PRIORITY_COLOR[task.priority]}"
            )
            add = ui.button(icon="add", on_click=lambda t=task: self.on_add_subtask(t))
            tid(add.props('flat dense round size=sm title="Add subtask" aria-label="Add subtask"'), "task-add-subtask")
            menu = ui.button(icon="more_vert")
            menu.on_click(lambda t=task, b=menu: self._menu(b, t))
            tid(
                menu.props('flat dense round size=sm title="Move or reorder" aria-label="Move or reorder"'), "task-menu"
            )

    def _chip(self, row: ui.row, task: Task, field_name: str, text: str, props: str) -> None:
        chip = ui.badge(text).props(f"{props} role=button").classes("cursor-pointer shrink-0")
        tid(chip, f"task-{field_name}").props(f'title="Change {field_name}"')
        chip.on("click", lambda: self._picker(row, chip, task, field_name))

    def _picker(self, row: ui.row, chip: ui.badge, task: Task, field_name: str) -> None:
        """Swap a chip for its select, opened (a select per row up front would cost a thousand selects)."""
        options = STATUS_LABEL if field_name == "status" else PRIORITY_LABEL
        with row:
            select = ui.select(options, value=getattr(task, field_name))
        select.props("dense borderless options-dense").classes("w-32 shrink-0" if field_name == "status" else "w-24")
        select.on_value_change(lambda e: self._set(task.id, **{field_name: e.value}))
        tid(select, f"task-{field_name}-select")
        select.move(row, target_index=list(row.default_slot.children).index(chip))
        chip.delete()
        select.run_method("showPopup")

    def _menu(self, button: ui.button, task: Task) -> None:
        """Open the row's menu (created on first use): move up, move down, move under another parent."""
        existing = next((c for c in button.default_slot.children if isinstance(c, ui.menu)), None)
        if existing is not None:
            existing.open()
            return
        with button, ui.menu() as menu:
            for name, label, handler in (
                ("task-up", "Move up", lambda: self.reorder(task, -1)),
                ("task-down", "Move down", lambda: self.reorder(task, 1)),
                ("task-move", "Move under another parent…", lambda: self.on_move(task)),
            ):
                tid(ui.menu_item(label, on_click=handler), name)
        menu.open()

    def toggle(self, task_id: str) -> None:
        """Expand or collapse one node; expanding draws its children now (and only then)."""
        if task_id in self.opened():
            self.expanded.discard(task_id)
            if self.matches is not None and task_id in self.forest.revealed(self.matches):
                self.draw()  # a revealed ancestor stays open while searching
                return
            box = self.boxes.pop(task_id, None)
            if box is not None:
                box.delete()
            if task_id in self.toggles:
                self.toggles[task_id].set_icon("chevron_right")
            return
        self.expanded.add(task_id)
        row = self.rows.get(task_id)
        if row is None or task_id in self.boxes:
            self.draw()
            return
        node = row.parent_slot.parent if row.parent_slot else None
        if node is None:
            self.draw()
            return
        with node:
            self.boxes[task_id] = ui.column().classes("w-full gap-0")
        level = len(self.forest.ancestors(task_id)) + 1
        self._fill(task_id, self.boxes[task_id], level, self.opened())
        self.toggles[task_id].set_icon("expand_more")

    def set_all(self, expanded: bool) -> None:
        """Expand every node (draws everything) or collapse every node."""
        self.expanded = {p for p in self.forest.children if p is not None} if expanded else set()
        self.draw()

    async def _set(self, task_id: str, **fields: str) -> None:
        task = self.forest.tasks.get(task_id)
        if task is None or all(getattr(task, k) == v for k, v in fields.items()):
            return  # a redraw setting the picker's own value, not a change
        body = msgspec.convert(fields, TaskUpdate)
        updated = await run(tasks.update_task(self.runtime.writer, task_id, body, UI_ACTOR))
        if updated is None:
            self.draw()  # refused: the picker goes back to the stored value; the toast says why
        else:
            self.forest.replace(updated)

    async def reorder(self, task: Task, step: int) -> None:
        """Move a task one place up or down among its siblings."""
        kids = self.forest.children.get(task.parent_id, [])
        index = next((i for i, t in enumerate(kids) if t.id == task.id), None)
        if index is None or not 0 <= index + step < len(kids):
            return
        body = TaskMove(position=kids[index + step].position)
        if await run(tasks.move_task(self.runtime.writer, task.id, body, UI_ACTOR)) is not None:
            await self.reload()

    async def move_under(self, task: Task, parent_id: str | None) -> bool:
        """Give a task a new parent (None: top level); a refusal (a cycle) is a toast and changes nothing."""
        body = msgspec.convert({"parent_id": parent_id}, TaskMove)
        moved = await run(tasks.move_task(self.runtime.writer, task.id, body, UI_ACTOR), success="Moved")
        if moved is None:
            return False
        if parent_id is not None:
            self.expanded.update([parent_id, *self.forest.ancestors(parent_id)])  # show it where it went
        self.selected = task.id
        await self.reload()
        return True

    def step(self, delta: int) -> None:
        """Move the keyboard cursor down (1) or up (-1) through the visible rows."""
        order = [i for i in self.forest.preorder(self.opened()) if i in self.rows]
        if not order:
            return
        index = order.index(self.selected) if self.selected in order else -1
        self.select(order[max(0, min(len(order) - 1, index + delta))])

    def select(self, task_id: str) -> None:
        """Highlight one row (without redrawing) and scroll it into view."""
        old = self.rows.get(self.selected or "")
        if old is not None:
            old.classes(remove="bg-amber-2")
        self.selected = task_id
        row = self.rows.get(task_id)
        if row is not None:
            row.classes("bg-amber-2")
            ui.run_javascript(f"document.getElementById('c{row.id}')?.scrollIntoView({{block: 'nearest'}})")

    def open_selected(self, is_open: bool) -> None:
        """Expand (True) or collapse (False) the selected node."""
        if self.selected and self.forest.children.get(self.selected) and (self.selected in self.opened()) != is_open:
            self.toggle(self.selected)


def _indent(level: int) -> str:
    return f"{min(level, 20) * 1.25}rem"  # deeper than 20 levels still reads as nested without running off-screen
