"""/api/v1 routes for events (being written in this change)."""

ROUTES: list = []
