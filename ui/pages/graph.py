"""The run graph page: a project's (or a subtree's) tasks and dependency edges with live run states, beside the ready
queue in start order (with "to front"), the running agents and the runs that wait for a decision.

The subtree lives in the URL (`?root=TASK_ID`), so a reload or a bookmark keeps the view. A live change re-reads
the graph (a few queries whatever its size); the drawing keeps every box in place unless tasks or edges changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import Request
from nicegui import ui

from app.errors import NotFound
from app.models.graphs import GraphNode, RunGraph
from app.models.projects import Project
from app.models.runs import FAILED_RUN_STATES
from app.models.sessions import Session
from app.services import sessions
from app.services.orchestration.graph import run_graph
from app.services.runtime import Runtime
from app.services.tasks.runs import bump
from ui.actions import run
from ui.components.graph_view import GraphView, preload, state_color, state_word
from ui.components.run_badges import in_words
from ui.components.task_form import open_task_form
from ui.context import UI_ACTOR, tid
from ui.design import PRIORITY_COLOR, PRIORITY_ICON, SESSION_COLOR
from ui.frame import frame
from ui.live import follow
from ui.pages.projects import project_deleted, project_or_not_found
from ui.runtime import runtime_of

WHOLE = ""  # the subtree picker's value for the whole project
LEGEND = (  # (word, colour) of the states a box can show, as the boxes colour them
    ("to do", "grey-7"),
    ("waiting", "blue-grey-5"),
    ("queued", "amber-9"),
    ("running", "blue-7"),
    ("checking", "purple-6"),
    ("done", "green-7"),
    ("needs you", "deep-orange-7"),
    ("failed", "red-7"),
    ("blocked by failed", "red-4"),
)


@dataclass
class View:
    """This tab's graph: the subtree shown (None: the whole project) and the graph as last read."""

    root: str | None
    graph: RunGraph
    panel_key: object = None
    hint: str | None = "unset"  # which teaching card shows (see _hint_kind)


@ui.page("/projects/{project_id}/graph")
async def graph_page(request: Request, project_id: str) -> None:
    """The run graph of one project, or of one task's subtree with ?root=TASK_ID."""
    runtime = runtime_of(request)
    found = await project_or_not_found(project_id)
    if found is None:
        return
    project, all_projects = found
    asked = request.query_params.get("root") or None
    missing_root = False
    try:
        view = View(root=asked, graph=await run_graph(project.id, asked))
    except NotFound:  # a root that is not (or no longer) this project's task: the whole project instead
        view = View(root=None, graph=await run_graph(project.id))
        missing_root = True
    preload()

    def new_task() -> None:
        forms.clear()
        with forms:
            open_task_form(runtime, project_id=project.id, on_saved=lambda _: reload())

    keys = {"c": new_task, "j": lambda: drawing.step(1), "k": lambda: drawing.step(-1)}
    with frame(f"{project.name} graph", projects=all_projects, current=project, active="graph", keys=keys, wide=True):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Run graph").classes("text-2xl font-semibold")
            ui.label(project.name).classes("text-xl text-grey-7 break-all")
            ui.space()
            picker = ui.select({WHOLE: "Whole project"}, value=WHOLE, label="Show", with_input=True)
            tid(picker.props("dense outlined options-dense").classes("w-64"), "graph-root")
            picker.tooltip("The whole project, or one task with everything under it")
            tid(ui.button("New task", icon="add", on_click=new_task).props("unelevated no-caps"), "new-task")
        if missing_root:
            note = ui.label("That task is not in this project (any more); here is the whole project.")
            tid(note.classes("text-sm text-orange-9"), "graph-root-missing")
        _legend()
        # Side by side from md up; on a narrow window the panel goes under the drawing instead of squeezing it.
        with ui.element("div").classes("w-full flex flex-col md:flex-row gap-4 items-start"):
            with ui.column().classes("w-full md:flex-1 min-w-0 gap-2"):
                hints = ui.column().classes("w-full gap-2")
                with ui.element("div").classes("w-full") as box:
                    drawing = tid(GraphView(view.graph, max_height="max(420px, calc(100vh - 250px))"), "graph")
            side = tid(ui.column().classes("w-full md:w-72 shrink-0 gap-3"), "graph-panel")
        forms = ui.element("div")  # the New task dialog's holder (a dialog floats: where it sits does not matter)

        @ui.refreshable
        async def panel() -> None:
            await _panel(runtime, view, reload)

        def show(graph: RunGraph) -> None:
            view.graph = graph
            drawing.show(graph)
            box.set_visibility(bool(graph.nodes))
            parents = {n.parent_id for n in graph.nodes if n.parent_id}
            options = {WHOLE: "Whole project"}
            options.update({n.id: n.title for n in graph.nodes if n.id in parents or n.id == view.root})
            picker.set_options(options, value=view.root or WHOLE)
            kind = _hint_kind(graph, view.root)
            if kind != view.hint:  # redrawn only when what to teach changes, not on every live update
                view.hint = kind
                hints.clear()
                with hints:
                    _hints(kind, new_task)

        async def reload() -> None:
            try:
                graph = await run_graph(project.id, view.root)
            except NotFound:
                if view.root is None:
                    raise  # the project is gone: ui.live says so and goes home
                ui.notify("The task this graph started from is gone; here is the whole project.", type="warning")
                await choose(None)
                return
            show(graph)
            key = await _panel_key(project, graph)
            if key != view.panel_key:
                view.panel_key = key
                panel.refresh()

        async def choose(root: str | None) -> None:
            view.root = root or None
            url = f"/projects/{project.id}/graph" + (f"?root={view.root}" if view.root else "")
            ui.run_javascript(f"history.replaceState(null, '', {json.dumps(url)})")  # bookmarkable, no reload
            await reload()

        show(view.graph)
        view.panel_key = await _panel_key(project, view.graph)
        with side:
            await panel()
        picker.on_value_change(lambda e: choose(e.value) if (e.value or None) != view.root else None)
    follow(runtime.hub, lambda _: reload(), project_id=project.id, gone=project_deleted)


