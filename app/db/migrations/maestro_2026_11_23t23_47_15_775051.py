from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-23T23:47:15:775051"
VERSION = "1.38.0"
DESCRIPTION = "event log retention watermark"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="maestro", description=DESCRIPTION
    )

    manager.add_table(
        class_name="EventLogState",
        tablename="event_log_state",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="EventLogState",
        tablename="event_log_state",
        column_name="id",
        db_column_name="id",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
            "null": False,
            "primary_key": True,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="EventLogState",
        tablename="event_log_state",
        column_name="pruned_through",
        db_column_name="pruned_through",
        column_class_name="BigInt",
        column_class=BigInt,
        params={
            "default": 0,
            "null": False,
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
