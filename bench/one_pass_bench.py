"""What answering ``predict`` and ``predict_proba`` together costs in process: scikit-learn's two
calls against berth's one pass (`berth.runtime.flavors.one_pass`), for the peer benchmark's models
(lr, rf: 20 float features) and The Voice's classifier (sentence encoder + TF-IDF + logistic
regression, trained on 1,500 texts), at 1 and 64 rows a batch. Then the peer benchmark's forest's
``predict_proba``: scikit-learn's (each tree dispatched by joblib) against berth's
(`berth.runtime.flavors.forest_proba`: the trees called in turn). The ways alternate in rounds;
figures are medians of the rounds (µs per batch), the ratio is berth's over scikit-learn's.

Run: ``.venv/bin/python bench/one_pass_bench.py [--rounds 7] [--seconds 0.5]`` (prints figures).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from berth.runtime.flavors.forest_proba import forest_proba
from berth.runtime.flavors.one_pass import predict_and_proba


def per_call_us(call: Callable[[], object], seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        call()
        calls += 1
    return elapsed / calls * 1e6


def peer_models() -> list[tuple[str, Any, Callable[[int], Any]]]:
    x, y = make_classification(n_samples=1000, n_features=20, n_informative=10, random_state=42)
    x = x.astype(np.float32)
    lr = LogisticRegression(max_iter=1000).fit(x, y)
    rf = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=1).fit(x, y)
    return [("lr", lr, lambda n: x[:n]), ("rf", rf, lambda n: x[:n])]


def voice_model() -> tuple[str, Any, Callable[[int], Any]]:
    from the_voice.data import load_split
    from the_voice.trainer import frame, train

    split = load_split("train").sample(1500, seed=5)
    model = train(split.texts, split.categories)
    texts = load_split("test").texts
    return "the voice", model, lambda n: frame(texts[:n])


def compare(model: Any, x: Any, rounds: int, seconds: float) -> tuple[float, float, float]:
    """Median µs per batch of two calls and of one pass, and the median of the rounds' ratios."""
    both = predict_and_proba(model, x)
    if both is None or both[0].tolist() != model.predict(x).tolist():
        raise SystemExit("one pass does not answer as scikit-learn does")
    two, one = [], []
    for _ in range(rounds):
        two.append(per_call_us(lambda: (model.predict(x), model.predict_proba(x)), seconds))
        one.append(per_call_us(lambda: predict_and_proba(model, x), seconds))
    ratio = statistics.median(o / t for o, t in zip(one, two, strict=True))
    return statistics.median(two), statistics.median(one), ratio


def compare_forest(forest: Any, x: Any, rounds: int, seconds: float) -> tuple[float, float, float]:
    """Median µs per batch of scikit-learn's predict_proba and of berth's, and the rounds' ratio."""
    if not np.array_equal(forest_proba(forest, x), forest.predict_proba(x)):
        raise SystemExit("the trees in turn do not answer as scikit-learn does")
    theirs, ours = [], []
    for _ in range(rounds):
        theirs.append(per_call_us(lambda: forest.predict_proba(x), seconds))
        ours.append(per_call_us(lambda: forest_proba(forest, x), seconds))
    ratio = statistics.median(o / t for o, t in zip(ours, theirs, strict=True))
    return statistics.median(theirs), statistics.median(ours), ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5, help="per way, round, model and batch size")
    args = parser.parse_args()
    print("| model | rows | two calls µs | one pass µs | one pass / two calls |")
    print("|---|---|---|---|---|")
    peers = peer_models()
    for name, model, rows_of in [*peers, voice_model()]:
        for rows in (1, 64):
            two, one, ratio = compare(model, rows_of(rows), args.rounds, args.seconds)
            print(f"| {name} | {rows} | {two:,.0f} | {one:,.0f} | **{ratio:.2f}** |")
    forest, forest_rows = next((model, rows_of) for name, model, rows_of in peers if name == "rf")
    print("\n| rf predict_proba | rows | scikit-learn µs | trees in turn µs | berth / scikit-learn |")
    print("|---|---|---|---|---|")
    for rows in (1, 64):
        theirs, ours, ratio = compare_forest(forest, forest_rows(rows), args.rounds, args.seconds)
        print(f"| rf | {rows} | {theirs:,.0f} | {ours:,.0f} | **{ratio:.2f}** |")


if __name__ == "__main__":
    main()
