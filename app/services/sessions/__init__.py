"""Sessions: records and task links, status rules, agent reports, session tokens and the runner that spawns and
stops agents in ptys (with its activity monitor).

Transports use this facade for record use cases; the runner is reached through the running app's `Runtime`.
Services import the submodules they need, so that no package import can close a cycle.
"""

from app.services.sessions.records import get_session, link_task, list_sessions, unlink_task
from app.services.sessions.reports import report
from app.services.sessions.status import update_session

__all__ = ["get_session", "link_task", "list_sessions", "report", "unlink_task", "update_session"]
