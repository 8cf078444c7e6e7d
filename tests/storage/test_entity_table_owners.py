"""Issue 12 items 3 and 7 in storage (SQLite and PostgreSQL): entity tables have an owner, tables
from before owners become the platform's, and a move never creates a team."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert

from berth.core.access import PLATFORM
from berth.core.audit import AuditQuery
from berth.core.endpoints import EndpointSpec
from berth.core.errors import BerthError, ErrorCode
from berth.storage import queries as q
from berth.storage.audit_store import SqlAuditStore
from berth.storage.db import create_database_engine
from berth.storage.migrate import upgrade_database
from berth.storage.schema import entity_features
from berth.storage.security_store import SqlSecurityStore
from berth.storage.sql_endpoints import SqlEndpointStore
from berth.storage.sql_entities import SqlEntityStore
from berth.storage.sql_registry import SqlRegistryStore
from tests.storage.builders import new_version


@pytest.fixture
def security(store: SqlRegistryStore, database_url: str) -> Iterator[SqlSecurityStore]:
    opened = SqlSecurityStore(database_url)
    yield opened
    opened.close()


def _teams(security: SqlSecurityStore) -> set[str]:
    return {t.name for t in security.list_teams()}


def test_a_new_table_belongs_to_the_team_it_is_created_in(
    entity_store: SqlEntityStore, security: SqlSecurityStore
) -> None:
    security.create_team("beta")
    security.create_team("alpha")
    assert entity_store.put_entities("customers", {"c1": {"age": 41}}, team="beta") == 1
    assert entity_store.entity_table_owner("customers") == "beta"
    assert entity_store.put_entities("customers", {"c2": {"age": 7}}) == 1  # no team: the owner stays
    with pytest.raises(BerthError) as moved:
        entity_store.put_entities("customers", {"c3": {"age": 9}}, team="alpha")
    assert moved.value.code is ErrorCode.INVALID_REQUEST
    assert entity_store.get_entities("customers", ["c1", "c2", "c3"]).keys() == {"c1", "c2"}
    assert entity_store.put_entities("shared", {"k": {"x": 1}}) == 1
    assert entity_store.entity_table_owners() == {"customers": "beta", "shared": PLATFORM}
    assert entity_store.entity_table_owner("nothing") is None


def test_a_table_in_a_missing_team_is_refused_and_no_team_is_made(
    entity_store: SqlEntityStore, security: SqlSecurityStore
) -> None:
    with pytest.raises(BerthError) as refused:
        entity_store.put_entities("customers", {"c1": {"age": 41}}, team="ghost")
    assert refused.value.code is ErrorCode.INVALID_REQUEST
    assert "ghost" not in _teams(security)
    assert entity_store.entity_table_owner("customers") is None
    assert entity_store.get_entities("customers", ["c1"]) == {}


def test_tables_from_before_owners_become_the_platforms(empty_database_url: str) -> None:
    engine = create_database_engine(empty_database_url)
    try:
        upgrade_database(engine, "0007")
        with engine.begin() as conn:
            conn.execute(
                insert(entity_features).values(
                    [
                        {"entity_table": "customers", "entity_key": k, "features": {}, "updated_at": q.now()}
                        for k in ("c1", "c2")
                    ]
                )
            )
        upgrade_database(engine)
        entities = SqlEntityStore(engine)
        assert entities.entity_table_owners() == {"customers": PLATFORM}
        assert entities.entity_tables() == {"customers": 2}
    finally:
        engine.dispose()


def test_a_move_never_creates_a_team(
    store: SqlRegistryStore, endpoint_store: SqlEndpointStore, security: SqlSecurityStore
) -> None:
    store.create_version("churn", new_version(), team="alpha")
    spec = EndpointSpec.from_json({"targets": [{"target": "churn:1"}]})
    endpoint_store.create_endpoint("scoring", spec, team="alpha")
    for move in (
        lambda: store.update_model("churn", team="ghost"),
        lambda: endpoint_store.update_endpoint("scoring", spec, team="ghost"),
    ):
        with pytest.raises(BerthError) as refused:
            move()
        assert refused.value.code is ErrorCode.INVALID_REQUEST
        assert "ghost" in refused.value.message
    assert "ghost" not in _teams(security)
    assert store.get_model("churn").team == "alpha"
    assert endpoint_store.get_endpoint("scoring").team == "alpha"
    security.create_team("beta")
    assert store.update_model("churn", team="beta").team == "beta"
    assert endpoint_store.update_endpoint("scoring", spec, team="beta").team == "beta"


def test_a_team_made_by_creating_in_it_is_audited(store: SqlRegistryStore, database_url: str) -> None:
    """Without authentication, creating a model in a new team makes the team: audited as team.create."""
    store.create_version("churn", new_version(), team="newteam")
    store.create_version("other", new_version(), team="newteam")
    audit = SqlAuditStore(store.engine)
    created = audit.query(AuditQuery(action="team.create"))
    assert [e.resource_name for e in created] == ["newteam"]


def test_no_team_can_take_the_platforms_name(store: SqlRegistryStore, security: SqlSecurityStore) -> None:
    """Entity tables without a team are owned by `PLATFORM`: no way of making a team gives a
    principal a membership, and so rights, in it."""
    for make in (
        lambda: security.create_team(PLATFORM),
        lambda: store.create_version("churn", new_version(), team=PLATFORM),
    ):
        with pytest.raises(BerthError) as refused:
            make()
        assert refused.value.code is ErrorCode.INVALID_NAME
    assert PLATFORM not in _teams(security)
