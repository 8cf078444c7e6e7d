"""A setting that needs an extra that is not installed stops with `missing_extra` and the pip
command, before any store imports the extra's library (tests/packaging runs the same against a
real install without extras)."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.core.extras import DISTRIBUTION, EXTRAS, require
from berth.core.settings import Settings
from berth.wiring.implementations import open_artifacts, open_exports, record_stream

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_every_extra_is_one_of_the_distribution() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert project["name"] == DISTRIBUTION
    assert set(EXTRAS) <= set(project["optional-dependencies"])


@pytest.mark.parametrize(
    ("module", "extra", "open_store"),
    [
        ("boto3", "s3", lambda home: open_artifacts(Settings(home=home, artifact_uri="s3://models/berth"))),
        ("botocore", "s3", lambda home: open_exports(Settings(home=home, export_uri="s3://exports/berth"))),
        ("nats", "nats", lambda home: record_stream(Settings(home=home, record_sink="nats://127.0.0.1/R"))),
    ],
)
def test_a_store_whose_extra_is_missing_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    module: str,
    extra: str,
    open_store: Callable[[Path], object],
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # "not installed": importing it fails
    with pytest.raises(BerthError) as refused:
        open_store(tmp_path)
    assert refused.value.code == ErrorCode.MISSING_EXTRA
    assert f"pip install '{DISTRIBUTION}[{extra}]'" in str(refused.value)
    assert refused.value.details == {"extra": extra, "module": module}


def test_an_installed_extra_passes() -> None:
    require("s3", "the test suite")  # the dev set-up installs every extra
