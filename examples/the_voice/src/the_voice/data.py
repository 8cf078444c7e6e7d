"""The shipped banking77 texts (CC BY 4.0, PolyAI; see data/SOURCE.md and data/LICENSE)."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd


@dataclass(frozen=True, slots=True)
class Split:
    """Texts and their true categories (the "truth" the simulated analyst knows)."""

    texts: list[str]
    categories: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def sample(self, rows: int, *, seed: int = 7) -> Split:
        """`rows` texts drawn without replacement (seeded), in the order drawn: the files are sorted by
        category, so a head of them (or of a sample in file order) holds a few categories only."""
        picked = np.random.default_rng(seed).choice(
            len(self.texts), size=min(rows, len(self.texts)), replace=False
        )
        return Split([self.texts[i] for i in picked], [self.categories[i] for i in picked])


def _read(name: str) -> bytes:
    return resources.files("the_voice").joinpath("data", name).read_bytes()


def load_split(name: str) -> Split:
    """``train`` (10,003 texts) or ``test`` (3,080, 40 per category)."""
    frame = pd.read_csv(io.BytesIO(_read(f"{name}.csv")), dtype=str, keep_default_na=False)
    return Split([str(t) for t in frame["text"]], [str(c) for c in frame["category"]])


def categories() -> list[str]:
    loaded: list[str] = json.loads(_read("categories.json"))
    return loaded


def fingerprint() -> str:
    """A digest of the shipped data: a model trained on the same data by the same code is not redone."""
    digest = hashlib.sha256()
    for name in ("train.csv", "test.csv", "categories.json"):
        digest.update(_read(name))
    return digest.hexdigest()[:16]
