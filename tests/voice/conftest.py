"""The Voice on a temporary home: bootstrapped once per session on a sample of the train texts
(each test gets its own copy of that home), and the analysts' corrections."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from the_voice.bootstrap import Where, bootstrap
from the_voice.data import Split, load_split

from berth.core.settings import Settings
from berth.wiring.workspace import Workspace, open_workspace

BASE_ROWS = 1500
"""Base texts the tests train on (the full 10,003 take longer; bench/ runs them)."""


@pytest.fixture(scope="session")
def voice_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("voice-template") / "home"
    bootstrap(Where(home=str(home)), base_rows=BASE_ROWS, say=lambda _: None)
    return home


@pytest.fixture
def voice_home(voice_template: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(voice_template, home)
    return home


@pytest.fixture
def voice_settings(voice_home: Path) -> Settings:
    return Settings(home=voice_home, poll_interval_s=0.1)


@pytest.fixture
def workspace(voice_settings: Settings) -> Iterator[Workspace]:
    opened = open_workspace(voice_settings)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def analyst_truth() -> Split:
    """Train texts the simulated analyst corrects (with their true categories)."""
    return load_split("train").sample(800, seed=11)
