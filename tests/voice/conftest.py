"""The Voice on a temporary home: bootstrapped once per test run on a sample of the train texts
(each test gets its own copy of that home; pytest-xdist's workers share one, made by the first
that needs it), and the analysts' corrections."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock
from the_voice.bootstrap import Where, bootstrap
from the_voice.data import Split, load_split

from berth.core.settings import Settings
from berth.wiring.workspace import Workspace, open_workspace

BASE_ROWS = 1500
"""Base texts the tests train on (the full 10,003 take longer; bench/ runs them)."""


@pytest.fixture(scope="session")
def voice_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The bootstrapped home, read-only. Under pytest-xdist it lies in the run's base folder, which
    all workers share (the other workers wait on a file lock while one bootstraps it)."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    folder = shared / "voice-template"
    with FileLock(str(shared / "voice-template.lock")):
        if not (folder / "done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            bootstrap(Where(home=str(folder / "home")), base_rows=BASE_ROWS, say=lambda _: None)
            (folder / "done").touch()
    return folder / "home"


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
