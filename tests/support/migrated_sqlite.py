"""SQLite files already at berth's newest schema, for tests that want a fresh registry database but
do not test the migrations: a copy (SQLite's backup API, milliseconds) of one file per test process
that `upgrade_database` migrated, which is what a store does when it first opens an empty file
(about 0.3 s a test otherwise)."""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from contextlib import closing
from functools import cache
from pathlib import Path

from berth.storage.db import create_database_engine
from berth.storage.migrate import upgrade_database


def migrated_sqlite_url(path: Path) -> str:
    """A new SQLite file at `path` (its folder made), at the newest schema; its ``sqlite:///`` URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(_template())) as template, closing(sqlite3.connect(path)) as copy:
        template.backup(copy)
    return f"sqlite:///{path}"


@cache
def _template() -> Path:
    """This process's migrated file (removed when the process exits)."""
    folder = Path(tempfile.mkdtemp(prefix="berth-template-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "berth.db"
    engine = create_database_engine(f"sqlite:///{path}")
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    return path
