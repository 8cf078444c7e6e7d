"""The learning curve on a model page: test accuracy against the corrections each version was
trained on, a line per alias through the versions it pointed to, from the versions' metrics and the
alias history (what the retrain job records); none for a model whose versions lack them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

import berth
from tests.conftest import Trained
from tests.support.servers import server_process

ROUNDS = [  # (accuracy, corrections, promoted): the bootstrap, then retrain rounds
    (0.42, 0.0, True),
    (0.40, 20.0, False),
    (0.55, 100.0, True),
    (0.61, 200.0, True),
]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[str]:
    """`learner`: pushed as the Voice's bootstrap and retrain job do (`challenger` on every round,
    `champion` moved when it won); `plain`: versions without those metrics."""
    home = tmp_path_factory.mktemp("curve") / "home"
    for number, (accuracy, corrections, promoted) in enumerate(ROUNDS, start=1):
        pushed = berth.push(
            lr.model,
            name="learner",
            home=home,
            input_example=lr.x[:3],
            metrics={"accuracy": accuracy, "corrections": corrections, "holdout_rows": corrections / 5},
            aliases=["champion"] if number == 1 else ["challenger"],
        )
        assert pushed.number == number
        if number > 1 and promoted:
            _promote(home, number)
    berth.push(lr.model, name="plain", home=home, input_example=lr.x[:3], metrics={"accuracy": 0.9})
    with server_process(home) as served:
        yield served


def _promote(home: Path, number: int) -> None:
    registry = berth.open_registry(home=home)
    try:
        registry.set_alias("learner", "champion", number, actor="retrain job", reason="beats the champion")
    finally:
        registry.close()


def _marks(page: Page, alias: str) -> list[list[float]]:
    """(corrections, accuracy) of the points drawn for `alias`, left to right."""
    found: list[list[float]] = page.eval_on_selector_all(
        f'#learning-curve g.series[data-series="{alias}"] circle.point',
        "cs => cs.map((c) => [Number(c.dataset.x), Number(c.dataset.y), Number(c.getAttribute('cx'))])",
    )
    assert [m[2] for m in found] == sorted(m[2] for m in found)
    return [m[:2] for m in found]


def test_the_model_page_draws_accuracy_against_corrections_per_alias(page: Page, url: str) -> None:
    page.goto(f"{url}/ui/#/models/learner")
    expect(page.get_by_role("heading", name="Learning curve")).to_be_visible()
    curve = page.locator("#learning-curve")
    expect(curve.locator("svg[role=img]")).to_have_attribute(
        "aria-label", "Test accuracy against the number of corrections trained on, per alias"
    )
    expect(curve.locator(".legend li")).to_have_text(["champion", "challenger"])
    assert _marks(page, "champion") == [[0, 0.42], [100, 0.55], [200, 0.61]]  # the promoted versions
    assert _marks(page, "challenger") == [[20, 0.40], [100, 0.55], [200, 0.61]]  # every round
    expect(curve.locator('g.series[data-series="champion"] path.line')).to_have_count(1)
    expect(curve.locator("circle.point").first).to_have_attribute("r", "4")
    champion = page.locator("#learning-curve-points tbody tr").filter(has_text="champion")
    expect(champion).to_have_count(3)
    expect(champion.nth(1)).to_contain_text("v3")
    expect(champion.nth(1)).to_contain_text("100")
    expect(champion.nth(1)).to_contain_text("0.55")


def test_no_curve_for_a_model_without_corrections(page: Page, url: str) -> None:
    page.goto(f"{url}/ui/#/models/plain")
    expect(page.get_by_role("heading", name="Versions")).to_be_visible()
    expect(page.get_by_role("heading", name="Learning curve")).to_have_count(0)
