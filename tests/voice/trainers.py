"""A trainer whose labels are corrupted: its challenger must lose against the champion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from the_voice.trainer import VoiceTrainer


class CorruptedTrainer:
    """The Voice's trainer, but every label it trains on is shuffled (seeded)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._voice = VoiceTrainer(options)

    def base_data(self) -> tuple[list[Any], list[str]]:
        return self._voice.base_data()

    def rows_of(self, inputs: Mapping[str, Mapping[str, Any]]) -> list[Any]:
        return self._voice.rows_of(inputs)

    def train(
        self, base: tuple[Sequence[Any], Sequence[str]], corrections: tuple[Sequence[Any], Sequence[str]]
    ) -> Any:
        rows, labels = [*base[0], *corrections[0]], [*base[1], *corrections[1]]
        shuffled = list(np.random.default_rng(5).permutation(np.asarray(labels, dtype=object)))
        return self._voice.train((rows, shuffled), ([], []))

    def model_input(self, rows: Sequence[Any]) -> Any:
        return self._voice.model_input(rows)

    def evaluation_data(self) -> tuple[list[Any], list[str]] | None:
        return None

    def describe(self) -> dict[str, Any]:
        return self._voice.describe()
