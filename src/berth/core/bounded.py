"""Bounded text for messages: a caller's names and values are never echoed in full.

A request may carry a hundred thousand names or a megabyte-long string; an error that repeats
them all costs memory, log space and, on gRPC, breaks the status (metadata has a size limit).
Every error message goes through `clip` (in `BerthError`), lists of names are shown with
`preview`, and duplicates are found in one pass (`duplicates`), never with ``list.count``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sized
from typing import Final, TypeVar

MAX_MESSAGE_CHARS: Final = 2000
"""The longest error message (and string detail) a server sends."""
PREVIEW_ITEMS: Final = 10
"""How many items of a list a message shows."""
PREVIEW_ITEM_CHARS: Final = 80
"""How many characters of one item a message shows."""

H = TypeVar("H", bound=Hashable)


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text`, cut to at most `limit` characters (the cut marked with how much was left out)."""
    if len(text) <= limit:
        return text
    marker = f"... ({len(text) - limit} more characters)"
    keep = max(limit - len(marker), 0)
    return text[:keep] + marker


def preview(items: Iterable[object], limit: int = PREVIEW_ITEMS) -> str:
    """A list for a message: at most `limit` items, each at most `PREVIEW_ITEM_CHARS` long."""
    shown: list[str] = []
    total = len(items) if isinstance(items, Sized) else None
    count = 0
    for item in items:
        count += 1
        if len(shown) < limit:
            shown.append(clip(repr(item), PREVIEW_ITEM_CHARS))
        elif total is not None:
            break
    total = count if total is None else total
    more = f", ... ({total - len(shown)} more)" if total > len(shown) else ""
    return "[" + ", ".join(shown) + more + "]"


def duplicates(items: Iterable[H]) -> list[H]:
    """The items that occur more than once, in order of first occurrence (one pass)."""
    return [item for item, seen in Counter(items).items() if seen > 1]
