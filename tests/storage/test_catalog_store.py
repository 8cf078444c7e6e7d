"""The catalog store, on SQLite and PostgreSQL: what each viewer finds, counts and reads.

Team alpha: 'churn' (discoverable, with a card), 'fraud' (private); team beta: 'credit'
(private), endpoint 'scoring' (discoverable, on churn). A viewer of beta must find alpha's
discoverable entries and nothing of 'fraud': not in a page, a total or a facet.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from berth.core.catalog import CatalogQuery, Viewer
from berth.core.endpoints import EndpointSpec
from berth.core.entities import VersionMetadata
from berth.core.errors import BerthError, ErrorCode
from berth.core.security import AccessSnapshot
from berth.storage.schema import audit_events, consumer_usage, models
from berth.storage.security_store import SqlSecurityStore
from berth.storage.sql_catalog import SqlCatalogStore
from berth.storage.sql_endpoints import SqlEndpointStore
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version

BETA = Viewer(teams=frozenset({"beta"}))
ALL = Viewer(everything=True)
TODAY = datetime(2026, 6, 30, tzinfo=UTC)
CARD = {"intended_use": "Score churn risk", "limitations": "Retail only", "owners": "alpha"}


@pytest.fixture
def catalog(store: SqlRegistryStore, endpoint_store: SqlEndpointStore) -> SqlCatalogStore:
    store.create_model(
        "churn", team="alpha", description="Churn scorer", visibility="discoverable", contact="ana"
    )
    store.create_version("churn", new_version(metadata=VersionMetadata(metrics={"roc_auc": 0.9}, card=CARD)))
    store.create_version("fraud", new_version(flavor="xgboost"), team="alpha")
    store.update_model("fraud", description="Fraud detector for churned cards")
    store.create_version("credit", new_version(), team="beta")
    spec = EndpointSpec.from_json({"targets": [{"target": "churn", "weight": 100}]})
    endpoint_store.create_endpoint("scoring", spec, team="beta", description="scores churn")
    found = SqlCatalogStore(store.engine)
    found.set_endpoint_visibility("scoring", "discoverable")
    return found


def _names(page: object) -> list[str]:
    return [e.name for e in page.entries]  # type: ignore[attr-defined]


def test_a_viewer_finds_its_teams_entries_and_every_discoverable_one(catalog: SqlCatalogStore) -> None:
    page = catalog.search(CatalogQuery(), Viewer(teams=frozenset({"gamma"})))

    assert _names(page) == ["churn", "scoring"]
    assert page.total == 2
    assert page.facets["team"] == {"alpha": 1, "beta": 1}
    assert page.facets["kind"] == {"model": 1, "endpoint": 1}
    assert "private" not in page.facets["visibility"]


def test_a_private_model_is_counted_nowhere_for_another_team(catalog: SqlCatalogStore) -> None:
    # 'fraud' matches "churn" (its description) and "xgboost" (its flavor): only its team sees it
    for query in (CatalogQuery(text="churn"), CatalogQuery(flavor="xgboost"), CatalogQuery(team="alpha")):
        page = catalog.search(query, BETA)
        assert "fraud" not in _names(page)
        assert page.facets["visibility"].get("private", 0) == 0
        assert page.facets["team"].get("alpha", 0) == len([e for e in page.entries if e.team == "alpha"])
    assert "fraud" in _names(catalog.search(CatalogQuery(text="churn"), Viewer(teams=frozenset({"alpha"}))))
    assert catalog.search(CatalogQuery(flavor="xgboost"), BETA).total == 0


def test_a_granted_private_entry_is_found_by_the_grantee(catalog: SqlCatalogStore) -> None:
    granted = Viewer(teams=frozenset({"gamma"}), granted=frozenset({"fraud"}))

    assert "fraud" in _names(catalog.search(CatalogQuery(), granted))


def test_text_search_reads_names_descriptions_cards_and_metric_names(catalog: SqlCatalogStore) -> None:
    for words in ("retail", "ROC_AUC", "churn scorer", "ana"):
        assert _names(catalog.search(CatalogQuery(text=words), ALL)) == ["churn"], words
    assert _names(catalog.search(CatalogQuery(text="scores"), ALL)) == ["scoring"]
    assert catalog.search(CatalogQuery(text="100%_"), ALL).total == 0  # LIKE wildcards are literal


def test_filters_by_team_flavor_task_visibility_and_kind(catalog: SqlCatalogStore) -> None:
    assert _names(catalog.search(CatalogQuery(team="beta"), ALL)) == ["credit", "scoring"]
    assert _names(catalog.search(CatalogQuery(flavor="xgboost"), ALL)) == ["fraud"]
    assert _names(catalog.search(CatalogQuery(task="classification"), ALL)) == ["churn", "credit", "fraud"]
    assert _names(catalog.search(CatalogQuery(visibility="discoverable"), ALL)) == ["churn", "scoring"]
    assert _names(catalog.search(CatalogQuery(kind="endpoint"), ALL)) == ["scoring"]


def test_the_card_is_stored_and_scored(catalog: SqlCatalogStore) -> None:
    churn = catalog.detail("churn")

    assert churn.card == CARD
    assert churn.entry.card is not None
    assert churn.entry.card.filled == 3
    assert churn.versions[-1].card.missing == (
        "out_of_scope_use",
        "training_data",
        "evaluation",
        "ethical_considerations",
    )


def test_sort_by_usage_of_the_last_30_days_and_by_recency(
    catalog: SqlCatalogStore, store: SqlRegistryStore
) -> None:
    rows = [
        ("credit", "credit", "2026-06-29", 5),
        ("fraud", "fraud", "2026-06-01", 9),
        ("fraud", "fraud", "2026-05-01", 900),
    ]
    rows += [("scoring", "churn", "2026-06-30", 20)]
    with store.engine.begin() as conn:
        for endpoint, model, day, calls in rows:
            conn.execute(
                insert(consumer_usage).values(
                    endpoint=endpoint, model=model, version=1, principal="p", team="beta", day=day,
                    calls=calls, errors=0, last_at=TODAY,
                )
            )  # fmt: skip

    by_usage = catalog.search(CatalogQuery(sort="usage"), ALL, today=TODAY)
    assert _names(by_usage)[:4] == ["churn", "scoring", "fraud", "credit"]  # May's 900 calls are too old
    assert {e.name: e.calls_30d for e in by_usage.entries} == {
        "churn": 20,
        "scoring": 20,
        "fraud": 9,
        "credit": 5,
    }
    store.update_model("credit", description="newest change")
    assert _names(catalog.search(CatalogQuery(sort="recent"), ALL))[0] == "credit"


def test_pages_follow_the_cursor_and_a_cursor_is_bound_to_its_query(catalog: SqlCatalogStore) -> None:
    first = catalog.search(CatalogQuery(limit=3), ALL)
    assert first.next_cursor is not None
    assert first.total == 4
    second = catalog.search(CatalogQuery(limit=3, cursor=first.next_cursor), ALL)

    assert _names(first) + _names(second) == ["churn", "credit", "fraud", "scoring"]
    assert second.next_cursor is None
    with pytest.raises(BerthError) as caught:
        catalog.search(CatalogQuery(limit=3, cursor=first.next_cursor, team="alpha"), ALL)
    assert caught.value.code is ErrorCode.INVALID_CURSOR


def test_visibility_and_contact_are_audited_and_bump_the_generation(
    catalog: SqlCatalogStore, store: SqlRegistryStore
) -> None:
    before = store.generation()
    store.update_model("fraud", visibility="discoverable", contact="fraud-team@a.example")
    catalog.set_endpoint_visibility("scoring", "private")

    assert store.generation() > before
    with store.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_events).order_by(audit_events.c.id))]
    assert actions[-2:] == ["model.update", "endpoint.visibility"]
    model = store.get_model("fraud")
    assert (model.visibility, model.contact) == ("discoverable", "fraud-team@a.example")
    with pytest.raises(BerthError) as caught:
        store.update_model("fraud", visibility="public")
    assert caught.value.code is ErrorCode.INVALID_REQUEST


def test_the_access_table_knows_what_is_discoverable(
    catalog: SqlCatalogStore, store: SqlRegistryStore
) -> None:
    security = SqlSecurityStore(store.engine)
    snapshot: AccessSnapshot = security.access_snapshot()

    assert snapshot.discoverable == frozenset({"churn", "scoring"})
    store.update_model("churn", visibility="private")
    assert security.access_snapshot().discoverable == frozenset({"scoring"})


def test_a_push_sets_visibility_and_refreshes_the_search_text(store: SqlRegistryStore) -> None:
    store.create_version("m", new_version(), team="alpha")
    store.create_version(
        "m",
        new_version(metadata=VersionMetadata(metrics={"rmse": 1.0}, card={"evaluation": "Holdout MAPE"})),
        visibility="discoverable",
    )
    store.update_model("m", tags={"domain": "energy"})

    with store.engine.connect() as conn:
        row = conn.execute(
            select(models.c.search_text, models.c.visibility).where(models.c.name == "m")
        ).one()
    for word in ("rmse", "holdout mape", "domain energy", "sklearn"):
        assert word in row.search_text
    assert row.visibility == "discoverable"


def test_a_bad_card_in_a_metadata_update_is_invalid_card(store: SqlRegistryStore) -> None:
    store.create_version("m", new_version())

    with pytest.raises(BerthError) as caught:
        store.update_version_metadata("m", 1, {"card": {"purpose": "x"}})
    assert caught.value.code is ErrorCode.INVALID_CARD
    assert store.update_version_metadata("m", 1, {"card": {"owners": "x"}}).metadata.card == {"owners": "x"}
    assert store.update_version_metadata("m", 1, {"card": {}}).metadata.card is None


def test_an_unknown_entry_is_not_found(catalog: SqlCatalogStore) -> None:
    with pytest.raises(BerthError) as caught:
        catalog.detail("nothing")
    assert caught.value.code is ErrorCode.MODEL_NOT_FOUND
    with pytest.raises(BerthError) as caught:
        catalog.set_endpoint_visibility("churn", "private")  # a model, not an endpoint
    assert caught.value.code is ErrorCode.ENDPOINT_NOT_FOUND
