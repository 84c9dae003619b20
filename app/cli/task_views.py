"""`maestro task list` (a table, or the tree with --tree) and `maestro task show`: tasks with their context."""

from __future__ import annotations

from typing import Any

import click
from rich.tree import Tree

from app.cli.client import ApiClient, ApiError
from app.cli.common import (
    PROJECT,
    SESSION_STYLE,
    TASK_ID,
    TASK_STYLE,
    all_tasks,
    api_client,
    chosen_project,
    console,
    echo_json,
    json_option,
    new_table,
    print_table,
    project_names,
    styled,
    text,
    when,
)
from app.models.common import TASK_STATUSES

RUN_STYLE = {
    "queued": "cyan",
    "starting": "cyan",
    "running": "green",
    "checking": "magenta",
    "done": "green",
    "failed": "red",
    "needs_person": "bold yellow",
    "ended_without_report": "red",
}


@click.command("list")
@click.option(
    "--project",
    type=PROJECT,
    default=None,
    help="Only this project's tasks (id or name) [default: $MAESTRO_PROJECT_ID; without it, every project's].",
)
@click.option(
    "--status", "statuses", multiple=True, type=click.Choice(TASK_STATUSES), help="Only this status. Repeatable."
)
@click.option("--parent", "parent_id", default=None, metavar="TASK_ID|root", help="Only children of this task.")
@click.option("--search", default=None, help="Only tasks whose title or description contains this text.")
@click.option("--archived", is_flag=True, help="Include archived tasks.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True, help="At most this many.")
@click.option("--tree", is_flag=True, help="Print the task tree (every task; the filters mark what matches).")
@json_option("Print the tasks as a JSON array (with --tree: nested {task, children} nodes).")
def list_cmd(
    project: str | None,
    statuses: tuple[str, ...],
    parent_id: str | None,
    search: str | None,
    archived: bool,
    limit: int,
    tree: bool,
    as_json: bool,
) -> None:
    """List tasks, oldest first: title, status, priority, parent and id; or the whole tree with --tree."""
    if parent_id not in (None, "root"):
        parent_id = TASK_ID.convert(parent_id, None, None)
    with api_client() as client:
        project_id = chosen_project(client, project)
        names = {} if project_id else project_names(client)
        if tree:
            tasks = all_tasks(client, project_id=project_id, include_archived="true" if archived else None)
            roots = _forest(tasks, parent_id, set(statuses), search)
            if as_json:
                echo_json(roots)
                return
            _print_forest(client, roots, project_id, names)
            return
        filters: dict[str, Any] = {"project_id": project_id, "parent_id": parent_id, "q": search}
        filters = {key: value for key, value in filters.items() if value is not None}
        if statuses:
            filters["status"] = list(statuses)
        if archived:
            filters["include_archived"] = "true"
        page = client.get("/tasks", limit=limit, **filters)
        if as_json:
            echo_json(page["items"])
            return
        titles = _parent_titles(client, page["items"])
    if not page["items"]:
        console.print("[dim]no tasks[/]")
        return
    runs = any(item.get("run") for item in page["items"])  # the run column only when something was planned
    columns = ["title", "status", *(["run"] if runs else []), "priority", "parent", *(["project"] if names else [])]
    table = new_table(*columns, "id")
    for item in page["items"]:
        parent = text(titles.get(item["parent_id"], item["parent_id"] or "")) if item["parent_id"] else ""
        project_cell = [text(names.get(item["project_id"], item["project_id"]))] if names else []
        table.add_row(
            text(item["title"]),
            styled(item["status"], TASK_STYLE),
            *([run_cell(item)] if runs else []),
            item["priority"],
            parent,
            *project_cell,
            item["id"],
        )
    print_table(table)
    if page["next_cursor"]:
        console.print(f"[dim]… more tasks than --limit {limit}[/]")


def _parent_titles(client: ApiClient, items: list[dict[str, Any]]) -> dict[str, str]:
    """Titles of the listed tasks' parents: from the page itself, else asked for (each parent once)."""
    titles = {item["id"]: item["title"] for item in items}
    for parent_id in {item["parent_id"] for item in items if item["parent_id"]} - titles.keys():
        try:
            titles[parent_id] = client.get(f"/tasks/{parent_id}")["title"]
        except ApiError:
            pass
    return titles


def _forest(
    tasks: list[dict[str, Any]], parent_id: str | None, statuses: set[str], search: str | None
) -> list[dict[str, Any]]:
    """The tasks as {task, children} nodes (siblings by position), pruned to the matches and their ancestors."""
    by_id = {task["id"]: task for task in tasks}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for task in sorted(tasks, key=lambda t: (t["position"], t["id"])):
        parent = task["parent_id"] if task["parent_id"] in by_id else None  # an archived parent's child: top level
        children.setdefault(parent, []).append(task)
    needle = (search or "").casefold()

    def matches(task: dict[str, Any]) -> bool:
        text_ok = not needle or needle in task["title"].casefold() or needle in task["description"].casefold()
        return text_ok and (not statuses or task["status"] in statuses)

    top = children.get(None, []) if parent_id in (None, "root") else [by_id[parent_id]] if parent_id in by_id else []
    order, stack = [], list(top)
    while stack:  # depth first, without recursion: trees may be deeper than Python's stack
        task = stack.pop()
        order.append(task)
        stack.extend(children.get(task["id"], []))
    nodes: dict[str, dict[str, Any]] = {}
    for task in reversed(order):  # every task after its descendants
        kids = [nodes[kid["id"]] for kid in children.get(task["id"], []) if kid["id"] in nodes]
        if kids or matches(task):
            nodes[task["id"]] = {"task": task, "children": kids}
    return [nodes[task["id"]] for task in top if task["id"] in nodes]


def _print_forest(
    client: ApiClient, roots: list[dict[str, Any]], project_id: str | None, names: dict[str, str]
) -> None:
    if not roots:
        console.print("[dim]no tasks[/]")
        return
    if project_id:
        names = names or {project_id: _project_name(client, project_id)}
    groups: dict[str, list[dict[str, Any]]] = {}
    for node in roots:
        groups.setdefault(node["task"]["project_id"], []).append(node)
    for pid, nodes in groups.items():
        console.print(_rich_tree(f"[bold]{text(names.get(pid, pid))}[/] [dim]{pid}[/]", nodes))


def _rich_tree(label: str, nodes: list[dict[str, Any]]) -> Tree:
    """{task, children} nodes as a rich tree under `label`."""
    tree = Tree(label)
    stack = [(tree, node) for node in reversed(nodes)]
    while stack:
        branch, node = stack.pop()
        child = branch.add(_label(node["task"]))
        stack.extend((child, kid) for kid in reversed(node["children"]))
    return tree


def _label(task: dict[str, Any]) -> str:
    priority = "" if task["priority"] == "medium" else f" [dim]{task['priority']}[/]"
    archived = " [dim](archived)[/]" if task.get("archived_at") else ""
    run = f" [dim]run:[/] {run_cell(task)}" if task.get("run") else ""
    status = styled(task["status"], TASK_STYLE)
    return f"{text(task['title'])}  {status}{priority}{run}{archived}  [dim]{task['id']}[/]"


def run_cell(task: dict[str, Any]) -> str:
    """A task's run in a word or two (rich markup): `queued #2`, `blocked`, `ended without report`; '' without one."""
    run = task.get("run")
    if not run:
        return ""
    state = run["state"]
    if state == "waiting" and run.get("failed_dependencies"):
        return "[red]blocked[/]"
    words = state.replace("_", " ") + (f" #{run['queue_position']}" if run.get("queue_position") else "")
    style = RUN_STYLE.get(state)
    return f"[{style}]{words}[/]" if style else words


def reason_text(reason: dict[str, Any] | None) -> str:
    """Why something is in its state (rich markup): what happened, then who and when, dimmed."""
    if not reason:
        return ""
    said = reason.get("by") and f"by {reason['by']}" not in reason["why"]  # "planned by cli" says who already
    by = f"by {text(reason['by'])}, " if said else ""
    return f"{text(reason['why'])} [dim]({by}{when(reason['at'])})[/]"


def run_line(task: dict[str, Any]) -> str:
    """A task's run in one line (rich markup): its state, attempt, session and queue place, and why."""
    run = task.get("run")
    if not run:
        return "[dim]no run[/]"
    failed = run.get("failed_dependencies") if run["state"] == "waiting" else None
    parts = [f"[red]blocked by failed {', '.join(failed)}[/]" if failed else run_cell(task)]
    if run.get("attempt"):
        parts.append(f"attempt {run['attempt']}")
    if run.get("session_id"):
        parts.append(f"session {run['session_id']}")
    reason = reason_text(run.get("reason"))
    return ", ".join(parts) + (f" — {reason}" if reason else "")


def plan_lines(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """A run plan as `task show` rows (rich markup): the profile and how it runs, its check, its failure policy."""
    how = [plan["role"]]
    if plan.get("isolation"):
        how.append("in a worktree" if plan["isolation"] == "worktree" else "in place")
    if plan.get("base_ref"):
        how.append(f"from {plan['base_ref']}")
    if plan.get("skills"):
        how.append(f"skills {', '.join(plan['skills'])}")
    rows = [("plan", f"{text(plan['profile'])} [dim]({text(', '.join(how))})[/]")]
    if plan.get("instructions"):
        rows.append(("instructs", text(plan["instructions"].strip().splitlines()[0])))
    check = plan.get("check")
    rows.append(("check", f"{text(check['command'])} [dim](at most {check['timeout_s']} s)[/]" if check else "none"))
    policy = plan["on_failure"]
    rows.append(("on failure", f"retry, up to {plan['retries']} more time(s)" if policy == "retry" else policy))
    return rows


def _project_name(client: ApiClient, project_id: str) -> str:
    try:
        return client.get(f"/projects/{project_id}")["name"]
    except ApiError:
        return project_id


@click.command("show")
@click.argument("task_id", type=TASK_ID, metavar="TASK_ID")
@json_option("Print the task as JSON, with `subtasks`: its subtree as nested {task, children} nodes.")
def show(task_id: str, as_json: bool) -> None:
    """Show a task: status and why, project, parent, run plan and run, dependencies, sessions, subtasks, description."""
    with api_client() as client:
        item = client.get(f"/tasks/{task_id}")
        tree = client.get(f"/tasks/{task_id}/tree")
        if as_json:
            echo_json({**item, "subtasks": tree["children"]})
            return
        parent = client.get(f"/tasks/{item['parent_id']}") if item["parent_id"] else None
        dependencies = [client.get(f"/tasks/{dep}") for dep in item["dependencies"]]
        linked = item["session_ids"]
        sessions = client.get("/sessions", task_id=task_id, project_id=item["project_id"]) if linked else []
        project_name = _project_name(client, item["project_id"])
    console.print(f"[bold]{text(item['title'])}[/]  {item['id']}")
    why = reason_text(item.get("status_reason"))
    rows = [
        ("status", styled(item["status"], TASK_STYLE) + (f"  [dim]—[/] {why}" if why else "")),
        ("priority", item["priority"]),
        ("project", f"{text(project_name)} [dim]{item['project_id']}[/]"),
        ("parent", f"{text(parent['title'])} [dim]{parent['id']}[/]" if parent else ""),
        ("skills", text(", ".join(item["skills"]))),
        ("due", item["due_date"] or ""),
    ]
    rows += plan_lines(item["run_plan"]) if item.get("run_plan") else []
    rows += [("run", run_line(item))] if item.get("run") else []
    for label, value in rows:
        if value:
            console.print(f"[dim]{label:<11}[/]{value}")
    blocked = set(item["blocked_by"])
    for dep in dependencies:
        waits = " [red](blocks it)[/]" if dep["id"] in blocked else ""
        line = f"{text(dep['title'])}  {styled(dep['status'], TASK_STYLE)}{waits}  [dim]{dep['id']}[/]"
        console.print(f"[dim]{'depends on':<11}[/]{line}")
    for ses in sessions:
        line = f"{text(ses['name'])}  {styled(ses['status'], SESSION_STYLE)}  {ses['profile']}  [dim]{ses['id']}[/]"
        console.print(f"[dim]{'session':<11}[/]{line}")
    if tree["children"]:
        console.print()
        console.print(_rich_tree("[dim]subtasks[/]", tree["children"]))
    if item["description"].strip():
        console.print()
        console.print(text(item["description"].rstrip()))
