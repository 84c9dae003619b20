"""Composite unique indexes on the two link tables.

Plain SQL both SQLite and PostgreSQL accept: Piccolo's Unique constraint emits ALTER TABLE ... ADD CONSTRAINT,
which SQLite rejects, and raw steps run before table creation, hence a migration of its own.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T22:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique task/dependency and task/session pairs"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="maestro", description=DESCRIPTION)

    async def create_unique_pairs():
        db = engine_finder()
        await db.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS task_dependencies_pair ON task_dependencies (task, depends_on)"
        )
        await db.run_ddl("CREATE UNIQUE INDEX IF NOT EXISTS task_sessions_pair ON task_sessions (task, session)")

    manager.add_raw(create_unique_pairs)
    return manager
