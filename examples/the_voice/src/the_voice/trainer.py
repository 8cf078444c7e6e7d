"""The Voice's registered trainer (entry point ``berth.trainers: voice``): data in, fitted model out.

berth's ``retrain`` job calls it: `base_data` (the train texts with their KMeans labels), plus the
analysts' corrections turned into rows by `rows_of` (a record's ``text`` input), then `train`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from the_voice.data import load_split
from the_voice.labelling import SEED, label_by_clusters

TEXT = "text"
MIN_CORRECTIONS_TO_CHOOSE = 200
"""From this many corrections on, the trainer chooses its recipe on a part of them (below: both)."""
VALIDATION_SHARE = 0.25
WITH_CLUSTERS = "cluster labels + corrections"
CORRECTIONS_ONLY = "corrections only"


SELF_TRAINING_BELOW = 1_500
"""Below this many corrections to learn from (about 20 a category), the corrections-only recipe is
self-trained on the base texts (their cluster labels unused): see `VoiceTrainer`."""
SELF_TRAINING_ROUNDS = 2
PSEUDO_PER_CATEGORY = 50
"""Each round adds, for every category, the base texts the model is surest of in that category."""
PSEUDO_WEIGHT = 0.5
"""A pseudo-labelled text weighs half a correction."""

SMALL_DATA_ROWS = 4_000
"""Up to this many training rows the classifier is a logistic regression (lbfgs: exact, best with
few labels); beyond, SGD (as good with many labels, and several times faster)."""


def build_pipeline(seed: int = SEED, *, rows: int = SMALL_DATA_ROWS + 1) -> Any:
    """The sentence encoder's embedding (USE multilingual v3, `berth.text.SentenceEncoder`: computed by
    the server, a reference in the artifact), TF-IDF of words (1-2 grams) and of characters (2-4
    grams inside words) -> a linear model with probabilities: a logistic regression for up to
    `SMALL_DATA_ROWS` rows, else SGD with the modified Huber loss; seeded. It takes a DataFrame with
    a ``text`` column, so the served model's input is named ``text``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.pipeline import Pipeline

    from berth.text import SentenceEncoder

    features = ColumnTransformer(
        [
            ("sentence", SentenceEncoder(), TEXT),
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1), TEXT),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2 if rows > 2_000 else 1
                ),
                TEXT,
            ),
        ]
    )
    classifier: Any
    if rows <= SMALL_DATA_ROWS:
        classifier = LogisticRegression(C=20.0, max_iter=300, random_state=seed)
    else:
        classifier = SGDClassifier(
            loss="modified_huber", alpha=1e-4, max_iter=15, tol=None, random_state=seed
        )
    return Pipeline([("features", features), ("classifier", classifier)])


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    weights: Sequence[float] | None = None,
    seed: int = SEED,
    rows: int | None = None,
) -> Any:
    """A fitted `build_pipeline` on these texts and labels (optionally weighted per text); `rows`
    picks the classifier as if there were that many rows (default: the texts')."""
    model = build_pipeline(seed, rows=len(texts) if rows is None else rows)
    fit_params = {} if weights is None else {"classifier__sample_weight": np.asarray(weights, dtype=float)}
    model.fit(frame(texts), list(labels), **fit_params)
    return model


def self_train(
    texts: Sequence[str], labels: Sequence[str], unlabelled: Sequence[str], *, seed: int = SEED
) -> Any:
    """Self-training: a model of the labelled texts labels the `unlabelled` ones; the
    `PSEUDO_PER_CATEGORY` it is surest of in each category it answers join the labelled ones
    (weighted `PSEUDO_WEIGHT`), and the model is fitted again; `SELF_TRAINING_ROUNDS` times. With
    a few labelled texts a category, the confident neighbours fill in what those few leave out."""
    model = train(texts, labels, seed=seed)
    pool = frame(unlabelled)
    for _ in range(SELF_TRAINING_ROUNDS):
        probabilities = model.predict_proba(pool)
        answered = probabilities.argmax(axis=1)
        sureness = probabilities.max(axis=1)
        picked: list[int] = []
        for k in range(len(model.classes_)):
            members = np.flatnonzero(answered == k)
            picked += [
                int(i) for i in members[np.argsort(-sureness[members], kind="stable")][:PSEUDO_PER_CATEGORY]
            ]
        model = train(
            [*texts, *(unlabelled[i] for i in picked)],
            [*labels, *(str(model.classes_[answered[i]]) for i in picked)],
            weights=[1.0] * len(texts) + [PSEUDO_WEIGHT] * len(picked),
            seed=seed,
            rows=len(texts),
        )
    return model


def frame(texts: Sequence[str]) -> pd.DataFrame:
    """What the model takes: one ``text`` column."""
    return pd.DataFrame({TEXT: [str(t) for t in texts]})


def dataset(*, rows: int | None = None) -> tuple[list[str], list[str]]:
    """The base training set: the train texts (a seeded sample of `rows` of them, default all) with their
    KMeans labels (see `the_voice.labelling`)."""
    split = load_split("train")
    if rows is not None:
        split = split.sample(rows)
    return split.texts, label_by_clusters(split.texts, split.categories).labels


