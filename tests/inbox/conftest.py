"""A routed endpoint and its team inboxes, for the delivery tests.

model 'router' (team voice): a small text classifier, categories card_lost and balance
endpoint 'router': category -> team (card_lost: card-security, balance: accounts), delivers by team
team card-security: alice maintainer, dave reader, carol predictor
team accounts: bob maintainer
root: platform admin; erin: no team
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.core.signature import Signature, TensorSpec
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained

ENDPOINT = "router"
PRINCIPALS = ("root", "alice", "dave", "carol", "bob", "erin")
PIPELINE = {
    "post": [
        {
            "type": "map",
            "column": "predict",
            "into": "team",
            "mapping": {"card_lost": "card-security", "balance": "accounts"},
            "default": "customer-care",
        },
        {"type": "rules", "rules": ["if true then confidence = round(max(predict_proba), 4)"]},
        {"type": "rename", "columns": {"predict": "category"}},
        {"type": "select", "columns": ["category", "team", "confidence"]},
    ]
}
DELIVER = {"by": "team", "label": "category"}


def populate(home: Path, text_pipeline: Trained) -> dict[str, str]:
    """The model, the endpoint, the teams and their members; the principals' tokens."""
    first = berth.push(
        text_pipeline.model,
        name=ENDPOINT + "-model",
        home=home,
        input_example=text_pipeline.x[:2],
        team="voice",
    )
    signature = Signature(
        (TensorSpec("text", "BYTES", (-1,)),),
        first.signature.outputs,
        default_outputs=first.signature.default_outputs,
    )
    berth.push(
        text_pipeline.model,
        name=ENDPOINT + "-model",
        home=home,
        signature=signature,
        aliases=["production"],
        team="voice",
    )
    endpoints = berth.endpoints(home=home)
    try:
        spec = {
            "targets": [{"target": f"{ENDPOINT}-model@production"}],
            "pipeline": PIPELINE,
            "deliver": DELIVER,
        }
        endpoints.create(ENDPOINT, spec, team="voice")
    finally:
        endpoints.close()
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        for team in ("card-security", "accounts", "customer-care"):
            store.create_team(team, description="")
        store.set_member("card-security", "alice", Role.MAINTAINER)
        store.set_member("card-security", "dave", Role.READER)
        store.set_member("card-security", "carol", Role.PREDICTOR)
        store.set_member("accounts", "bob", Role.MAINTAINER)
        return {name: store.create_token(name, admin=name == "root").secret for name in PRINCIPALS}
    finally:
        store.close()


def predict(url: str, *texts: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": list(texts)}]}
    answer = httpx.post(f"{url}/v2/models/{ENDPOINT}/infer", json=body, headers=headers or {}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    """Poll `probe` until it answers something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
