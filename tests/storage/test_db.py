"""Engines: URL normalisation and the SQLite settings that make one file safe to share."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from berth.core.errors import BerthError, ErrorCode
from berth.storage.db import create_database_engine, database_url
from berth.storage.sql_registry import SqlRegistryStore


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:////tmp/x.db", "sqlite"),
    ],
)
def test_database_url_uses_psycopg_for_postgresql(given: str, driver: str) -> None:
    assert database_url(given).drivername == driver


@pytest.mark.parametrize("given", ["mysql://u@h/db", "not a url"])
def test_unsupported_database_urls_are_invalid_request(given: str) -> None:
    with pytest.raises(BerthError) as caught:
        database_url(given)

    assert caught.value.code is ErrorCode.INVALID_REQUEST


def test_sqlite_engine_creates_its_folder_and_sets_pragmas(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'berth.db'}")
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.execute(text(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
    finally:
        engine.dispose()

    assert (tmp_path / "a" / "b" / "berth.db").is_file()
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1}


def test_unreachable_postgresql_is_unavailable() -> None:
    with pytest.raises(BerthError) as caught:
        SqlRegistryStore("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")

    assert caught.value.code is ErrorCode.UNAVAILABLE
