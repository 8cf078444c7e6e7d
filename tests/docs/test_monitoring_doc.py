"""docs/monitoring.md's push with a reference profile runs as written, on a reader's training data
(what the block calls ``X_train`` and ``model``), into the default home of the reader's folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tests.docs.readme_blocks import readme_blocks
from tests.docs.terminal import PythonSession

MONITORING_DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def test_the_reference_profile_push_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BERTH_HOME", "BERTH_URL", "BERTH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    rng = np.random.default_rng(11)
    x_train = pd.DataFrame(
        {
            "age": rng.integers(18, 90, size=25_000),
            "spend": rng.gamma(2.0, 50.0, size=25_000),
            "tenure": rng.normal(24.0, 6.0, size=25_000),
        }
    )
    churned = (x_train["spend"] < 60).astype(int)
    session = PythonSession(tmp_path)
    session.run("import berth")
    session.namespace["X_train"] = x_train
    session.namespace["model"] = LogisticRegression(max_iter=1000).fit(x_train, churned)
    [block] = [b for b in readme_blocks(MONITORING_DOC) if b.first_line.startswith("sample = X_train.sample")]

    session.run(block.text)

    profile = session.run("berth.open_registry().get_profile('churn', 1)")
    assert (tmp_path / ".berth").is_dir()  # the default home, in the reader's folder
    assert profile["format"] == 1, profile
    assert profile["rows"] == 20_000, sorted(profile)
    assert sorted(profile["inputs"]) == ["age", "spend", "tenure"], profile["inputs"]
    assert sorted(profile["outputs"]) == ["predict"], profile[
        "outputs"
    ]  # reference_outputs: prediction drift
