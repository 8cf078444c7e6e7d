"""Model cards: what a consumer reads before calling another team's model, pushed with a version.

A card has seven sections, each a piece of Markdown text (an empty or missing section is simply
not filled): intended use, out-of-scope use, training data, evaluation, limitations, ethical and
regulatory notes, owners. It arrives either as a Markdown file whose ``## `` headings name the
sections (``berth push --card card.md``) or as a JSON object keyed by section (the SDK's
``card=``, the REST push metadata). Both end here, in `parse_card`, and are stored as a plain JSON
object ``{section: text}`` in ``versions.card``.

The parse is strict, so nothing a pusher wrote is dropped silently: an unknown ``## `` heading, a
section given twice, text before the first section (a ``# `` title line is allowed), a value that
is not text, or a card over the size limits is INVALID_CARD (400), naming what to fix.
YAML is not accepted (berth has no YAML parser among its dependencies; JSON is a subset of YAML
anyway).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from berth.core.errors import BerthError, ErrorCode

SECTIONS: Final[tuple[tuple[str, str], ...]] = (
    ("intended_use", "Intended use"),
    ("out_of_scope_use", "Out-of-scope use"),
    ("training_data", "Training data"),
    ("evaluation", "Evaluation"),
    ("limitations", "Limitations"),
    ("ethical_considerations", "Ethical and regulatory notes"),
    ("owners", "Owners"),
)
"""(key, heading) of every section, in the order a card shows them."""

SECTION_KEYS: Final = tuple(key for key, _ in SECTIONS)
MAX_SECTION_CHARS: Final = 20_000
MAX_CARD_CHARS: Final = 100_000
"""A card is read by people: these bound what one push may store (and what search scans)."""

_HEADING_ALIASES: Final[dict[str, str]] = {
    "intended use": "intended_use",
    "intended uses": "intended_use",
    "out of scope use": "out_of_scope_use",
    "out of scope uses": "out_of_scope_use",
    "out of scope": "out_of_scope_use",
    "training data": "training_data",
    "evaluation": "evaluation",
    "evaluation results": "evaluation",
    "limitations": "limitations",
    "ethical and regulatory notes": "ethical_considerations",
    "ethical considerations": "ethical_considerations",
    "ethics": "ethical_considerations",
    "regulatory notes": "ethical_considerations",
    "owners": "owners",
    "owner": "owners",
}
_HEADING: Final = re.compile(r"^##\s+(.+?)\s*#*\s*$")
_FENCE: Final = re.compile(r"^\s*(```|~~~)")


def invalid_card(why: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_CARD, f"invalid model card: {why}")


def _section_of(name: str) -> str | None:
    """The section key a heading or a JSON key names (case, dashes and underscores ignored)."""
    words = " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())
    return _HEADING_ALIASES.get(words)


def _known() -> str:
    return ", ".join(f"'## {heading}'" for _, heading in SECTIONS)


def parse_markdown_card(text: str) -> dict[str, str]:
    """The sections of a Markdown card: each ``## Heading`` starts one (``###`` and deeper
    headings, and anything inside fenced code, belong to the section they are in)."""
    if not isinstance(text, str):
        raise invalid_card("a Markdown card is text")
    found: dict[str, list[str]] = {}
    current: str | None = None
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading is not None:
            key = _section_of(heading.group(1))
            if key is None:
                raise invalid_card(f"line {number}: unknown section {heading.group(1)!r}; use {_known()}")
            if key in found:
                raise invalid_card(f"line {number}: section {heading.group(1)!r} is given twice")
            current = key
            found[key] = []
        elif current is not None:
            found[current].append(line)
        elif line.strip() and not (line.startswith("# ") and not fenced):
            raise invalid_card(f"line {number}: text before the first section heading ({_known()})")
    return checked_card({key: "\n".join(lines) for key, lines in found.items()})


def checked_card(value: Any) -> dict[str, str]:
    """A card as stored: the known sections that have text, stripped, in section order; keys may
    be the section keys (``intended_use``) or their headings ("Intended use"). A list of strings
    (owners, say) is kept one per line."""
    if not isinstance(value, Mapping):
        raise invalid_card(f"a card is an object of sections, got {type(value).__name__}")
    sections: dict[str, str] = {}
    for name, text in value.items():
        key = _section_of(name) if isinstance(name, str) else None
        if key is None:
            raise invalid_card(f"unknown section {name!r}: use one of {', '.join(SECTION_KEYS)}")
        if key in sections:
            raise invalid_card(f"section {key!r} is given twice")
        if isinstance(text, list) and all(isinstance(t, str) for t in text):
            text = "\n".join(text)
        if not isinstance(text, str):
            raise invalid_card(f"section {key!r} must be text, got {type(text).__name__}")
        if len(text) > MAX_SECTION_CHARS:
            raise invalid_card(f"section {key!r} is over {MAX_SECTION_CHARS:,} characters")
        sections[key] = text.strip()
    if sum(len(t) for t in sections.values()) > MAX_CARD_CHARS:
        raise invalid_card(f"the card is over {MAX_CARD_CHARS:,} characters")
    return {key: sections[key] for key in SECTION_KEYS if sections.get(key)}


def read_card(source: str | Path | Mapping[str, Any]) -> dict[str, str]:
    """A card from a mapping, or from a file: ``.json`` (an object of sections), else Markdown."""
    if isinstance(source, Mapping):
        return checked_card(source)
    path = Path(source)
    try:
        if path.stat().st_size > 4 * MAX_CARD_CHARS:
            raise invalid_card(f"{path} is too large for a card")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid_card(f"cannot read {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            return checked_card(json.loads(text))
        except ValueError as exc:
            raise invalid_card(f"{path} is not JSON: {exc}") from None
    return parse_markdown_card(text)


@dataclass(frozen=True, slots=True)
class Completeness:
    """How much of a card is filled: `filled` of `total` sections, and which ones are missing."""

    filled: int
    total: int
    missing: tuple[str, ...]

    @property
    def score(self) -> float:
        return round(self.filled / self.total, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "filled": self.filled,
            "total": self.total,
            "score": self.score,
            "missing": list(self.missing),
        }


def completeness(card: Mapping[str, str] | None) -> Completeness:
    """A card's completeness (None: no card at all, nothing filled)."""
    card = card or {}
    missing = tuple(key for key in SECTION_KEYS if not str(card.get(key, "")).strip())
    return Completeness(len(SECTION_KEYS) - len(missing), len(SECTION_KEYS), missing)
