"""The demo models ``berth demo`` trains on shipped data and pushes into a home (once per data and code).

Apart from the command (`berth.cli.demo`): training needs pandas, scikit-learn, LightGBM and the
embedded registry, which the command tree must not import (``berth --help`` stays light).
"""

from __future__ import annotations

import hashlib
import io
from importlib import resources

import click
import pandas as pd

from berth.client.embedded.registry import LocalRegistry
from berth.client.sdk import current_user
from berth.core.entities import PushRequest, Version, VersionMetadata
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.wiring.workspace import open_workspace

DEMO_REVISION = "2"
BANK_FILE = "bank-additional-full.csv.gz"
BIKE_FILE = "bike-sharing-hour.csv.gz"
BANK_ROWS_2008_2009 = 39_130
BANK_CATEGORICAL = [
    "job", "marital", "education", "default", "housing", "loan", "contact", "month", "day_of_week",
    "poutcome",
]  # fmt: skip
BANK_NUMERIC = [
    "age", "campaign", "pdays", "previous", "emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m",
    "nr.employed",
]  # fmt: skip
BIKE_FEATURES = [
    "season", "yr", "mnth", "hr", "holiday", "weekday", "workingday", "weathersit", "temp", "atemp", "hum",
    "windspeed",
]  # fmt: skip


def _data(name: str) -> bytes:
    return resources.files("berth.cli").joinpath("demo_data", name).read_bytes()


def _fingerprint(*names: str) -> str:
    digest = hashlib.sha256(DEMO_REVISION.encode())
    for name in names:
        digest.update(_data(name))
    return digest.hexdigest()[:16]


def _up_to_date(registry: LocalRegistry, name: str, fingerprint: str) -> bool:
    try:
        version = registry.get_version(name, "latest")
    except BerthError as exc:
        if exc.code in (ErrorCode.MODEL_NOT_FOUND, ErrorCode.VERSION_NOT_FOUND):
            return False
        raise
    return version.metadata.tags.get("demo_fingerprint") == fingerprint


def train_bank_marketing(registry: LocalRegistry) -> Version | None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    fingerprint = _fingerprint(BANK_FILE)
    if _up_to_date(registry, "bank-marketing", fingerprint):
        return None
    frame = pd.read_csv(io.BytesIO(_data(BANK_FILE)), sep=";", compression="gzip")
    frame = frame.iloc[:BANK_ROWS_2008_2009]  # 2008-2009 campaigns: 2010 is the drift to come
    x = frame[BANK_CATEGORICAL + BANK_NUMERIC]
    y = frame["y"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=7, stratify=y)
    model = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("categories", OneHotEncoder(handle_unknown="ignore"), BANK_CATEGORICAL),
                        ("numbers", StandardScaler(), BANK_NUMERIC),
                    ]
                ),
            ),
            ("classifier", LogisticRegression(max_iter=2000)),
        ]
    )
    click.echo("training bank-marketing (scikit-learn pipeline on 31,304 rows) ...")
    model.fit(x_train, y_train)
    proba = model.predict_proba(x_test)[:, list(model.classes_).index("yes")]
    metrics = {
        "accuracy": float(accuracy_score(y_test, model.predict(x_test))),
        "roc_auc": float(roc_auc_score(y_test == "yes", proba)),
    }
    return registry.push_object(
        model,
        PushRequest(
            name="bank-marketing",
            team="marketing-analytics",
            description="Will a contacted client subscribe a term deposit? (yes/no, with probabilities)",
            metadata=VersionMetadata(
                metrics=metrics,
                params={"model": "LogisticRegression", "max_iter": 2000},
                docs=(
                    "# bank-marketing\n\nLogistic regression on one-hot categories and scaled numbers, "
                    "trained on the 2008-2009 campaigns of the UCI Bank Marketing data (CC BY 4.0). "
                    "`duration` is left out: it is only known after the call."
                ),
                training_data="UCI Bank Marketing (bank-additional-full.csv), rows 1-39,130 (2008-2009)",
                tags={"demo_fingerprint": fingerprint},
            ),
            input_example=x_test.head(5),
            aliases=("production",),
            pushed_by=current_user(),
            source="berth demo",
        ),
    )


def train_bike_demand(registry: LocalRegistry) -> Version | None:
    import lightgbm
    from sklearn.metrics import mean_absolute_error

    fingerprint = _fingerprint(BIKE_FILE)
    if _up_to_date(registry, "bike-demand", fingerprint):
        return None
    frame = pd.read_csv(io.BytesIO(_data(BIKE_FILE)), compression="gzip")
    train, test = frame[frame["yr"] == 0], frame[frame["yr"] == 1].iloc[:2000]
    model = lightgbm.LGBMRegressor(
        n_estimators=200, learning_rate=0.05, num_leaves=31, verbose=-1, random_state=7
    )
    click.echo("training bike-demand (LightGBM on 8,645 hours of 2011) ...")
    model.fit(train[BIKE_FEATURES], train["cnt"])
    importance = dict(zip(BIKE_FEATURES, (float(v) for v in model.feature_importances_), strict=True))
    return registry.push_object(
        model,
        PushRequest(
            name="bike-demand",
            team="operations",
            description="Bike rentals expected in an hour, from calendar and weather.",
            metadata=VersionMetadata(
                metrics={"mae": float(mean_absolute_error(test["cnt"], model.predict(test[BIKE_FEATURES])))},
                params={"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31},
                feature_importance=importance,
                training_data="UCI Bike Sharing (hour.csv), 2011",
                tags={"demo_fingerprint": fingerprint},
            ),
            input_example=test[BIKE_FEATURES].head(5),
            aliases=("production",),
            pushed_by=current_user(),
            source="berth demo",
        ),
    )


def push_demo_models(settings: Settings) -> Version:
    """Train and push each demo model whose data or code changed; the bank model's production version."""
    registry = LocalRegistry(open_workspace(settings))
    try:
        for train in (train_bank_marketing, train_bike_demand):
            pushed = train(registry)
            if pushed is not None:
                click.echo(f"  pushed {pushed.model} v{pushed.number} {pushed.metadata.metrics}")
        return registry.get_version("bank-marketing", "production")
    finally:
        registry.close()