def _legend() -> None:
    with ui.row().classes("w-full items-center gap-x-4 gap-y-1 text-xs text-grey-8"):
        ui.label(
            "Arrows run from a task to the tasks that wait for it. A planned task starts by itself once every task it "
            "depends on is done, up to the project's agent limit at once. Click a task (or Tab to it) to open it."
        ).classes("w-full text-sm text-grey-7")
        for word, colour in LEGEND:
            with ui.row().classes("items-center gap-1 no-wrap"):
                ui.element("span").classes(f"inline-block w-2.5 h-2.5 rounded-full bg-{colour}")
                ui.label(word)


def _hint_kind(graph: RunGraph, root: str | None) -> str | None:
    """Which teaching card the graph calls for: empty (project or subtree), no dependencies, no plans, or none."""
    if not graph.nodes:
        return "empty-subtree" if root else "empty"
    if not graph.edges:
        return "dependencies"
    if not any(n.planned for n in graph.nodes):
        return "plans"
    return None


def _hints(kind: str | None, new_task) -> None:
    """What to do next, when the graph is empty or has nothing to orchestrate yet."""
    if kind in ("empty", "empty-subtree"):
        with tid(ui.card().classes("w-full max-w-2xl gap-3 p-6"), "graph-empty"):
            with ui.row().classes("items-center gap-2"):
                ui.icon("schema", size="md").classes("text-grey-7")
                heading = "This subtree has no open tasks." if kind == "empty-subtree" else "No tasks yet."
                ui.label(heading).classes("text-lg font-semibold")
            ui.label(
                "The graph shows a project's tasks as boxes and their dependencies as arrows, with each run's state "
                "as it happens: what is queued, what runs, what waits for you."
            )
            _steps()
            tid(ui.button("New task", icon="add", on_click=new_task).props("unelevated no-caps"), "graph-empty-new")
        return
    if kind == "dependencies":
        with tid(ui.card().classes("w-full gap-1 p-4 m-surface shadow-none"), "graph-hint-dependencies"):
            ui.label("No dependencies yet, so nothing waits for anything.").classes("font-semibold")
            _steps(create=False)
    elif kind == "plans":
        with tid(ui.card().classes("w-full gap-1 p-4 m-surface shadow-none"), "graph-hint-plans"):
            ui.label("No run plans yet: Maestro starts nothing here by itself.").classes("font-semibold")
            ui.markdown(
                "Give a task a run plan (the agent profile to start) with `maestro task plan TASK_ID`, or plan every "
                "leaf of a subtree with `maestro task run-tree ROOT_ID`. Each then starts once the tasks it "
                "depends on are done."
            ).classes("text-sm")


