"""Registry contract: models (create, get, update, list and search)."""

from __future__ import annotations

from datetime import UTC

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.core.entities import check_model_name
from berth.core.errors import BerthError, ErrorCode
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version


def test_create_model_returns_it(store: SqlRegistryStore) -> None:
    model = store.create_model("churn", team="growth", description="Who leaves", tags={"domain": "crm"})

    assert (model.name, model.team, model.description, model.tags) == (
        "churn",
        "growth",
        "Who leaves",
        {"domain": "crm"},
    )
    assert model.latest_version is None
    assert model.aliases == {}
    assert model.created_at.tzinfo is UTC
    assert model.created_at == model.updated_at


def test_create_model_defaults(store: SqlRegistryStore) -> None:
    model = store.create_model("plain")

    assert (model.team, model.description, model.tags) == ("default", "", {})


def test_create_model_twice_is_already_exists(store: SqlRegistryStore) -> None:
    store.create_model("churn")

    with pytest.raises(BerthError) as caught:
        store.create_model("churn", team="other")

    assert caught.value.code is ErrorCode.ALREADY_EXISTS
    assert "churn" in caught.value.message


def test_get_model_fills_latest_version_and_aliases(store: SqlRegistryStore) -> None:
    store.create_version("churn", new_version())
    store.create_version("churn", new_version())
    store.set_alias("churn", "production", 1)
    store.set_alias("churn", "staging", 2)

    model = store.get_model("churn")

    assert model.latest_version == 2
    assert model.aliases == {"production": 1, "staging": 2}


def test_get_missing_model_is_model_not_found(store: SqlRegistryStore) -> None:
    with pytest.raises(BerthError) as caught:
        store.get_model("nope")

    assert caught.value.code is ErrorCode.MODEL_NOT_FOUND
    assert "'nope'" in caught.value.message


def test_update_model_changes_only_given_fields(store: SqlRegistryStore) -> None:
    created = store.create_model("churn", team="growth", description="old", tags={"a": "1"})
    store.create_model("other", team="risk")  # a model moves only to a team that exists

    updated = store.update_model("churn", description="new")
    retagged = store.update_model("churn", tags={"b": "2"}, team="risk")

    assert (updated.team, updated.description, updated.tags) == ("growth", "new", {"a": "1"})
    assert (retagged.team, retagged.description, retagged.tags) == ("risk", "new", {"b": "2"})
    assert retagged.updated_at >= created.updated_at
    assert store.get_model("churn") == retagged


def test_update_missing_model_is_model_not_found(store: SqlRegistryStore) -> None:
    with pytest.raises(BerthError) as caught:
        store.update_model("nope", description="x")

    assert caught.value.code is ErrorCode.MODEL_NOT_FOUND


@pytest.mark.parametrize("team", ["", "   "])
def test_empty_team_is_invalid_request(store: SqlRegistryStore, team: str) -> None:
    with pytest.raises(BerthError) as caught:
        store.create_model("churn", team=team)

    assert caught.value.code is ErrorCode.INVALID_REQUEST


def test_non_string_tag_values_are_invalid_request(store: SqlRegistryStore) -> None:
    with pytest.raises(BerthError) as caught:
        store.create_model("churn", tags={"n": 1})  # type: ignore[dict-item]

    assert caught.value.code is ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "a/b", "../etc", "a..b", "x" * 129, "é"])
def test_invalid_model_names_are_refused_everywhere(store: SqlRegistryStore, name: str) -> None:
    calls = [
        lambda: store.create_model(name),
        lambda: store.get_model(name),
        lambda: store.update_model(name, description="x"),
        lambda: store.create_version(name, new_version()),
        lambda: store.get_version(name, 1),
        lambda: store.list_versions(name),
        lambda: store.resolve(name, None),
        lambda: store.update_version_metadata(name, 1, {"docs": "x"}),
        lambda: store.set_alias(name, "production", 1),
        lambda: store.delete_alias(name, "production"),
        lambda: store.alias_history(name),
    ]
    for call in calls:
        with pytest.raises(BerthError) as caught:
            call()
        assert caught.value.code is ErrorCode.INVALID_NAME


