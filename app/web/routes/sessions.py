"""/api/v1 routes for sessions (being written in this change)."""

ROUTES: list = []