def _steps(*, create: bool = True) -> None:
    steps = [
        "Add dependencies: on a task's page, pick what it waits for under Dependencies (Depends on…), or run "
        "`maestro task dep add TASK_ID DEPENDS_ON_ID`.",
        "Give tasks a run plan with `maestro task plan TASK_ID` (or `maestro task run-tree ROOT_ID` for every "
        "leaf of a subtree): Maestro starts each one by itself once everything it depends on is done.",
    ]
    if create:
        steps.insert(0, "Create tasks (c), and subtasks from a task's page.")
    listing = "\n".join(f"{number}. {text}" for number, text in enumerate(steps, start=1))
    ui.markdown(listing).classes("text-sm text-grey-8")  # our own words (never a title): commands as code


async def _panel_key(project: Project, graph: RunGraph) -> object:
    """What the side panel shows, to redraw it only when that changes."""
    named = await _panel_sessions(project.id, graph)
    shown = [
        (n.id, n.title, n.run_state, n.queue_position, n.session_id, n.reason, n.priority)
        for n in graph.nodes
        if n.id in graph.queue or n.id in graph.running or n.run_state in FAILED_RUN_STATES
    ]
    return (graph.queue, graph.running, graph.max_agents, shown, [(s.id, s.name, s.status) for s in named.values()])


async def _panel_sessions(project_id: str, graph: RunGraph) -> dict[str, Session]:
    """The sessions the side panel names: those of running tasks and of runs waiting for the person (one query,
    none when there are none)."""
    wanted = {
        n.session_id
        for n in graph.nodes
        if n.session_id and (n.id in graph.running or n.run_state in FAILED_RUN_STATES)
    }
    if not wanted:
        return {}
    found = await sessions.list_sessions(project_id=project_id, limit=500)
    return {s.id: s for s in found if s.id in wanted}


async def _panel(runtime: Runtime, view: View, reload) -> None:
    graph = view.graph
    nodes = {n.id: n for n in graph.nodes}
    named = await _panel_sessions(graph.project_id, graph)
    titles = {n.id: n.title for n in graph.nodes}
    names = {s.id: s.name for s in named.values() if s.name}
    # Each reason as people read it: ids become the task titles and session names they know.
    said = {n.id: in_words(n.reason, titles, names) for n in graph.nodes if n.reason}
    with tid(ui.card().classes("w-full gap-2 p-4"), "graph-running"):
        with ui.row().classes("w-full items-baseline gap-2"):
            ui.label("Running agents").classes("font-semibold")
            ui.space()
            count = ui.label(f"{len(graph.running)} of {graph.max_agents}").classes("text-sm text-grey-7")
            tid(count.tooltip("Planned runs Maestro keeps going at once in this project"), "graph-running-count")
        if not graph.running:
            ui.label("No planned run is running.").classes("text-sm text-grey-6")
        for task_id in graph.running:
            _running_row(nodes[task_id], said.get(task_id), named)
    with tid(ui.card().classes("w-full gap-2 p-4"), "graph-queue"):
        ui.label("Ready queue").classes("font-semibold")
        if not graph.queue:
            ui.label("Nothing is ready and waiting for an agent slot.").classes("text-sm text-grey-6")
        else:
            ui.label("Ready tasks start in this order as slots free up.").classes("text-xs text-grey-7")
        for index, task_id in enumerate(graph.queue):
            _queue_row(runtime, nodes[task_id], said.get(task_id), first=index == 0, reload=reload)
    decisions = [n for n in graph.nodes if n.run_state in FAILED_RUN_STATES]
    waiting = sum(1 for n in graph.nodes if n.run_state == "waiting" and not n.failed_dependencies)
    if decisions:
        with tid(ui.card().classes("w-full gap-2 p-4"), "graph-decisions"):
            ui.label("Waiting for you").classes("font-semibold")
            ui.label("Open a task to retry, skip or stop its run.").classes("text-xs text-grey-7")
            for node in decisions:
                _decision_row(node, said.get(node.id))
    if waiting:
        note = f"{waiting} planned task{'s' if waiting != 1 else ''} waiting for dependencies."
        tid(ui.label(note).classes("text-sm text-grey-7 px-1"), "graph-waiting")


