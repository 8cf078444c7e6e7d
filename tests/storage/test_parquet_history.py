"""A feature view's offline history in Parquet (`berth.storage.parquet_history`): the as-of read of
the training sets' point-in-time join, the latest-per-key read of the materialize job, and the
checks of a declared history (in the home, with the key, the event time and the features)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.core.features import FeatureView, parse_view
from berth.storage.parquet_history import HomeParquet, ParquetHistory, home_path

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AT = pa.timestamp("us", tz="UTC")


def _view(
    offline: str = "history", ttl_s: float | None = None, timestamp_field: str = "event_timestamp"
) -> FeatureView:
    spec = {
        "name": "customers",
        "entity": "customer_id",
        "features": {"balance": "float64", "segment": "string"},
        "ttl_s": ttl_s,
        "offline": offline,
        "timestamp_field": timestamp_field,
    }
    return parse_view(spec)


def _write(path: Path, rows: list[tuple[str, datetime, float | None, str]], row_group_size: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "event_timestamp": pa.array([r[1] for r in rows], AT),
            "balance": [r[2] for r in rows],
            "segment": [r[3] for r in rows],
            "unrelated": [1] * len(rows),
        }
    )
    pq.write_table(table, path, row_group_size=row_group_size)


def _entities(pairs: list[tuple[str | None, datetime]]) -> pa.Table:
    return pa.table(
        {"key": pa.array([p[0] for p in pairs], pa.string()), "at": pa.array([p[1] for p in pairs], AT)}
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    # two files, several row groups each, in no particular time order: the latest row wins across them
    _write(
        home / "history" / "part-1.parquet",
        [
            ("c-1", T0 - timedelta(hours=3), 50.0, "a"),
            ("c-2", T0 + timedelta(hours=1), 999.0, "late"),
            ("c-1", T0 + timedelta(hours=2), 777.0, "future"),
            ("c-3", T0 - timedelta(days=3), 30.0, "old"),
        ],
    )
    _write(
        home / "history" / "part-2.parquet",
        [
            ("c-1", T0 - timedelta(hours=1), 100.0, "b"),
            ("c-4", T0, 40.0, "exact"),
            ("c-1", T0 - timedelta(hours=2), 75.0, "between"),
        ],
    )
    _write(home / "history" / "_ignored.parquet", [("c-2", T0 - timedelta(days=1), -1.0, "hidden")])
    return home


def test_each_row_gets_the_latest_value_at_or_before_its_time_never_a_later_one(home: Path) -> None:
    history = ParquetHistory(_view(), HomeParquet(home, "history"))
    entities = _entities(
        [
            ("c-1", T0),  # rows at -3h, -2h, -1h and +2h: -1h's
            ("c-2", T0),  # only a later row (and one in a hidden file): null
            ("c-1", T0 - timedelta(hours=2, minutes=30)),  # -3h's
            ("c-4", T0),  # at exactly its time: taken
            (None, T0),  # no key: null
            ("c-9", T0),  # unknown key: null
            ("c-1", T0 + timedelta(days=1)),  # after every row: the +2h one
            ("c-3", T0),  # 3 days old, no TTL: taken
        ]
    )
    found = history.as_of(["balance", "segment"], entities)
    assert found.column_names == ["balance", "segment"]
    assert found.column("balance").to_pylist() == [100.0, None, 50.0, 40.0, None, None, 777.0, 30.0]
    assert found.column("segment").to_pylist() == ["b", None, "a", "exact", None, None, "future", "old"]


def test_the_ttl_makes_an_older_value_null(home: Path) -> None:
    history = ParquetHistory(_view(ttl_s=86_400), HomeParquet(home, "history"))
    found = history.as_of(
        ["balance"], _entities([("c-3", T0), ("c-1", T0), ("c-3", T0 - timedelta(days=2, hours=12))])
    )
    assert found.column("balance").to_pylist() == [None, 100.0, 30.0]


def test_unix_seconds_are_event_times_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    table = pa.table(
        {
            "customer_id": [1, 1],  # integer keys are read as text
            "ts": [T0.timestamp() - 10, T0.timestamp() + 10],
            "balance": [1, 2],  # integers are float64 features
            "segment": ["x", "y"],
        }
    )
    pq.write_table(table, home / "h.parquet")
    history = ParquetHistory(_view("h.parquet", timestamp_field="ts"), HomeParquet(home, "h.parquet"))
    history.check()
    assert history.as_of(["balance"], _entities([("1", T0)])).column("balance").to_pylist() == [1.0]


def test_latest_keeps_each_keys_last_row_as_of_a_time_within_since_and_ttl(home: Path) -> None:
    history = ParquetHistory(_view(ttl_s=2 * 86_400), HomeParquet(home, "history"))
    seen: list[tuple[int, int]] = []
    latest = history.latest(T0.timestamp(), progress=lambda done, total: seen.append((done, total)))
    rows = {r["key"]: r for r in latest.to_pylist()}
    assert set(rows) == {"c-1", "c-4"}  # c-2 only later, c-3 older than the TTL
    assert rows["c-1"]["balance"] == 100.0
    assert rows["c-1"]["ev"] == int((T0 - timedelta(hours=1)).timestamp() * 1e6)
    assert seen[-1] == (4, 4)
    assert len(seen) == 4
    since = history.latest(T0.timestamp(), since=(T0 - timedelta(minutes=30)).timestamp())
    assert since.column("key").to_pylist() == ["c-4"]


def test_a_declared_history_must_have_the_key_the_time_and_the_features(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    pq.write_table(pa.table({"customer_id": ["c"], "balance": [1.0]}), home / "short.parquet")
    pq.write_table(
        pa.table({"customer_id": ["c"], "event_timestamp": [1.0], "balance": ["text"], "segment": ["s"]}),
        home / "typed.parquet",
    )
    for name, words in (("short.parquet", "no columns"), ("typed.parquet", "feature 'balance'")):
        with pytest.raises(BerthError) as caught:
            ParquetHistory(_view(name), HomeParquet(home, name)).check()
        assert caught.value.code is ErrorCode.INVALID_OFFLINE_SOURCE
        assert words in caught.value.message
    ParquetHistory(_view("not-there-yet"), HomeParquet(home, "not-there-yet")).check()  # nothing to check


def test_a_path_out_of_the_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "outside").mkdir()
    (home / "link").symlink_to(tmp_path / "outside")
    for bad in ("../outside", "/etc", "link/x.parquet", "a\\b"):
        with pytest.raises(BerthError) as caught:
            home_path(home, bad)
        assert caught.value.code is ErrorCode.INVALID_OFFLINE_SOURCE, bad
    assert home_path(home, "data/x.parquet") == home.resolve() / "data" / "x.parquet"
