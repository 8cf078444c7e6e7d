"""Engines for the registry database: SQLite (embedded, WAL) or PostgreSQL (psycopg 3), by URL.

SQLite is made safe for several threads and several processes sharing one file: WAL journal
(readers never block the writer), a busy timeout (a writer waits for another instead of failing),
foreign keys on, and transactions begun by SQLAlchemy rather than by the ``sqlite3`` module, so a
read transaction sees one consistent snapshot and a write transaction (`write_options`) takes the
write lock up front with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError

from berth.core import extras
from berth.core.errors import BerthError, ErrorCode

SQLITE_BUSY_TIMEOUT_S: Final = 30.0
"""How long a SQLite connection waits for another writer before it reports the database locked."""

WRITE: Final = "berth_write"
"""Execution option marking a connection whose transactions will write (SQLite: BEGIN IMMEDIATE)."""


def database_url(url: str | URL) -> URL:
    """The URL to connect to: ``postgresql://`` and ``postgres://`` use the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"invalid database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise BerthError(
            ErrorCode.INVALID_REQUEST,
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://",
        )
    return parsed


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON_CODEC: Final[dict[str, Any]] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}
"""JSON columns (records' tensors above all) through orjson: several times faster than `json`."""


def create_database_engine(url: str | URL) -> Engine:
    """An engine for `url`, configured for berth (see the module docs). The caller disposes it."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    extras.require("postgres", "a PostgreSQL database")
    return create_engine(parsed, pool_pre_ping=True, **_JSON_CODEC)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    engine = create_engine(url, connect_args=connect_args, **_JSON_CODEC)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN (see `_begin_sqlite_transaction`), not the sqlite3 module.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get(WRITE) else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")
