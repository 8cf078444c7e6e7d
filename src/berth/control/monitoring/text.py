"""How text is cut into tokens for profiles and drift: lower-cased runs of word characters."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Final

_TOKEN: Final = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def token_counts(texts: Iterable[str]) -> tuple[Counter[str], list[int], list[int]]:
    """Token frequencies over all texts, and each text's length in characters and in tokens."""
    counts: Counter[str] = Counter()
    chars: list[int] = []
    lengths: list[int] = []
    for text in texts:
        found = tokens(text)
        counts.update(found)
        chars.append(len(text))
        lengths.append(len(found))
    return counts, chars, lengths
