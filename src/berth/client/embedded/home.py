"""The workspace of an embedded home: ``home``, else the settings' (``BERTH_HOME`` or ``./.berth``)."""

from __future__ import annotations

from pathlib import Path

from berth.core.settings import Settings
from berth.wiring.workspace import Workspace, open_workspace


def home_settings(home: str | Path | None) -> Settings:
    return Settings() if home is None else Settings(home=Path(home))


def open_home(home: str | Path | None) -> Workspace:
    return open_workspace(home_settings(home))
