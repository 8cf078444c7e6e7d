"""The web app in a real headless browser: Debian's chromium driven by Playwright, against
`berth serve` processes on free ports with real pushed models and endpoints.

No browser is downloaded: the tests use /usr/bin/chromium and are skipped when it is missing
(they fail instead under CI=true, where it must be there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.core.signature import Signature, TensorSpec
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.support.servers import server_process
from tests.support.unavailable import unavailable

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 15_000
"""How long an action or an `expect` waits for the page: a bound for a failure, it times nothing
(Playwright's 5 s default for `expect` was too short on a loaded CI machine)."""
expect.set_options(timeout=WAIT_MS)
DOCS = """# Router

Routes **banking** texts to a category.

- trained on `six` sentences
- <img src=x onerror="document.title='pwned'">

```
berth push router
```
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test file: Playwright's sync API keeps an event loop running in the main
    thread while it is open, so it must not outlive the file (the same pytest-xdist worker then runs
    other files, whose `asyncio.run` would find that loop running)."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)", must_run="the browser tests")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def fresh_page(browser: Browser, whose: str = "the page") -> Iterator[Page]:
    """A page in a browser context of its own (its own sessionStorage); page errors fail the test."""
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"errors in {whose}: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (its own sessionStorage) per test; page errors fail the test."""
    with fresh_page(browser) as opened:
        yield opened


def text_signature(pushed: Signature) -> Signature:
    """The text model's signature with its input named `text` (what the Voice page sends)."""
    return Signature(
        (TensorSpec("text", "BYTES", (-1,)),), pushed.outputs, default_outputs=pushed.default_outputs
    )


def push_catalog(home: Path, lr: Trained, text_pipeline: Trained) -> None:
    """`router` (a text model with metrics, importance, params and docs), three versions of `lr`."""
    first = berth.push(
        text_pipeline.model,
        name="router",
        home=home,
        input_example=text_pipeline.x[:2],
        team="voice",
        description="Routes customer feedback to a team",
    )
    berth.push(
        text_pipeline.model,
        name="router",
        home=home,
        signature=text_signature(first.signature),
        metrics={"accuracy": 0.91, "f1": 0.88, "precision": 0.9},
        feature_importance={"card": 0.5, "balance": 0.3, "lost": 0.15, "stolen": 0.05},
        params={"loss": "log_loss", "alpha": 0.0001},
        docs=DOCS,
        aliases=["production"],
        reference=[str(t) for t in text_pipeline.x],  # the reference profile drift is measured against
    )
    for aliases in (["production"], ["staging"], ["production"]):
        berth.push(lr.model, name="lr", home=home, input_example=lr.x[:3], aliases=aliases)


# The Voice's routing (examples/the_voice, routing.py) over the small text model: its category
# mapped to a team, its confidence, the three answers under their names.
VOICE_PIPELINE = {
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


@dataclass(frozen=True)
class Site:
    url: str
    home: Path
    x: list[list[float]]

    def infer(self, name: str, body: dict[str, object]) -> httpx.Response:
        return httpx.post(f"{self.url}/v2/models/{name}/infer", json=body, timeout=30)

    def lr_body(self) -> dict[str, object]:
        return {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": self.x[0]}]}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, lr: Trained, text_pipeline: Trained) -> Iterator[Site]:
    """`berth serve` with the catalog, and endpoints `feedback-router` (the text model with the
    Voice's routing), `split` (two versions of lr, half and half) and `quiet` (never called).
    One server per test module: what a module's tests record stays in that module."""
    home = tmp_path_factory.mktemp("ui") / "home"
    push_catalog(home, lr, text_pipeline)
    with server_process(home, env={"BERTH_ALERT_INTERVAL_S": "1"}) as url:  # alerts fire in tests
        for spec in (
            {
                "name": "feedback-router",
                "targets": [{"target": "router@production"}],
                "pipeline": VOICE_PIPELINE,
            },
            {
                "name": "split",
                "targets": [{"target": "lr:1", "weight": 50}, {"target": "lr:2", "weight": 50}],
            },
            {"name": "quiet", "targets": [{"target": "lr:3"}]},
        ):
            answer = httpx.post(f"{url}/api/v1/endpoints", json=spec, timeout=30)
            assert answer.status_code == 201, answer.text
        yield Site(url, home, lr.x[:3].tolist())


@dataclass(frozen=True)
class SecureSite:
    url: str
    admin_token: str
    reader_token: str


@pytest.fixture(scope="module")
def secure_site(
    tmp_path_factory: pytest.TempPathFactory, lr: Trained, text_pipeline: Trained
) -> Iterator[SecureSite]:
    """`berth serve` with API tokens on; `guarded` and the text model `feedback-router` (a model
    is an endpoint too) in team `default`; an admin's token and a token of a reader of `default`."""
    home = tmp_path_factory.mktemp("ui-secure") / "home"
    berth.push(lr.model, name="guarded", home=home, input_example=lr.x[:3])
    pushed = berth.push(text_pipeline.model, name="scratch", home=home, input_example=text_pipeline.x[:2])
    berth.push(
        text_pipeline.model, name="feedback-router", home=home, signature=text_signature(pushed.signature)
    )
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        secret = store.create_token("root", admin=True).secret
        store.set_member("default", "dave", Role.READER)
        reader = store.create_token("dave").secret
    finally:
        store.close()
    with server_process(home, env={"BERTH_AUTH": "tokens"}) as url:
        yield SecureSite(url, secret, reader)
