"""The revision that lets a server skip alembic at start is alembic's own head."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from berth.storage.db import create_database_engine
from berth.storage.migrate import HEAD_REVISION, alembic_config, is_current, upgrade_database


def test_head_revision_is_alembics_head() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def test_a_fresh_database_is_not_current_until_upgraded(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'berth.db'}")
    try:
        assert not is_current(engine)
        upgrade_database(engine)
        assert is_current(engine)
        upgrade_database(engine)  # a no-op at head
        assert is_current(engine)
    finally:
        engine.dispose()
