"""Indexes for task listings across projects and sorted by title (they scanned before)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-24T00:25:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "task listing indexes: across projects, by title"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="maestro", description=DESCRIPTION)

    async def listing_indexes():
        db = engine_finder()
        for name, columns in (
            ("tasks_status_created", "status, created_at, id"),
            ("tasks_created", "created_at, id"),
            ("tasks_project_title", "project, title, id"),
        ):
            await db.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON tasks ({columns})")

    manager.add_raw(listing_indexes)
    return manager