@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.text(alphabet=st.characters(codec="utf-8"), max_size=140)
    | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
)
def test_any_name_is_either_refused_or_looked_up(store: SqlRegistryStore, name: str) -> None:
    try:
        check_model_name(name)
        valid = True
    except BerthError:
        valid = False

    with pytest.raises(BerthError) as caught:
        store.get_model(name)

    assert caught.value.code is (ErrorCode.MODEL_NOT_FOUND if valid else ErrorCode.INVALID_NAME)


def _names(models: list[object]) -> list[str]:
    return [m.name for m in models]  # type: ignore[attr-defined]


@pytest.fixture
def catalog(store: SqlRegistryStore) -> SqlRegistryStore:
    store.create_model("churn", team="growth", description="Predicts customer churn", tags={"domain": "crm"})
    store.create_model(
        "fraud_score", team="risk", description="Card fraud 100%", tags={"domain": "payments", "pii": "yes"}
    )
    store.create_model(
        "upsell", team="growth", description="Next best offer", tags={"domain": "crm", "pii": "yes"}
    )
    store.create_model("Zeta", team="risk", description="")
    store.create_version("churn", new_version("sklearn"))
    store.create_version("fraud_score", new_version("xgboost"))
    store.create_version("fraud_score", new_version("onnx"))
    store.set_alias("fraud_score", "production", 2)
    return store


def test_list_models_sorted_by_name_with_latest_and_aliases(catalog: SqlRegistryStore) -> None:
    models = catalog.list_models()

    assert _names(models) == ["Zeta", "churn", "fraud_score", "upsell"]
    fraud = models[2]
    assert fraud.latest_version == 2
    assert fraud.aliases == {"production": 2}
    assert models[3].latest_version is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"text": "CHURN"}, ["churn"]),
        ({"text": "customer"}, ["churn"]),
        ({"text": "100%"}, ["fraud_score"]),
        ({"text": "%"}, ["fraud_score"]),
        ({"text": "_score"}, ["fraud_score"]),
        ({"text": "nothing-like-this"}, []),
        ({"team": "growth"}, ["churn", "upsell"]),
        ({"team": "Growth"}, []),
        ({"tags": {"domain": "crm"}}, ["churn", "upsell"]),
        ({"tags": {"domain": "crm", "pii": "yes"}}, ["upsell"]),
        ({"tags": {"pii": "no"}}, []),
        ({"flavor": "onnx"}, ["fraud_score"]),
        ({"flavor": "sklearn", "team": "growth"}, ["churn"]),
        ({"flavor": "torch"}, []),
        ({"team": "risk", "text": "fraud", "tags": {"pii": "yes"}, "flavor": "xgboost"}, ["fraud_score"]),
    ],
)
def test_list_models_filters(
    catalog: SqlRegistryStore, filters: dict[str, object], expected: list[str]
) -> None:
    assert _names(catalog.list_models(**filters)) == expected  # type: ignore[arg-type]


def test_list_models_pages(catalog: SqlRegistryStore) -> None:
    assert _names(catalog.list_models(limit=2)) == ["Zeta", "churn"]
    assert _names(catalog.list_models(limit=2, offset=2)) == ["fraud_score", "upsell"]
    assert _names(catalog.list_models(offset=4)) == []
    assert _names(catalog.list_models(tags={"pii": "yes"}, limit=1, offset=1)) == ["upsell"]


def test_list_models_refuses_negative_paging(store: SqlRegistryStore) -> None:
    with pytest.raises(BerthError) as caught:
        store.list_models(limit=-1)

    assert caught.value.code is ErrorCode.INVALID_REQUEST
