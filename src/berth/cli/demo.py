"""``berth demo`` (what ``make run`` starts): real models trained on shipped data, pushed, served.

- ``bank-marketing``: will a client subscribe a term deposit? A scikit-learn pipeline (one-hot +
  scaling + logistic regression) trained on a pandas DataFrame of the UCI Bank Marketing data
  (CC BY 4.0, Moro, Rita & Cortez; see demo_data/bank-marketing-SOURCE.md), 2008-2009 campaigns,
  so the drifting 2010 campaigns stay for monitoring. Served as columns: no recoding.
- ``bike-demand``: hourly rentals, a LightGBM regressor on the UCI Bike Sharing data (CC BY 4.0,
  Fanaee-T & Gama; see demo_data/bike-sharing-SOURCE.md), in LightGBM's native format.

- installed demo packages (entry points ``berth.demos``: a module with ``prepare(home, say)`` and
  ``try_it(url) -> lines``): The Voice (``examples/the_voice``, installed by ``make``) trains its
  feedback classifier, pushes it as ``voice-classifier@champion`` and creates the endpoint
  ``feedback-router``.

Training is skipped when the home already holds versions trained on the same data by the same
demo code, so a second ``make run`` starts at once.
"""

from __future__ import annotations

import hashlib
import io
import logging
import socket
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import orjson
import pandas as pd

from berth.client.registry import LocalRegistry
from berth.client.sdk import current_user
from berth.core.entities import PushRequest, Version, VersionMetadata
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.engine.workspace import open_workspace

DEMO_REVISION = "2"
BANK_FILE = "bank-additional-full.csv.gz"
BIKE_FILE = "bike-sharing-hour.csv.gz"
DEMOS_GROUP = "berth.demos"
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


def installed_demos(group: str = DEMOS_GROUP) -> list[Any]:
    """The demo modules installed packages register (one that fails to import is logged and skipped)."""
    found = []
    for entry in entry_points(group=group):
        try:
            found.append(entry.load())
        except Exception:
            logging.getLogger(__name__).exception("demo %r (%s) failed to load", entry.name, entry.value)
    return found


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _first_row_request(version: Version) -> dict[str, Any]:
    example = version.input_example or {}
    inputs = [
        {**tensor, "shape": [1, *tensor["shape"][1:]], "data": tensor["data"][: _row_width(tensor)]}
        for tensor in example.get("inputs", [])
    ]
    return {"inputs": inputs}


def _row_width(tensor: dict[str, Any]) -> int:
    width = 1
    for dim in tensor["shape"][1:]:
        width *= int(dim)
    return width


@click.command()
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="BERTH_HOME")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
def demo(home: Path | None, host: str, port: int) -> None:
    """Train and push the demo models (once), then serve them until Ctrl-C."""
    from berth.server.runner import serve

    settings = Settings() if home is None else Settings(home=home)
    registry = LocalRegistry(open_workspace(settings))
    try:
        for train in (train_bank_marketing, train_bike_demand):
            pushed = train(registry)
            if pushed is not None:
                click.echo(f"  pushed {pushed.model} v{pushed.number} {pushed.metadata.metrics}")
        bank = registry.get_version("bank-marketing", "production")
    finally:
        registry.close()
    demos = installed_demos()
    for module in demos:
        module.prepare(settings.home, click.echo)
    if not _port_free(host, port):
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        click.echo(f"port 8080 is taken; using {port}")
    url = f"http://{host}:{port}"
    body = orjson.dumps(_first_row_request(bank)).decode()
    try_it = [line for module in demos for line in module.try_it(url)]
    click.echo(
        f"\nberth serves the demo models at {url}  (home: {settings.home.resolve()})\n"
        f"  web app:     {url}/ui/\n"
        f"  API docs:    {url}/docs\n"
        f"  models:      curl -s {url}/api/v1/models\n"
        f"  predict:     curl -s -X POST {url}/v2/models/bank-marketing/infer "
        f"-H 'content-type: application/json' -d '{body}'\n"
        + "".join(f"{line}\n" for line in try_it)
        + "Ctrl-C stops it.\n"
    )
    serve(settings.model_copy(update={"host": host, "port": port}))
