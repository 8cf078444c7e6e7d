"""What ordering one page of the analyst's "needs review" list costs over a full window.

The window is `REVIEW_WINDOW`-sized at most; here `--records` (default 4,000) of The Voice's
training texts, answered with a category and a confidence as the feedback router answers, embedded
by the shipped sentence encoder (the `text` extra). Timed, in this process (the database read of
the window is not included):

- ``first page``: the window clustered (KMeans over the embeddings, one group per 8 records);
- ``next page``: after the analyst corrected 20 records (they leave the window) and 20 new ones
  arrived: the groups of the first page reused (`Groupings`), each record put in its nearest group;
- ``without reuse``: the same next window clustered afresh (what every page cost before).

Each is the median of `--repeats` runs; the embeddings are warm (the encoder's cache) for all.

    .venv/bin/python bench/needs_review_bench.py [--records 4000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
from the_voice.data import load_split

from berth.control.review_order import Groupings, needs_review
from berth.core.records import PredictionRecord, StoredRecord
from berth.runtime.sentence_encoder import embed

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def answered(n: int, text: str, category: str, confidence: float) -> StoredRecord:
    return StoredRecord(
        PredictionRecord(
            prediction_id=f"p{n}",
            recorded_at=T0 + timedelta(seconds=n),
            endpoint="voice",
            model="voice",
            version=1,
            variant="",
            inputs={"text": {"datatype": "BYTES", "shape": [1], "data": [text]}},
            outputs={
                "category": {"datatype": "BYTES", "shape": [1], "data": [category]},
                "confidence": {"datatype": "FP64", "shape": [1], "data": [confidence]},
            },
            latency_s=0.002,
            entity_key=None,
        )
    )


def median_s(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=4_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    split = load_split("train")
    rng = np.random.default_rng(0)
    total = args.records + 20
    picked = rng.choice(len(split), size=total, replace=False)
    made = [
        answered(n, split.texts[i], split.categories[i], float(rng.uniform(0.2, 0.99)))
        for n, i in enumerate(picked)
    ]
    first_window, arrived = made[: args.records], made[args.records :]
    next_window = [*arrived, *first_window[20:]]
    started = time.perf_counter()
    embed([str(s.record.inputs["text"]["data"][0]) for s in made])
    print(f"embedding {total:,} texts once (cold): {time.perf_counter() - started:.2f} s")

    def first_page() -> None:
        needs_review(first_window, embed, Groupings())

    groupings = Groupings()
    needs_review(first_window, embed, groupings)

    def next_page() -> None:
        needs_review(next_window, embed, groupings)

    def without_reuse() -> None:
        needs_review(next_window, embed, Groupings())

    print(f"records in the window: {args.records:,}; median of {args.repeats} runs")
    first = median_s(first_page, args.repeats)
    reused = median_s(next_page, args.repeats)
    fresh = median_s(without_reuse, args.repeats)
    print(f"  first page (clustered):            {first:.3f} s")
    print(f"  next page (groups reused):          {reused:.3f} s")
    print(f"  next page without reuse:            {fresh:.3f} s")
    print(
        f"  reuse / without: {reused / fresh:.3f}  (clusterings on the reused path: {groupings.clusterings})"
    )


if __name__ == "__main__":
    main()
