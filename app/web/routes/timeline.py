"""/api/v1 routes for timeline (being written in this change)."""

ROUTES: list = []
