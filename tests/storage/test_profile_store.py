"""Profile store contract (SQLite and PostgreSQL): one reference profile per existing version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from berth.control.monitoring.profiling import build_profile
from berth.core.errors import BerthError, ErrorCode
from berth.storage.sql_profiles import MAX_PROFILE_BYTES, SqlProfileStore
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version


@pytest.fixture
def profiles(store: SqlRegistryStore) -> SqlProfileStore:
    store.create_model("churn", team="default")
    store.create_version("churn", new_version(), team="default")
    return SqlProfileStore(store.engine)


def _code(call: Callable[[], object]) -> ErrorCode:
    with pytest.raises(BerthError) as caught:
        call()
    return caught.value.code


def test_a_profile_is_stored_and_read_back_as_given(profiles: SqlProfileStore) -> None:
    document = build_profile({"age": [30.5, 41.0, 52.25], "segment": ["a", "b", "a"]}).to_json()

    profiles.put_profile("churn", 1, document)

    assert profiles.get_profile("churn", 1) == document


def test_putting_again_replaces_the_profile(profiles: SqlProfileStore) -> None:
    profiles.put_profile("churn", 1, {"format": 1, "first": True})
    first = profiles.get_profile("churn", 1)
    profiles.put_profile("churn", 1, {"format": 1, "second": [1, 2]})

    assert first == {"format": 1, "first": True}
    assert profiles.get_profile("churn", 1) == {"format": 1, "second": [1, 2]}


@pytest.mark.parametrize(
    ("model", "version", "code"),
    [
        ("churn", 2, ErrorCode.VERSION_NOT_FOUND),
        ("churn", 0, ErrorCode.VERSION_NOT_FOUND),
        ("churn", 2**40, ErrorCode.VERSION_NOT_FOUND),
        ("nobody", 1, ErrorCode.MODEL_NOT_FOUND),
    ],
)
def test_only_existing_versions_have_profiles(
    profiles: SqlProfileStore, model: str, version: int, code: ErrorCode
) -> None:
    assert _code(lambda: profiles.put_profile(model, version, {"format": 1})) is code
    assert _code(lambda: profiles.get_profile(model, version)) is code


def test_a_version_without_a_profile_says_so(profiles: SqlProfileStore) -> None:
    assert _code(lambda: profiles.get_profile("churn", 1)) is ErrorCode.PROFILE_NOT_FOUND


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"big": "x" * (MAX_PROFILE_BYTES + 1)}, ErrorCode.PAYLOAD_TOO_LARGE),
        ({"bad": object()}, ErrorCode.INVALID_REQUEST),
        ({"huge": 2**80}, ErrorCode.INVALID_REQUEST),
        ([1, 2], ErrorCode.INVALID_REQUEST),
    ],
)
def test_bad_documents_are_refused_and_nothing_is_stored(
    profiles: SqlProfileStore, document: Any, code: ErrorCode
) -> None:
    assert _code(lambda: profiles.put_profile("churn", 1, document)) is code
    assert _code(lambda: profiles.get_profile("churn", 1)) is ErrorCode.PROFILE_NOT_FOUND


def test_non_finite_numbers_are_stored_as_null(profiles: SqlProfileStore) -> None:
    profiles.put_profile("churn", 1, {"format": 1, "x": float("nan"), "y": [float("inf")]})

    assert profiles.get_profile("churn", 1) == {"format": 1, "x": None, "y": [None]}
