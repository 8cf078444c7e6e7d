"""Bring a registry database to the newest schema, in process (no ``alembic.ini`` needed).

Safe when several processes open a fresh database at once: the upgrade runs inside one write
transaction that first takes a lock (PostgreSQL: a transaction-scoped advisory lock; SQLite:
``BEGIN IMMEDIATE``), so the second process waits, then finds the schema already at head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from berth.storage.db import WRITE

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS: Final = Path(__file__).with_name("migrations")
"""The folder of the alembic environment and its revisions (shipped as package data)."""

HEAD_REVISION: Final = "0017"
"""The newest revision in ``migrations/versions`` (a test checks it against alembic's own head)."""

_ADVISORY_LOCK_KEY: Final = 0x6265727468  # "berth"


def alembic_config() -> Config:
    """An alembic configuration for berth's migrations, built in code."""
    from alembic.config import Config  # alembic is imported only when a migration may run

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def is_current(engine: Engine) -> bool:
    """True when the database already records the newest revision (one query, no alembic)."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:  # no table yet: a fresh database
        return False
    return list(rows) == [HEAD_REVISION]


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Migrate the database of `engine` to `revision` (default: the newest). Idempotent; a database
    already at the newest revision costs one query (alembic, 0.1-0.25 s to import, is not loaded)."""
    if revision == "head" and is_current(engine):
        return
    from alembic import command

    config = alembic_config()
    with engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
