"""The example's parts: the team table, the simulated analyst, the bootstrap (idempotent)."""

from __future__ import annotations

from pathlib import Path

from the_voice.bootstrap import Where, bootstrap
from the_voice.data import categories
from the_voice.labelling import name_clusters
from the_voice.routing import CHAMPION, ENDPOINT, MODEL
from the_voice.teams import TEAMS, team_of_category

import berth
from tests.voice.conftest import BASE_ROWS


def test_every_category_has_exactly_one_team() -> None:
    table = team_of_category()
    assert sorted(table) == sorted(categories())
    assert sum(len(c) for c in TEAMS.values()) == len(table) == 77
    assert table["lost_or_stolen_card"] == "card-security"
    assert 6 <= len(TEAMS) <= 10


def test_the_analyst_names_a_cluster_after_the_majority_of_the_texts_read() -> None:
    clusters = [0] * 5 + [1] * 5
    truth = ["a", "a", "a", "b", "c", "x", "y", "y", "y", "y"]
    assert name_clusters(clusters, truth, read=5) == {0: "a", 1: "y"}
    assert name_clusters(clusters, truth, read=1, seed=3) == name_clusters(clusters, truth, read=1, seed=3)


def test_bootstrap_pushes_the_champion_with_metrics_docs_and_data_and_creates_the_endpoint(
    voice_home: Path,
) -> None:
    registry = berth.open_registry(home=voice_home)
    try:
        champion = registry.get_version(MODEL, CHAMPION)
        profile = registry.get_profile(MODEL, champion.number)  # the text input's drift is monitored
    finally:
        registry.close()
    assert champion.number == 1
    metadata = champion.metadata
    assert 0.05 < metadata.metrics["accuracy"] < 0.9  # cluster labels: far from the ceiling
    assert metadata.metrics["train_rows"] == BASE_ROWS
    assert metadata.metrics["corrections"] == 0  # the learning curve's first point
    assert "KMeans" in metadata.docs
    assert "banking77" in metadata.training_data
    assert [s.name for s in champion.signature.inputs] == ["text"]
    assert profile["rows"] == BASE_ROWS
    assert profile["inputs"]["text"]["kind"] == "text"
    endpoints = berth.endpoints(home=voice_home)
    try:
        endpoint = endpoints.get(ENDPOINT)
    finally:
        endpoints.close()
    assert endpoint["targets"][0]["target"] == f"{MODEL}@{CHAMPION}"


def test_a_second_bootstrap_finds_it_done(voice_home: Path) -> None:
    said: list[str] = []
    assert bootstrap(Where(home=str(voice_home)), base_rows=BASE_ROWS, say=said.append) == 1
    assert said == [
        f"{MODEL} v1 is the champion, trained on this data: kept",
        f"endpoint {ENDPOINT} is up to date",
    ]
    registry = berth.open_registry(home=voice_home)
    try:
        assert [v.number for v in registry.list_versions(MODEL)] == [1]
    finally:
        registry.close()