def _dot(node: GraphNode) -> None:
    ui.element("span").classes(f"inline-block w-2.5 h-2.5 mt-1.5 shrink-0 rounded-full bg-{state_color(node)}")


def _task_link(node: GraphNode, reason: str | None) -> None:
    link = ui.link(node.title, f"/tasks/{node.id}").classes("text-sm break-words")
    tid(link.tooltip(reason) if reason else link, "graph-task-link")


def _running_row(node: GraphNode, reason: str | None, named: dict[str, Session]) -> None:
    with tid(ui.row().classes("w-full gap-2 no-wrap items-start"), "graph-running-item") as row:
        row.mark("graph-running-item", f"graph-running-{node.id}")
        _dot(node)
        with ui.column().classes("gap-0 min-w-0 grow"):
            _task_link(node, reason)
            with ui.row().classes("items-center gap-2 text-xs text-grey-7"):
                ui.label(state_word(node))
                if node.session_id:
                    session = named.get(node.session_id)
                    name = session.name if session and session.name else node.session_id
                    link = ui.link(target=f"/sessions/{node.session_id}").classes("flex items-center gap-0.5")
                    with tid(link.tooltip(f"Open the terminal of session {name}"), "graph-session-link"):
                        ui.icon("terminal", size="14px")
                        ui.label("terminal")
                    if session is not None and session.status not in ("running", "spawning"):
                        chip = ui.label(session.status.replace("_", " ")).classes("px-1.5 rounded text-white")
                        chip.classes(f"bg-{SESSION_COLOR[session.status]}")


def _queue_row(runtime: Runtime, node: GraphNode, reason: str | None, *, first: bool, reload) -> None:
    async def to_front() -> None:
        done = await run(bump(runtime.writer, node.id, UI_ACTOR), success=f"'{node.title}' starts next")
        if done is not None:
            await reload()

    with tid(ui.row().classes("w-full gap-2 no-wrap items-start"), "graph-queue-item") as row:
        row.mark("graph-queue-item", f"graph-queue-{node.id}")
        ui.label(f"#{node.queue_position or '?'}").classes("text-xs font-mono text-grey-7 mt-0.5 w-6 shrink-0")
        with ui.column().classes("gap-0 min-w-0 grow"):
            _task_link(node, reason)
            with ui.row().classes("items-center gap-1 text-xs text-grey-7"):
                ui.icon(PRIORITY_ICON[node.priority], size="14px").classes(f"text-{PRIORITY_COLOR[node.priority]}")
                ui.label(node.priority)
        if not first:
            button = ui.button(icon="vertical_align_top", on_click=to_front).props("flat dense round size=sm")
            tid(button.tooltip("Move to the front: it starts next"), "graph-bump").mark(
                "graph-bump", f"graph-bump-{node.id}"
            )


def _decision_row(node: GraphNode, reason: str | None) -> None:
    with tid(ui.row().classes("w-full gap-2 no-wrap items-start"), "graph-decision-item"):
        _dot(node)
        with ui.column().classes("gap-0 min-w-0 grow"):
            _task_link(node, reason)
            ui.label(state_word(node)).classes(f"text-xs text-{state_color(node)}")
            if reason:
                ui.label(reason).classes("text-xs text-grey-7 break-words")
