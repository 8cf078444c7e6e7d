"""Run in Feast's own environment (tests/support/feast_server.py): a Feast repository whose online
store is the machine's Redis, with the bank-marketing subset materialized into it.

    python feast_repo.py REPO_DIR PROJECT DATA_CSV_GZ ROWS REDIS
    python feast_repo.py teardown REPO_DIR

Writes REPO_DIR/feature_store.yaml and REPO_DIR/customers.parquet (the first ROWS rows, keyed
``c-<row>``, stamped one day ago, and an older history: three days ago customer ``c-<row>`` had the
values of the next row, ``c-<row + 1>``'s, the last one the first's), applies the entity
``customer`` (join key ``customer_id``, text) and the feature view ``customer_profile`` (age,
campaign, previous: int64; euribor3m, nr_employed: float64), and materializes the rows of one day
ago into Redis. Its offline store (``file``: the Parquet) is what ``feast serve_offline`` serves.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64


def main(repo: Path, project: str, data: Path, rows: int, redis: str) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(data, nrows=rows)
    stamp = datetime.now(UTC) - timedelta(days=1)
    values = pd.DataFrame(
        {
            "age": frame["age"].astype("int64"),
            "campaign": frame["campaign"].astype("int64"),
            "previous": frame["previous"].astype("int64"),
            "euribor3m": frame["euribor3m"].astype("float64"),
            "nr_employed": frame["nr.employed"].astype("float64"),
        }
    )
    ids = [f"c-{i}" for i in range(len(frame))]
    now = values.assign(customer_id=ids, event_timestamp=[stamp] * len(frame))
    older = values.shift(-1).fillna(values.iloc[0]).astype(values.dtypes.to_dict())
    before = older.assign(customer_id=ids, event_timestamp=[stamp - timedelta(days=2)] * len(frame))
    pd.concat([before, now], ignore_index=True).to_parquet(repo / "customers.parquet")
    (repo / "feature_store.yaml").write_text(
        f"project: {project}\n"
        f"registry: {repo / 'registry.db'}\n"
        "provider: local\n"
        "online_store:\n"
        "  type: redis\n"
        f'  connection_string: "{redis}"\n'
        "offline_store:\n"
        "  type: file\n"
        "entity_key_serialization_version: 3\n"
    )
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    source = FileSource(path=str(repo / "customers.parquet"), timestamp_field="event_timestamp")
    view = FeatureView(
        name="customer_profile",
        entities=[customer],
        ttl=timedelta(days=3650),
        schema=[
            Field(name="age", dtype=Int64),
            Field(name="campaign", dtype=Int64),
            Field(name="previous", dtype=Int64),
            Field(name="euribor3m", dtype=Float64),
            Field(name="nr_employed", dtype=Float64),
        ],
        online=True,
        source=source,
    )
    store = FeatureStore(repo_path=str(repo))
    store.apply([customer, view])
    store.materialize(start_date=stamp - timedelta(hours=1), end_date=datetime.now(UTC))


def teardown(repo: Path) -> None:
    """Remove the project's values from the online store (Redis) and its registry."""
    FeatureStore(repo_path=str(repo)).teardown()


if __name__ == "__main__":
    if sys.argv[1] == "teardown":
        teardown(Path(sys.argv[2]))
    else:
        main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
