"""Which caller-sent request ids are kept, and that new ones never repeat."""

from __future__ import annotations

import pytest

from berth.core.request_ids import MAX_LENGTH, RequestIds


@pytest.mark.parametrize("sent", ["abc-123", "x" * MAX_LENGTH, "3f2a9c1e-0b7d-4e6f-9a55-1c2d3e4f5a6b"])
def test_acceptable_ids_are_kept(sent: str) -> None:
    assert RequestIds().accept(sent) == sent


@pytest.mark.parametrize(
    "sent", [None, "", "x" * (MAX_LENGTH + 1), "two words", "tab\there", "é-unicode", "nl\n"]
)
def test_other_ids_are_replaced(sent: str | None) -> None:
    made = RequestIds().accept(sent)
    assert made != sent
    assert made.isascii()
    assert 0 < len(made) <= MAX_LENGTH


def test_new_ids_are_unique_within_and_across_processes() -> None:
    first, second = RequestIds(), RequestIds()  # two processes' generators
    ids = [first.new() for _ in range(1000)] + [second.new() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
