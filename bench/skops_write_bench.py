"""What writing a large scikit-learn model costs: ``skops.io.dump`` (schema written with an indent)
against berth's `write_skops` (the same file, schema compact), alternating rounds, on The Voice's
TF-IDF features (word 1-2 grams and character 2-4 grams of the banking77 train texts, a logistic
regression on top: the part of The Voice's model that the artifact holds). Then what reading the
file back costs: berth's trust audit and skops' load.

    .venv/bin/python bench/skops_write_bench.py [--rounds 5] [--rows 10003]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline
from the_voice.data import load_split

from berth.runtime.flavors.skops_trust import check_trust
from berth.runtime.flavors.skops_write import write_skops


def _model(rows: int) -> Any:
    split = load_split("train")
    texts, labels = list(split.texts)[:rows], list(split.categories)[:rows]
    features = ColumnTransformer(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), "text"),
            (
                "chars",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2),
                "text",
            ),
        ]
    )
    model = Pipeline(
        [("features", features), ("classifier", SGDClassifier(loss="modified_huber", max_iter=5, tol=None))]
    )
    return model.fit(pd.DataFrame({"text": texts}), labels)


def _seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=10_003)
    args = parser.parse_args()

    model = _model(args.rows)
    terms = sum(
        len(t.vocabulary_)
        for _, t, _ in model.named_steps["features"].transformers_
        if hasattr(t, "vocabulary_")
    )
    folder = Path(tempfile.mkdtemp(prefix="skops-bench-"))
    theirs, ours = folder / "skops.skops", folder / "berth.skops"
    dump_s: list[float] = []
    write_s: list[float] = []
    for _ in range(args.rounds):
        dump_s.append(_seconds(lambda: skops.io.dump(model, theirs)))
        write_s.append(_seconds(lambda: write_skops(model, ours)))
    audit_s = [_seconds(lambda: check_trust(ours, trusted=False)) for _ in range(args.rounds)]
    load_s = [
        _seconds(lambda: skops.io.load(ours, trusted=skops.io.get_untrusted_types(file=ours)))
        for _ in range(args.rounds)
    ]

    print(f"model: {args.rows} texts, {terms} vocabulary terms; {args.rounds} rounds, medians")
    sizes = [path.stat().st_size / 1e6 for path in (theirs, ours)]
    print(f"file: skops.io.dump {sizes[0]:.1f} MB, write_skops {sizes[1]:.1f} MB")
    print("| step | seconds |")
    print("|---|---|")
    print(f"| skops.io.dump | {statistics.median(dump_s):.2f} |")
    print(f"| write_skops | {statistics.median(write_s):.2f} |")
    ratio = statistics.median(w / d for w, d in zip(write_s, dump_s, strict=True))
    print(f"| write_skops / skops.io.dump | **{ratio:.2f}** |")
    print(f"| trust audit (check_trust) | {statistics.median(audit_s):.2f} |")
    print(f"| skops.io.load | {statistics.median(load_s):.2f} |")


if __name__ == "__main__":
    main()
