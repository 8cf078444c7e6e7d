"""``berth db upgrade``: the database migrations as a one-off job (a Kubernetes Job before a rollout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


@click.group()
def db() -> None:
    """The registry database's schema."""


@db.command("upgrade")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BERTH_HOME",
    help="Home folder (env BERTH_HOME, default ./.berth): the embedded SQLite database.",
)
@click.option("--database-url", default=None, help="Registry database URL (env BERTH_DATABASE_URL).")
def upgrade(home: Path | None, database_url: str | None) -> None:
    """Migrate the database to the newest schema (idempotent; concurrent runs wait for each other)."""
    from berth.cli.home import embedded_home
    from berth.core.settings import Settings
    from berth.storage.migrate import HEAD_REVISION
    from berth.wiring.implementations import open_database

    if database_url is None:
        home = embedded_home(home)
    overrides: dict[str, Any] = {"home": home, "database_url": database_url}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    settings.home.mkdir(parents=True, exist_ok=True)
    open_database(settings.resolved_database_url, migrate=True).close()
    click.echo(f"database at schema revision {HEAD_REVISION}")
