"""SQLite files already at berth's newest schema, for tests that want a fresh registry database but
do not test the migrations: a copy (SQLite's backup API, milliseconds) of one file per test process
that a store migrated when it first opened it, as any store does with an empty file (about 0.3 s a
test otherwise)."""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from contextlib import closing
from functools import cache
from pathlib import Path

from berth.storage.sql_registry import SqlRegistryStore


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
    SqlRegistryStore(f"sqlite:///{path}").close()  # a first open migrates
    return path
