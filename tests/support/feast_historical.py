"""Run in Feast's own environment (tests/support/feast_server.py): Feast's own answer to a
point-in-time join, ``FeatureStore.get_historical_features`` on a repository (`feast_repo.py`),
the oracle of berth's `FeastHistory`.

    python feast_historical.py REPO_DIR < {"view", "join_key", "features", "rows": [{"key", "at"}]}

``at`` is ISO 8601 with a zone. Prints a JSON list with one object per row, in the rows' order:
the row's ``key`` and ``at`` as Feast answered them and each feature's value (null: none).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from feast import FeatureStore

ROW = "oracle_row"


def main(repo: Path, ask: dict) -> list[dict]:
    key = ask["join_key"]
    entity_df = pd.DataFrame(
        {
            key: [r["key"] for r in ask["rows"]],
            "event_timestamp": pd.to_datetime([r["at"] for r in ask["rows"]], utc=True),
            ROW: range(len(ask["rows"])),
        }
    )
    refs = [f"{ask['view']}:{f}" for f in ask["features"]]
    table = FeatureStore(repo_path=str(repo)).get_historical_features(entity_df, refs).to_arrow()
    rows = sorted(table.to_pylist(), key=lambda r: r[ROW])
    return [
        {"key": r[key], "at": r["event_timestamp"].isoformat()} | {f: r[f] for f in ask["features"]}
        for r in rows
    ]


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(Path(sys.argv[1]), json.load(sys.stdin))) + "\n")
