"""Model cards: a Markdown or JSON card parsed into its sections, checked strictly, scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.core.errors import BerthError, ErrorCode
from berth.core.model_cards import (
    MAX_SECTION_CHARS,
    SECTION_KEYS,
    checked_card,
    completeness,
    parse_markdown_card,
    read_card,
)

CARD = """# Churn model card

## Intended use
Score the churn risk of retail customers, monthly.

## Out-of-scope use
Credit decisions.

### Why
It was never evaluated for that.

## Training data
Twelve months of anonymised customer events.

```
## not a heading: inside a code block
```

## Ethical and regulatory notes
GDPR: no special categories.
"""


def test_markdown_headings_become_sections_and_code_and_subheadings_stay_inside() -> None:
    card = parse_markdown_card(CARD)

    assert list(card) == ["intended_use", "out_of_scope_use", "training_data", "ethical_considerations"]
    assert card["intended_use"] == "Score the churn risk of retail customers, monthly."
    assert "### Why" in card["out_of_scope_use"]
    assert "## not a heading" in card["training_data"]


def test_completeness_counts_filled_sections_and_names_the_missing_ones() -> None:
    score = completeness(parse_markdown_card(CARD))

    assert (score.filled, score.total) == (4, len(SECTION_KEYS))
    assert score.missing == ("evaluation", "limitations", "owners")
    assert score.score == round(4 / 7, 3)
    assert completeness(None).filled == 0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("## Intended use\nx\n## Purpose\ny\n", "unknown section 'Purpose'"),
        ("## Intended use\nx\n## intended uses\ny\n", "given twice"),
        ("Some text first\n## Intended use\nx\n", "text before the first section"),
    ],
)
def test_a_bad_markdown_card_is_invalid_card(text: str, fragment: str) -> None:
    with pytest.raises(BerthError) as caught:
        parse_markdown_card(text)

    assert caught.value.code is ErrorCode.INVALID_CARD
    assert fragment in caught.value.message


def test_a_json_card_takes_keys_or_headings_and_lists_of_owners() -> None:
    card = checked_card(
        {"Intended use": " churn ", "owners": ["alice@a.example", "team-a"], "limitations": ""}
    )

    assert card == {"intended_use": "churn", "owners": "alice@a.example\nteam-a"}


@pytest.mark.parametrize(
    "value",
    [
        ["not", "an", "object"],
        {"purpose": "x"},
        {"intended_use": 3},
        {"intended_use": "x" * (MAX_SECTION_CHARS + 1)},
        {key: "x" * MAX_SECTION_CHARS for key in SECTION_KEYS},  # each fits, the whole does not
    ],
)
def test_a_bad_card_object_is_invalid_card(value: object) -> None:
    with pytest.raises(BerthError) as caught:
        checked_card(value)

    assert caught.value.code is ErrorCode.INVALID_CARD


def test_read_card_reads_markdown_and_json_files(tmp_path: Path) -> None:
    (tmp_path / "card.md").write_text(CARD)
    (tmp_path / "card.json").write_text('{"evaluation": "AUC 0.91 on 2025 holdout"}')
    (tmp_path / "bad.json").write_text("{not json")

    assert read_card(tmp_path / "card.md")["out_of_scope_use"].startswith("Credit decisions.")
    assert read_card(tmp_path / "card.json") == {"evaluation": "AUC 0.91 on 2025 holdout"}
    for missing in (tmp_path / "bad.json", tmp_path / "none.md"):
        with pytest.raises(BerthError) as caught:
            read_card(missing)
        assert caught.value.code is ErrorCode.INVALID_CARD
