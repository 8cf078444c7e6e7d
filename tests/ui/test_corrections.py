"""The analyst corrects a prediction to any category (every class of the version, every category the
endpoint's team table names; searchable) or to a new one, in a real browser against a real server.
Records come from real predictions; batched ones say why a correction of them would not be used."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, expect
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import berth
from berth.core.signature import Signature, TensorSpec
from tests.support.servers import server_process

TEXTS = {
    "card_lost": ["my card was stolen", "lost my card yesterday"],
    "balance": ["what is my balance", "show account balance"],
    "exchange_rate": ["what is the exchange rate", "rate for dollars"],
    "top_up_failed": ["my top up failed", "top up did not work"],
}
CLASSES = sorted(TEXTS)
TEAMS = {"card_lost": "card-security", "balance": "accounts", "card_swallowed": "cards"}
"""The team table also names a category the model was never trained on (card_swallowed)."""


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("corrections") / "home"
    texts = [t for ts in TEXTS.values() for t in ts]
    labels = [c for c, ts in TEXTS.items() for _ in ts]
    model = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression(C=10.0))]).fit(texts, labels)
    berth.push(
        model,
        name="router",
        home=home,
        signature=Signature(
            (TensorSpec("text", "BYTES", (-1,)),),
            (TensorSpec("predict", "BYTES", (-1,)), TensorSpec("predict_proba", "FP64", (-1, len(CLASSES)))),
        ),
        input_example=np.asarray(texts[:2], dtype=object),
    )
    pipeline = {
        "post": [
            {
                "type": "map",
                "column": "predict",
                "into": "team",
                "mapping": TEAMS,
                "default": "customer-care",
            },
            {"type": "rules", "rules": ["if true then confidence = round(max(predict_proba), 4)"]},
            {"type": "rename", "columns": {"predict": "category"}},
            {"type": "select", "columns": ["category", "team", "confidence"]},
        ]
    }
    with server_process(home) as served:
        spec = {"name": "feedback-router", "targets": [{"target": "router:1"}], "pipeline": pipeline}
        created = httpx.post(f"{served}/api/v1/endpoints", json=spec, timeout=30)
        assert created.status_code == 201, created.text
        yield served


def predict(url: str, texts: list[str]) -> str:
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}
    answer = httpx.post(f"{url}/v2/models/feedback-router/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.headers["berth-prediction-id"]


def recorded(url: str, pid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = httpx.get(f"{url}/api/v1/records/{pid}", timeout=10)
        if answer.status_code == 200:
            found: dict[str, Any] = answer.json()["records"][0]
            return found
        time.sleep(0.1)
    raise AssertionError(f"{pid} was never recorded")


def test_the_version_api_lists_the_classes(url: str) -> None:
    version = httpx.get(f"{url}/api/v1/models/router/versions/1", timeout=10).json()
    assert version["classes"] == CLASSES


def test_the_analyst_corrects_to_any_category_or_a_new_one(page: Page, url: str) -> None:
    first = predict(url, ["my card got eaten by the cash machine"])
    second = predict(url, ["the machine kept my card"])
    batched = predict(url, ["my card was stolen", "what is my balance"])
    for pid in (first, second, batched):
        recorded(url, pid)

    page.goto(f"{url}/ui/#/records")
    expect(page.get_by_label("Order")).to_have_value("needs_review")
    row = page.locator(f'tr[data-prediction-id="{first}"]')
    select = row.get_by_role("combobox", name=f"Correct category for {first}")
    # every class of the version and every category of the team table, though no record shows them
    expect(select.locator("option")).to_have_text([*sorted({*CLASSES, *TEAMS}), "New category…"])
    row.get_by_role("searchbox").fill("RATE")
    narrowed = sorted({_predicted(url, first), "exchange_rate"})  # the current answer stays
    expect(select.locator("option")).to_have_text([*narrowed, "New category…"])
    row.get_by_role("searchbox").fill("")

    select.select_option("New category…")
    fresh = row.get_by_role("textbox", name=f"New category for {first}")
    expect(fresh).to_be_visible()
    fresh.fill("card_swallowed_by_atm")
    row.get_by_role("button", name="Correct").click()
    expect(row.locator(".feedback")).to_contain_text("card_swallowed_by_atm")
    expect(row.locator(".feedback")).to_contain_text("a new category: the next retrain learns it")
    assert recorded(url, first)["feedback"]["label"] == "card_swallowed_by_atm"

    # the new category is offered on the other rows at once
    other = page.locator(f'tr[data-prediction-id="{second}"]')
    other_select = other.get_by_role("combobox", name=f"Correct category for {second}")
    other_select.focus()
    other_select.select_option("card_swallowed_by_atm")
    other.get_by_role("button", name="Correct").click()
    expect(other.locator(".feedback")).to_contain_text("stored")
    assert recorded(url, second)["feedback"]["label"] == "card_swallowed_by_atm"

    # a batched prediction is not offered for review; in the newest order it says why
    assert page.locator(f'tr[data-prediction-id="{batched}"]').count() == 0
    page.get_by_label("Order").select_option("newest")
    page.get_by_role("button", name="Show").click()
    batch_row = page.locator(f'tr[data-prediction-id="{batched}"]')
    expect(batch_row.locator(".batched")).to_contain_text("a batched prediction (2 rows)")
    expect(batch_row.get_by_role("button", name="Correct")).to_have_count(0)


def _predicted(url: str, pid: str) -> str:
    return str(recorded(url, pid)["outputs"]["category"]["data"][0])
