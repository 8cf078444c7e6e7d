"""Which registry a command opens when it works in this process (no ``--url``), and ``berth init``.

A registry is made only when asked for: ``--home DIR`` or ``BERTH_HOME`` name one (made when it is
not there yet, and the command says so on standard error), ``berth init`` makes one, ``make run``
(``berth demo``) makes its own. Without any of those a command uses ``./.berth`` when it is there
(and says so, since nothing on its command line named it), and otherwise stops with
``registry_not_found`` instead of leaving a new ``.berth`` in whatever folder it ran in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import click

from berth.core.errors import BerthError, ErrorCode

DEFAULT_HOME: Final = Path(".berth")


def chosen_home(home: Path | None, url: str | None) -> Path | None:
    """The home to open for a command given `home` (``--home`` or ``BERTH_HOME``) and `url`: None
    with a `url` (the server's registry); else the checked home (`embedded_home`)."""
    if home is not None and url:
        raise click.UsageError("give --home or --url, not both")
    if url:
        return None
    return embedded_home(home)


def embedded_home(home: Path | None) -> Path:
    """`home` when named (said on standard error when it is made now), else ``./.berth`` when it
    is there (said), else `REGISTRY_NOT_FOUND`."""
    if home is not None:
        if not home.exists():
            click.echo(f"berth: a new registry in {home.resolve()}", err=True)
        return home
    if os.environ.get("BERTH_DATABASE_URL"):  # the registry is that database: the home holds files
        return DEFAULT_HOME
    if DEFAULT_HOME.is_dir():
        click.echo(
            f"berth: using the registry in {DEFAULT_HOME.resolve()} (--home or BERTH_HOME names another)",
            err=True,
        )
        return DEFAULT_HOME
    raise BerthError(
        ErrorCode.REGISTRY_NOT_FOUND,
        f"no registry in {Path.cwd()} (./.berth): `berth init` makes one here; --home DIR or BERTH_HOME"
        " names one (made if missing); --url or BERTH_URL uses a server's",
    )


@click.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BERTH_HOME",
    help="Where to make the registry (env BERTH_HOME, default ./.berth).",
)
def init(home: Path | None) -> None:
    """Make a registry (a home folder with its database) here, or in --home: the other commands
    use ./.berth without --home only when it is there."""
    from berth.client.sdk import open_registry

    folder = DEFAULT_HOME if home is None else home
    existed = (folder / "berth.db").exists()
    open_registry(home=folder).close()  # makes the folder, the database and its tables
    said = "a registry is already in" if existed else "made a registry in"
    click.echo(f"{said} {folder.resolve()}")
