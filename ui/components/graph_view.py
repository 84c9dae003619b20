"""The run graph's drawing: each task a box coloured by its state with a few words for it ("queued #2", "blocked by
failed", "needs you"), each dependency an arrow from the task depended on to the task that waits for it.

The layout and the SVG are the browser's (static/graph.js with dagre, vendored under static/vendor); this module
decides what each box says and which colour it has, so the words are the same everywhere the page lists a task and
tests can read them from the element's props. Titles travel as data and are written by Vue as text, never as HTML.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from app.models.graphs import GraphNode, RunGraph
from app.resources import static_dir
from ui.components.run_badges import in_words
from ui.design import BLOCKED_BY_FAILED_COLOR, RUN_COLOR, RUN_WORDS, STATUS_COLOR, STATUS_LABEL

DAGRE = "/static/vendor/dagre-3.1.3/dagre.min.js"  # the address static/graph.js loads: a preload must name it exactly

RUN_STATE_COLOR = RUN_COLOR
BLOCKED_COLOR = BLOCKED_BY_FAILED_COLOR
RUN_STATE_WORD = {**RUN_WORDS, "failed": "failed"}  # a box says less: the run is implied
LIVE_RUN_STATES = ("starting", "running", "checking")  # their word pulses gently
PRIORITY_MARK = {"high": "high", "critical": "critical"}  # shown in a box's corner; low and medium stay quiet


def state_word(node: GraphNode, waiting_on: int = 0) -> str:
    """What a box says about its task's state: the run's state when it has one, else the task's status."""
    state = node.run_state
    if state is None:
        return STATUS_LABEL[node.status].lower()
    if state == "waiting" and node.failed_dependencies:
        return "blocked by failed"
    if state == "waiting" and waiting_on:
        return f"waits for {waiting_on}"
    if state == "queued" and node.queue_position is not None:
        return f"queued #{node.queue_position}"
    return RUN_STATE_WORD[state]


def state_color(node: GraphNode) -> str:
    """The Quasar colour of a box: its run state's, else its task status's."""
    if node.run_state is None:
        return STATUS_COLOR[node.status]
    if node.run_state == "waiting" and node.failed_dependencies:
        return BLOCKED_COLOR
    return RUN_STATE_COLOR[node.run_state]


def drawing(graph: RunGraph) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The props static/graph.js draws: one dict per box and one per arrow."""
    status = {n.id: n.status for n in graph.nodes}
    failed = {n.id for n in graph.nodes if n.run_state in ("failed", "needs_person", "ended_without_report")}
    open_deps: dict[str, int] = {}
    for edge in graph.edges:
        if status.get(edge.depends_on) != "completed":
            open_deps[edge.task_id] = open_deps.get(edge.task_id, 0) + 1
    titles = {n.id: n.title for n in graph.nodes}
    nodes = []
    for node in graph.nodes:
        word = state_word(node, open_deps.get(node.id, 0))
        tip = f"{node.title}\n{word}" + (f": {in_words(node.reason, titles)}" if node.reason else "")
        nodes.append(
            {
                "id": node.id,
                "title": node.title,
                "word": word,
                "color": state_color(node),
                "tip": tip,
                "mark": PRIORITY_MARK.get(node.priority, ""),
                "finished": node.status in ("completed", "cancelled"),
                "live": node.run_state in LIVE_RUN_STATES,
            }
        )
    edges = [
        {
            "from": e.depends_on,
            "to": e.task_id,
            "met": status.get(e.depends_on) == "completed",
            "failed": e.depends_on in failed,
        }
        for e in graph.edges
    ]
    return nodes, edges


def preload() -> None:
    """Have the browser fetch dagre while the page loads, so the first layout does not wait for it."""
    ui.add_head_html(f'<link rel="preload" as="script" href="{DAGRE}">')


class GraphView(ui.element, component=static_dir() / "graph.js"):
    """The drawing of a run graph (static/graph.js); `show` sends new states, and the boxes stay put unless the
    tasks or edges themselves changed."""

    def __init__(self, graph: RunGraph, *, max_height: str = "70vh") -> None:
        super().__init__()
        self._props["nodes"], self._props["edges"] = drawing(graph)
        self._props["max-height"] = max_height  # it grows with the graph up to this, then scrolls

    def show(self, graph: RunGraph) -> None:
        """Draw this graph (nothing is sent when nothing the drawing shows changed)."""
        nodes, edges = drawing(graph)
        if nodes == self._props["nodes"] and edges == self._props["edges"]:
            return
        self._props["nodes"], self._props["edges"] = nodes, edges
        self.update()

    def step(self, delta: int) -> None:
        """Move the keyboard focus to the next (+1) or previous (-1) task."""
        self.run_method("step", delta)
