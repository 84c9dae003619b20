from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T02:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sessions.pid_start_time: identifies the process with its pid (pids are reused)"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="maestro", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Session",
        tablename="sessions",
        column_name="pid_start_time",
        db_column_name="pid_start_time",
        column_class_name="BigInt",
        column_class=BigInt,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
