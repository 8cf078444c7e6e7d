"""``berth db upgrade``: migrations as a one-off job; with ``BERTH_MIGRATE_ON_START=false`` a process
refuses a database that has not been migrated, and works once it has."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.core.errors import ErrorCode
from berth.storage.migrate import HEAD_REVISION
from tests.cli.test_registry_commands import berth_error, ok, run


def test_a_process_that_does_not_migrate_waits_for_the_upgrade_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("BERTH_MIGRATE_ON_START", "false")

    refused = berth_error(run("models", "list", "--home", home))
    assert refused.code is ErrorCode.UNAVAILABLE
    assert "berth db upgrade" in refused.message

    assert ok("db", "upgrade", "--home", home).strip() == f"database at schema revision {HEAD_REVISION}"
    assert ok("db", "upgrade", "--home", home).strip() == f"database at schema revision {HEAD_REVISION}"
    assert "(none)" in ok("models", "list", "--home", home)
