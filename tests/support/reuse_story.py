"""The reuse story's two teams (issue 15): team `alpha` owns `churn` (discoverable, with a model
card, versions 1 and 2, 'production' on 1) and `churn-salaries` (private, and it would match a
search for "churn" if the catalog leaked it); team `beta` wants to reuse what alpha built.

`ada` administers alpha; `bea` is a predictor of beta (what a grant to beta lets call a model).
Shared by the browser test (tests/ui/test_reuse_story.py) and the API/CLI/SDK one
(tests/e2e/test_reuse_story_api.py), so both tell the same story.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.support.servers import server_process

OWNER, CONSUMER = "alpha", "beta"
SHARED, PRIVATE = "churn", "churn-salaries"
NEVER = "churn-never-was"  # a name nobody ever pushed: what a private name must answer like
CARD = {
    "intended_use": "Rank customers by the risk that they leave within 90 days.",
    "out_of_scope_use": "Credit decisions.",
    "training_data": "Two years of anonymised account events.",
    "evaluation": "AUC 0.91 on the last quarter.",
    "limitations": "Trained on retail customers only.",
    "ethical_considerations": "No protected attributes are inputs.",
    "owners": "ada@alpha.example",
}
# Fields a catalog entry must never carry: the artifact, where its data came from, records.
PRIVATE_FIELDS = frozenset(
    {"artifact", "sha256", "uri", "path", "training_data_uri", "source", "records", "reference", "params"}
)
# the story's server: usage flushed quickly, authentication on
SERVER_ENV = {"BERTH_AUTH": "tokens", "BERTH_USAGE_FLUSH_S": "0.2"}


@dataclass(frozen=True)
class Story:
    url: str
    tokens: dict[str, str]  # ada (alpha's admin), bea (beta's predictor)
    x: list[list[float]]

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tokens[who]}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def body(self) -> dict[str, Any]:
        return {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": self.x[0]}]}


def prepare_home(home: Path, lr: Trained) -> dict[str, str]:
    """The two teams' models, members and tokens in `home` (before `berth serve` opens it)."""
    berth.push(
        lr.model,
        name=SHARED,
        home=home,
        input_example=lr.x[:3],
        team=OWNER,
        description="Churn risk of a retail customer",
        metrics={"auc": 0.91},
        card=CARD,
        visibility="discoverable",
        contact="ada@alpha.example",
        aliases=["production"],
    )
    berth.push(lr.model, name=SHARED, home=home, input_example=lr.x[:3], team=OWNER, card=CARD)
    berth.push(
        lr.model,
        name=PRIVATE,
        home=home,
        input_example=lr.x[:3],
        team=OWNER,
        description="Churn risk from salary data (private)",
        metrics={"auc": 0.95},
        tags={"data": "salaries"},
    )
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        store.create_team(CONSUMER)
        store.set_member(OWNER, "ada", Role.ADMIN)
        store.set_member(CONSUMER, "bea", Role.PREDICTOR)
        return {who: store.create_token(who).secret for who in ("ada", "bea")}
    finally:
        store.close()


def entry_fields(found: Any) -> set[str]:
    """Every key anywhere in a JSON value, except inside a model card's sections (prose)."""
    keys: set[str] = set()
    if isinstance(found, dict):
        for key, value in found.items():
            keys.add(key)
            if key not in ("sections", "headings"):
                keys |= entry_fields(value)
    elif isinstance(found, list):
        for item in found:
            keys |= entry_fields(item)
    return keys


def same_as_missing(private: httpx.Response, never: httpx.Response) -> None:
    """`private` (about PRIVATE) answers exactly like `never` (about NEVER): the status, and the
    body (its error code and message) once the name is replaced."""
    assert private.status_code == never.status_code, (private.text, never.text)
    assert private.status_code in (400, 404), private.text
    assert private.json() == json.loads(never.text.replace(NEVER, PRIVATE)), (private.text, never.text)


@contextlib.contextmanager
def serve_story(home: Path, lr: Trained) -> Iterator[Story]:
    """The story's home prepared in `home`, served by `berth serve` with `SERVER_ENV`."""
    tokens = prepare_home(home, lr)
    with server_process(home, env=SERVER_ENV) as url:
        yield Story(url, tokens, lr.x[:3].tolist())
