"""Bring a registry database to the newest schema, in process (no ``alembic.ini`` needed).

Safe when several processes open a fresh database at once: the upgrade runs inside one write
transaction that first takes a lock (PostgreSQL: a transaction-scoped advisory lock; SQLite:
``BEGIN IMMEDIATE``), so the second process waits, then finds the schema already at head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from berth.storage.db import WRITE

MIGRATIONS: Final = Path(__file__).with_name("migrations")
"""The folder of the alembic environment and its revisions (shipped as package data)."""

_ADVISORY_LOCK_KEY: Final = 0x6265727468  # "berth"


def alembic_config() -> Config:
    """An alembic configuration for berth's migrations, built in code."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Migrate the database of `engine` to `revision` (default: the newest). Idempotent."""
    config = alembic_config()
    with engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