class VoiceTrainer:
    """The trainer berth's retrain job runs. Options (the job's ``trainer_options``):
    ``base_rows`` (train on a seeded sample of N base texts only: quick tests), ``seed``."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        rows = options.pop("base_rows", None)
        seed = options.pop("seed", SEED)
        if options:
            raise ValueError(f"unknown trainer options {sorted(options)}; known: ['base_rows', 'seed']")
        if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 100):
            raise ValueError("'base_rows' must be an integer >= 100")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("'seed' must be an integer")
        self._rows: int | None = rows
        self._seed: int = seed
        self._recipe = WITH_CLUSTERS
        self._scores: dict[str, float] = {}
        self._self_train = False

    def base_data(self) -> tuple[list[str], list[str]]:
        return dataset(rows=self._rows)

    def rows_of(self, inputs: Mapping[str, Mapping[str, Any]]) -> list[Any]:
        """A record's training rows: its ``text`` input's values (one per row)."""
        tensor = inputs.get(TEXT)
        if tensor is None:
            return []
        return [str(v) for v in tensor.get("data", [])]

    def train(
        self, base: tuple[Sequence[Any], Sequence[str]], corrections: tuple[Sequence[Any], Sequence[str]]
    ) -> Any:
        """The cluster labels are rough (about a third are right) and the corrections are gold, so
        which recipe wins depends on how many corrections there are. Below
        `MIN_CORRECTIONS_TO_CHOOSE` both are used; from there on two recipes are compared on a
        seeded quarter of the corrections (the retrain job's gold hold-out is never seen here):
        cluster labels + corrections (each correction weighted so that the corrections weigh as
        much as the base texts together), and corrections only. The winner is refitted on all."""
        base_texts, base_labels = [str(r) for r in base[0]], list(base[1])
        gold_texts, gold_labels = [str(r) for r in corrections[0]], list(corrections[1])
        self._self_train = bool(base_texts) and len(gold_texts) < SELF_TRAINING_BELOW
        if len(gold_texts) < MIN_CORRECTIONS_TO_CHOOSE or not base_texts:
            self._recipe = WITH_CLUSTERS if base_texts else CORRECTIONS_ONLY
            return self._fit(self._recipe, base_texts, base_labels, gold_texts, gold_labels)
        order = np.random.default_rng(self._seed).permutation(len(gold_texts))
        cut = int(len(order) * VALIDATION_SHARE)
        check, fit = order[:cut], order[cut:]
        fit_texts, fit_labels = [gold_texts[i] for i in fit], [gold_labels[i] for i in fit]
        truth = np.asarray([gold_labels[i] for i in check], dtype=object)
        check_frame = frame([gold_texts[i] for i in check])
        scores = {}
        for recipe in (WITH_CLUSTERS, CORRECTIONS_ONLY):
            model = self._fit(recipe, base_texts, base_labels, fit_texts, fit_labels)
            scores[recipe] = float(np.mean(model.predict(check_frame) == truth))
        self._recipe = max(scores, key=lambda r: scores[r])  # a tie keeps the cluster labels
        self._scores = scores
        return self._fit(self._recipe, base_texts, base_labels, gold_texts, gold_labels)

    def _fit(
        self,
        recipe: str,
        base_texts: list[str],
        base_labels: list[str],
        gold_texts: list[str],
        gold_labels: list[str],
    ) -> Any:
        if recipe == CORRECTIONS_ONLY:
            if self._self_train:
                return self_train(gold_texts, gold_labels, base_texts, seed=self._seed)
            return train(gold_texts, gold_labels, seed=self._seed)
        weight = max(1.0, len(base_texts) / max(len(gold_texts), 1))
        weights = [1.0] * len(base_texts) + [weight] * len(gold_texts)
        return train(base_texts + gold_texts, base_labels + gold_labels, weights=weights, seed=self._seed)

    def model_input(self, rows: Sequence[Any]) -> Any:
        return frame([str(r) for r in rows])

    def evaluation_data(self) -> tuple[list[Any], list[str]] | None:
        """The test split (3,080 texts, 40 per category): every version's ``accuracy``."""
        test = load_split("test")
        return list(test.texts), list(test.categories)

    def describe(self) -> dict[str, Any]:
        """Parameters and the model card for the versions it trains."""
        return {
            "params": {
                "features": "USE multilingual v3 (berth.text, 512) + tfidf words 1-2 + chars 2-4 (char_wb)",
                "classifier": f"LogisticRegression(C=20) up to {SMALL_DATA_ROWS} rows, else "
                "SGDClassifier(modified_huber, alpha=1e-4)",
                "seed": self._seed,
                "recipe": self._recipe,
                "self_training": self._self_train and self._recipe == CORRECTIONS_ONLY,
                **{f"recipe_score[{name}]": score for name, score in self._scores.items()},
            },
            "docs": MODEL_CARD,
        }


MODEL_CARD = """# voice-classifier

Routes a customer's feedback text to one of the 77 banking77 categories (the endpoint
`feedback-router` maps the category to the owning team).

- **Model**: sentence embeddings (Google's Universal Sentence Encoder multilingual v3, computed by
  berth's server from the text: the artifact names the encoder and its weights' sha256) with
  TF-IDF of words (1-2 grams) and characters (2-4 grams) -> linear classifier (logistic
  regression with few labels, SGD with many; both give probabilities).
- **First labels**: none were given. The train texts were clustered (sentence embeddings + KMeans, k = 77) and
  an analyst named each cluster after reading 5 of its texts; every text took its cluster's name.
- **Improves from**: analysts' corrections of served predictions (berth feedback), through the
  `retrain` job, which promotes a challenger only when it beats the champion on a gold hold-out.
- **Data**: BANKING77 (PolyAI, CC BY 4.0; Casanueva et al., 2020, arXiv:2003.04807).
- **Limits**: English online-banking queries only; categories outside the 77 are forced into one.
"""
