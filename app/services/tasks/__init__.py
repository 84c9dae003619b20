"""Tasks: reads (`queries`), writes (`commands`) and dependency edges (`dependencies`).

Transports use this facade (`from app.services import tasks`); services import the submodules they need, so that
no package import can close a cycle.
"""

from app.services.tasks.commands import create_task, delete_task, move_task, update_task
from app.services.tasks.dependencies import add_dependency, remove_dependency
from app.services.tasks.queries import get_task, get_tree, list_tasks, runs_needing_person, task_titles

__all__ = [
    "add_dependency",
    "create_task",
    "delete_task",
    "get_task",
    "get_tree",
    "list_tasks",
    "move_task",
    "remove_dependency",
    "runs_needing_person",
    "task_titles",
    "update_task",
]
