"""Must show: real drift in the bank-marketing data (UCI, CC BY 4.0; see tests/data/bank-marketing).

The reference is May-July 2008; `control` is held out from the same months; `later` is 2010.
Looking at the data first (tests/data/bank-marketing/make_subset.py, SOURCE.md), between 2008
and 2010 the bank changed who and how it called: the macro-economic context (euribor3m,
emp.var.rate, nr.employed, cons.price.idx, cons.conf.idx) moved to other values entirely,
cellular calls went from 30% to 81% (contact), `default` "unknown" from 30% to 2%, far more
clients had been called before (previous, poutcome), fewer calls per client (campaign), and the
clients are younger and older at once (age: std 9 -> 16), more single (marital 25% -> 41%) and
more with a university degree (education 22% -> 38%), in other jobs (students, retired).
Stable: the day of the week of the call (each 17-23% in both), personal loans (15% vs 14%) and
housing loans (47% vs 55%, a small shift). Those three are the features that must not drift.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from berth.control.monitoring.drift import DriftReport, DriftStatus, compute_drift
from berth.control.monitoring.features import current_features
from berth.control.monitoring.performance import performance
from berth.control.monitoring.profile import Profile
from berth.control.monitoring.profiling import build_profile
from tests.control.monitoring.helpers import labelled, records_of

DATA = Path(__file__).parents[2] / "data" / "bank-marketing" / "bank-marketing-subset.csv.gz"
CATEGORICAL = [
    "job",
    "marital",
    "education",
    "default",
    "housing",
    "loan",
    "contact",
    "day_of_week",
    "poutcome",
]
NUMERIC = [
    "age",
    "campaign",
    "previous",
    "emp.var.rate",
    "cons.price.idx",
    "cons.conf.idx",
    "euribor3m",
    "nr.employed",
]
STABLE = {"housing", "loan", "day_of_week"}
SHIFTED = set(CATEGORICAL + NUMERIC) - STABLE


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    frame = pd.read_csv(DATA)
    return {
        str(part): rows.drop(columns="part").reset_index(drop=True) for part, rows in frame.groupby("part")
    }


@pytest.fixture(scope="module")
def model(data: dict[str, pd.DataFrame]) -> Pipeline:
    columns = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL), ("num", StandardScaler(), NUMERIC)]
    )
    fitted = Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=1000))])
    reference = data["reference"]
    return fitted.fit(reference[CATEGORICAL + NUMERIC], reference["y"])


@pytest.fixture(scope="module")
def profile(data: dict[str, pd.DataFrame], model: Pipeline) -> Profile:
    features = data["reference"][CATEGORICAL + NUMERIC]
    built = build_profile(features, outputs={"predict": model.predict(features)})
    return Profile.from_json(built.to_json())  # what is stored is what is used


def _drift(profile: Profile, frame: pd.DataFrame, model: Pipeline) -> DriftReport:
    features = frame[CATEGORICAL + NUMERIC]
    inputs = current_features(records_of(features))
    outputs = current_features(records_of(pd.DataFrame({"predict": model.predict(features)})))
    return compute_drift(profile, inputs, outputs)


def test_the_later_months_drift_on_the_shifted_features_only(
    data: dict[str, pd.DataFrame], model: Pipeline, profile: Profile
) -> None:
    report = _drift(profile, data["later"], model)

    drifted = {f.feature for f in report.inputs if f.drifted}
    assert drifted == SHIFTED
    assert report.dataset.status is DriftStatus.DRIFTED
    assert {f.test for f in report.inputs} == {"wasserstein", "jensen_shannon"}
    # the model answers "yes" far more often on the later clients: prediction drift
    assert report.prediction.status is DriftStatus.DRIFTED


def test_a_control_window_from_the_training_months_does_not_drift(
    data: dict[str, pd.DataFrame], model: Pipeline, profile: Profile
) -> None:
    report = _drift(profile, data["control"], model)

    assert report.dataset.status is DriftStatus.OK
    assert report.dataset.drifted_features == []
    assert report.prediction.status is DriftStatus.OK


def test_small_windows_use_the_tests_and_still_tell_them_apart(
    data: dict[str, pd.DataFrame], model: Pipeline, profile: Profile
) -> None:
    later = _drift(profile, data["later"].sample(300, random_state=1), model)
    control = _drift(profile, data["control"].sample(300, random_state=1), model)

    assert {f.test for f in later.inputs} == {"ks", "chi_square"}
    assert later.dataset.status is DriftStatus.DRIFTED
    assert control.dataset.status is DriftStatus.OK
    # (the tests are sharper than the distances: at 300 rows chi-square may already see the small
    # housing shift, so only the dataset verdicts are asserted here)


def test_accuracy_from_feedback_falls_on_the_later_months(
    data: dict[str, pd.DataFrame], model: Pipeline
) -> None:
    control, later = data["control"], data["later"]
    items = [
        *labelled(
            model.predict(control[CATEGORICAL + NUMERIC]),
            control["y"].tolist(),
            at=datetime(2008, 7, 15, tzinfo=UTC),
            probabilities=model.predict_proba(control[CATEGORICAL + NUMERIC]),
        ),
        *labelled(
            model.predict(later[CATEGORICAL + NUMERIC]),
            later["y"].tolist(),
            at=datetime(2010, 7, 15, tzinfo=UTC),
            probabilities=model.predict_proba(later[CATEGORICAL + NUMERIC]),
        ),
    ]

    report = performance(items, bucket_s=30 * 86_400)

    before, after = (b.metrics for b in report.groups[0].buckets)
    assert report.task == "classification"
    assert report.output == "predict"
    assert before.accuracy is not None
    assert after.accuracy is not None
    assert before.accuracy > 0.9  # mostly "no" in 2008: the model is right
    assert after.accuracy < before.accuracy - 0.25  # half the 2010 clients said yes
    assert before.log_loss is not None
    assert after.log_loss is not None
    assert after.log_loss > 2 * before.log_loss
    assert report.overall.n == len(control) + len(later)
