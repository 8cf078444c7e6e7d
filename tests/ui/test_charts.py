"""charts.js in the browser: gaps for nulls, stacked and grouped columns, and 'no data'.

(The page's CSP forbids eval, so a chart is named and given its options as JSON.)
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.ui.conftest import Site

DRAW = """async ([name, options]) => {
    const charts = await import('/ui/charts.js');
    const fig = charts[name](options);
    document.body.append(fig);
    const svg = fig.querySelector('svg');
    const height = (r) => Number(r.getAttribute('height'));
    return {
        points: svg.querySelectorAll('circle.point').length,
        paths: [...svg.querySelectorAll('path.line')].map((p) => p.getAttribute('d')),
        bars: [...svg.querySelectorAll('rect.bar')].map((r) => [r.dataset.series, height(r)]),
        legend: [...fig.querySelectorAll('.legend li')].map((li) => li.textContent),
        caption: fig.querySelector('figcaption')?.textContent ?? null,
        label: svg.getAttribute('aria-label'),
    };
}"""


def _draw(page: Page, site: Site, name: str, options: dict[str, Any]) -> Any:
    if not page.url.startswith(site.url):
        page.goto(f"{site.url}/ui/#/voice")
    return page.evaluate(DRAW, [name, options])


def test_a_line_chart_leaves_a_gap_for_null(page: Page, site: Site) -> None:
    series = [{"name": "v1", "values": [1, None, 3, 4]}, {"name": "v2", "values": [None, None, None, 2]}]
    drawn = _draw(page, site, "lineChart", {"label": "a", "x": ["1", "2", "3", "4"], "series": series})
    assert drawn["points"] == 4
    assert drawn["paths"][0].count("M") == 2  # 1 | gap | 3-4
    assert drawn["paths"][0].count("L") == 1
    assert drawn["legend"] == ["v1", "v2"]
    assert drawn["label"] == "a"


def test_stacked_columns_stack_and_grouped_columns_do_not(page: Page, site: Site) -> None:
    series = [{"name": "a", "values": [1, 2]}, {"name": "b", "values": [3, None]}]
    options = {"label": "c", "categories": ["x", "y"], "series": series}
    stacked = _draw(page, site, "columnChart", options | {"stacked": True})
    grouped = _draw(page, site, "columnChart", options)
    assert len(stacked["bars"]) == len(grouped["bars"]) == 3
    a_x, b_x, a_y = (h for _, h in stacked["bars"])  # category by category
    assert b_x == 3 * a_x
    assert a_y == 2 * a_x
    assert stacked["legend"] == ["a", "b"]


def test_charts_without_data_say_so(page: Page, site: Site) -> None:
    for name, options in (
        ("lineChart", {"label": "l", "x": [], "series": []}),
        ("lineChart", {"label": "l", "x": ["1"], "series": [{"name": "a", "values": [None]}]}),
        ("barChart", {"label": "b", "items": []}),
        ("columnChart", {"label": "c", "categories": [], "series": []}),
    ):
        drawn = _draw(page, site, name, options)
        assert drawn["caption"] == "no data", (name, options)
        assert drawn["points"] == 0
        assert drawn["bars"] == []


POSITIONS = """async (options) => {
    const charts = await import('/ui/charts.js');
    const fig = charts.lineChart(options);
    document.body.append(fig);
    const svg = fig.querySelector('svg');
    return {
        cx: [...svg.querySelectorAll('circle.point')].map((c) => Number(c.getAttribute('cx'))),
        t: [...svg.querySelectorAll('circle.point')].map((c) => Number(c.dataset.t)),
        lines: svg.querySelectorAll('path.line').length,
        ticks: [...svg.querySelectorAll('text.x-tick')].map((t) => t.textContent),
        caption: fig.querySelector('figcaption')?.textContent ?? null,
    };
}"""


def _positions(page: Page, site: Site, options: dict[str, Any]) -> Any:
    if not page.url.startswith(site.url):
        page.goto(f"{site.url}/ui/#/voice")
    return page.evaluate(POSITIONS, options)


def test_a_time_axis_places_points_by_their_time(page: Page, site: Site) -> None:
    times = ["2026-03-01T10:00:00+00:00", "2026-03-01T10:01:00+00:00", "2026-03-01T10:10:00+00:00"]
    drawn = _positions(page, site, {"label": "t", "x": times, "series": [{"name": "a", "values": [1, 2, 3]}]})
    first, second, third = drawn["cx"]
    assert third - second == pytest.approx(9 * (second - first), rel=1e-6)  # 1 min, then 9 min
    assert drawn["lines"] == 1
    assert drawn["caption"] is None
    assert drawn["ticks"], "ticks labelled in time"
    assert all(re.fullmatch(r"\d{1,2}:\d{2}( [AP]M)?", tick) for tick in drawn["ticks"]), drawn["ticks"]


def test_few_points_are_points_in_their_window_and_the_chart_says_so(page: Page, site: Site) -> None:
    window = ["2026-03-01T10:00:00+00:00", "2026-03-01T11:00:00+00:00"]
    one = {
        "label": "one",
        "x": ["2026-03-01T10:15:00+00:00"],
        "xDomain": window,
        "series": [{"name": "a", "values": [5]}],
    }
    drawn = _positions(page, site, one)
    assert drawn["lines"] == 0
    assert drawn["caption"].startswith("few points")
    two = {
        "label": "two",
        "x": ["2026-03-01T10:15:00+00:00", "2026-03-01T10:45:00+00:00"],
        "xDomain": window,
        "series": [{"name": "a", "values": [5, 6]}],
    }
    both = _positions(page, site, two)
    assert both["lines"] == 0  # two points: no line drawn between them
    assert both["caption"].startswith("few points")
    # in the window, not stretched to its edges: a quarter and three quarters of the plot width
    left, right = 52, 640 - 16
    assert both["cx"] == pytest.approx([left + (right - left) / 4, left + 3 * (right - left) / 4])
    assert drawn["cx"] == pytest.approx([left + (right - left) / 4])
