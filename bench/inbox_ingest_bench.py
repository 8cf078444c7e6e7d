"""What delivery to teams costs: ingestion of prediction records with and without ``deliver``.

The answer path runs no delivery code (messages are written when records are ingested, by the
monitor process), so the cost is here: one more row per answered row, in the same transaction.
Run: ``.venv/bin/python bench/inbox_ingest_bench.py`` (a temporary home on SQLite, about a minute).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline

import berth
from berth.core.records import IngestBatch, PredictionRecord
from berth.core.settings import Settings
from berth.storage.sql_records import SqlRecordStore

BATCH = 2000
ROUNDS = 8
ENDPOINT = "router"
DELIVER = {"by": "team", "label": "category"}
PIPELINE = {
    "post": [
        {"type": "map", "column": "predict", "into": "team", "mapping": {"card_lost": "card-security"}},
        {"type": "rename", "columns": {"predict": "category"}},
    ]
}


def records(tag: str) -> IngestBatch:
    def tensor(datatype: str, value: object) -> dict[str, object]:
        return {"datatype": datatype, "shape": [1], "data": [value]}

    return IngestBatch(
        records=[
            PredictionRecord(
                prediction_id=f"{tag}-{i}",
                recorded_at=datetime.now(UTC),
                endpoint=ENDPOINT,
                model="router-model",
                version=1,
                variant="",
                inputs={"text": tensor("BYTES", "my card was stolen yesterday at the station")},
                outputs={
                    "category": tensor("BYTES", "card_lost"),
                    "team": tensor("BYTES", "card-security"),
                    "confidence": tensor("FP64", 0.93),
                },
                latency_s=0.001,
            )
            for i in range(BATCH)
        ]
    )


def main() -> None:
    texts = np.array(["my card was stolen", "what is my balance"] * 5, dtype=object)
    model = Pipeline([("t", TfidfVectorizer()), ("c", SGDClassifier(loss="log_loss", random_state=0))])
    model.fit(texts, ["card_lost", "balance"] * 5)
    home = Path(tempfile.mkdtemp()) / "home"
    berth.push(model, name="router-model", home=home, input_example=texts[:2])
    endpoints = berth.endpoints(home=home)
    store = SqlRecordStore(Settings(home=home).resolved_database_url)
    targets = [{"target": "router-model"}]
    endpoints.create(ENDPOINT, {"targets": targets, "pipeline": PIPELINE, "deliver": DELIVER})
    try:
        for label, deliver in (("with deliver", True), ("without", False), ("with deliver", True)):
            spec = {"targets": targets, "pipeline": PIPELINE} | ({"deliver": DELIVER} if deliver else {})
            endpoints.replace(ENDPOINT, spec)
            times = []
            for r in range(ROUNDS):
                batch = records(f"{label}-{deliver}-{r}-{time.monotonic_ns()}")
                start = time.perf_counter()
                store.ingest(batch)
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            print(
                f"{label:>13}: {median * 1e3:7.1f} ms per {BATCH}-record batch, "
                f"{median / BATCH * 1e6:6.1f} µs a record"
            )
    finally:
        store.close()
        endpoints.close()


if __name__ == "__main__":
    main()
