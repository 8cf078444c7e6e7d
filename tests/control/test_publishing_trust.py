"""A version's ``trusted`` is truthful and a trusted push is audited, on SQLite and PostgreSQL
(issue 12, item 1): ``trusted`` says whether loading relies on a maintainer's word, a push whose
artifact needs trust the pusher did not give stores nothing, and ``version.trust`` is recorded
exactly when trust was used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from berth.core.audit import AuditQuery
from berth.core.entities import PushRequest
from berth.core.errors import BerthError, ErrorCode
from berth.core.settings import Settings
from berth.storage.audit_store import SqlAuditStore
from berth.wiring.workspace import Workspace, open_workspace
from tests.security import hostile_artifacts as corpus
from tests.support.postgres import fresh_postgres_database

EXAMPLE = np.array([[0.0, 1.0]])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Workspace, str]]:
    if request.param == "postgres":
        with fresh_postgres_database() as url:
            settings = Settings(home=tmp_path / "home", database_url=url)
            ws = open_workspace(settings)
            try:
                yield ws, settings.resolved_database_url
            finally:
                ws.close()
        return
    settings = Settings(home=tmp_path / "home")
    ws = open_workspace(settings)
    try:
        yield ws, settings.resolved_database_url
    finally:
        ws.close()


def _trust_events(url: str, name: str) -> list[str]:
    audit = SqlAuditStore(url)
    try:
        events = audit.query(AuditQuery(action="version.trust"))
    finally:
        audit.close()
    return [e.resource_name for e in events if e.resource_name.startswith(f"{name}:")]


def _knn_kd(folder: Path) -> Path:
    import skops.io
    from sklearn.neighbors import KNeighborsClassifier

    x = np.random.default_rng(0).random((40, 2))
    path = folder / "knn.skops"
    skops.io.dump(KNeighborsClassifier(algorithm="kd_tree").fit(x, (x[:, 0] > 0.5).astype(int)), path)
    return path


def test_a_file_needing_trust_stores_nothing_without_it_and_is_audited_with_it(
    workspace: tuple[Workspace, str], tmp_path: Path
) -> None:
    ws, url = workspace
    path = _knn_kd(tmp_path)
    with pytest.raises(BerthError) as refused:
        ws.publisher.push_file(path, PushRequest(name="knn", input_example=EXAMPLE))
    assert refused.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    assert all(m.name != "knn" for m in ws.store.list_models())
    version = ws.publisher.push_file(
        path, PushRequest(name="knn", input_example=EXAMPLE, trusted=True, pushed_by="alice")
    )
    assert version.trusted is True
    assert _trust_events(url, "knn") == ["knn:1"]


def test_trust_not_needed_is_not_recorded(workspace: tuple[Workspace, str], tmp_path: Path) -> None:
    import skops.io
    from sklearn.linear_model import LogisticRegression

    ws, url = workspace
    path = tmp_path / "plain.skops"
    skops.io.dump(LogisticRegression().fit(np.eye(2), [0, 1]), path)
    version = ws.publisher.push_file(path, PushRequest(name="plain", input_example=EXAMPLE, trusted=True))
    assert version.trusted is False
    assert ws.store.get_version("plain", 1).trusted is False
    assert _trust_events(url, "plain") == []


def test_a_hostile_skops_file_stores_nothing_and_runs_nothing(
    workspace: tuple[Workspace, str], tmp_path: Path
) -> None:
    ws, url = workspace
    marker = tmp_path / "payload-ran"
    path = corpus.skops_constructor_runs_source(tmp_path, marker)
    with pytest.raises(BerthError) as refused:
        ws.publisher.push_file(path, PushRequest(name="evil", input_example=EXAMPLE))
    assert refused.value.code is ErrorCode.UNTRUSTED_ARTIFACT
    assert not marker.exists()
    assert all(m.name != "evil" for m in ws.store.list_models())
    assert _trust_events(url, "evil") == []
