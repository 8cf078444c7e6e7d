"""Transactions on the registry database, and the one place database errors become `BerthError`s.

`run_transaction` runs a function in one transaction and retries it when the database reports a
transient conflict (SQLite: database locked; PostgreSQL: serialization failure or deadlock).
Write transactions take SQLite's write lock up front; snapshot transactions read one consistent
state (PostgreSQL: REPEATABLE READ, read only; SQLite: one deferred transaction under WAL).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from berth.core.errors import BerthError, ErrorCode
from berth.storage.db import WRITE

T = TypeVar("T")

MAX_ATTEMPTS: Final = 5
_TRANSIENT_SQLSTATES: Final = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def run_transaction(
    engine: Engine, work: Callable[[Connection], T], *, write: bool = False, snapshot: bool = False
) -> T:
    """`work(connection)` inside one transaction, committed when it returns, rolled back when it raises.

    Transient conflicts are retried (`work` must be safe to run again); other database errors
    become BerthError: UNAVAILABLE when the database cannot be reached or stays locked, INTERNAL else.
    """
    attempt = 1
    while True:
        try:
            with (
                database_errors(retryable=True),
                _transaction(engine, write=write, snapshot=snapshot) as conn,
            ):
                return work(conn)
        except _TransientError as exc:
            if attempt >= MAX_ATTEMPTS:
                raise BerthError(
                    ErrorCode.UNAVAILABLE, f"the registry database stayed busy: {exc.__cause__}"
                ) from None
            time.sleep(random.uniform(0.01, 0.05) * attempt)
            attempt += 1


@contextmanager
def _transaction(engine: Engine, *, write: bool, snapshot: bool) -> Iterator[Connection]:
    options: dict[str, Any] = {WRITE: write}
    if snapshot and engine.dialect.name == "postgresql":
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with engine.connect().execution_options(**options) as connection, connection.begin():
        yield connection


class _TransientError(Exception):
    """A conflict the database asks us to retry."""


@contextmanager
def database_errors(*, retryable: bool = False) -> Iterator[None]:
    """Convert SQLAlchemy errors raised inside into BerthError; with `retryable`, transient
    conflicts become the signal `run_transaction` retries on instead."""
    try:
        yield
    except IntegrityError as exc:
        raise BerthError(ErrorCode.CONFLICT, f"the change conflicts with the registry: {exc.orig}") from None
    except DBAPIError as exc:
        if retryable and _is_transient(exc):
            raise _TransientError() from exc
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise BerthError(
                ErrorCode.UNAVAILABLE, f"the registry database is unavailable: {exc.orig}"
            ) from None
        raise BerthError(ErrorCode.INTERNAL, f"registry database error: {exc.orig}") from None
    except SQLAlchemyError as exc:
        raise BerthError(ErrorCode.INTERNAL, f"registry database error: {exc}") from None


def _is_transient(exc: DBAPIError) -> bool:
    if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    message = str(exc.orig).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in message or "busy" in message)
