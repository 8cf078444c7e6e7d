"""The API documentation in a real browser, on a network that has nothing but the server: every
request to another host is blocked, and Swagger UI (``/docs``) and ReDoc (``/redoc``) still render
every operation, with no console error. With authentication on, the pages and their assets are
public, like the OpenAPI document they show (the API behind them checks every call)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, expect

from berth.server.rest.docs_routes import ASSETS_PREFIX, docs_paths
from tests.support.servers import server_process

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def secure_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`berth serve` with API tokens on (and no token made: nobody is let in)."""
    home = tmp_path_factory.mktemp("api-docs") / "home"
    with server_process(home, env={"BERTH_AUTH": "tokens"}) as url:
        yield url


@dataclass
class Offline:
    """A browser page whose network is the server alone: what it asked elsewhere, and its console errors."""

    page: Page
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def offline(browser: Browser, secure_url: str) -> Iterator[Offline]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    seen = Offline(page)
    server = urlsplit(secure_url).netloc

    def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == server:
            route.continue_()
        else:
            seen.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.console_errors.append(message.text)

    context.route("**/*", only_the_server)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.console_errors.append(str(error)))
    try:
        yield seen
    finally:
        context.close()


def operations(url: str) -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the server's OpenAPI document."""
    spec = httpx.get(f"{url}/openapi.json", timeout=30).json()
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]


def test_swagger_ui_renders_every_operation_from_the_server_alone(offline: Offline, secure_url: str) -> None:
    expected = operations(secure_url)
    assert len(expected) > 50
    page = offline.page
    page.goto(f"{secure_url}/docs")
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(expected))
    shown = {
        (block.locator(".opblock-summary-method").inner_text(), block.get_attribute("id"))
        for block in blocks.all()
    }
    assert {method for method, _ in shown} == {method for method, _ in expected}
    expect(page.locator(".opblock-summary-path", has_text="/v2/models/{name}/infer").first).to_be_visible()
    expect(page.locator(".info .title")).to_contain_text("berth")
    assert offline.blocked == []
    assert offline.console_errors == []


def test_redoc_renders_the_operations_from_the_server_alone(offline: Offline, secure_url: str) -> None:
    expected = operations(secure_url)
    page = offline.page
    page.goto(f"{secure_url}/redoc")
    # a schema of some 200 operations: seconds to render on a loaded machine
    expect(page.locator(".api-info h1")).to_contain_text("berth", timeout=60_000)
    expect(page.locator("[data-section-id^='operation/']")).to_have_count(len(expected))
    assert offline.blocked == []
    assert offline.console_errors == []


def test_the_pages_and_their_assets_are_public_and_local(secure_url: str) -> None:
    assert httpx.get(f"{secure_url}/api/v1/models", timeout=30).status_code == 401  # auth is on
    for path in docs_paths():
        answer = httpx.get(f"{secure_url}{path}", timeout=30)
        assert answer.status_code == 200, path
        assert answer.headers["x-content-type-options"] == "nosniff"
    redoc = httpx.get(f"{secure_url}{ASSETS_PREFIX}redoc.standalone.js", timeout=30)
    assert b"cdn.redoc.ly" not in redoc.content  # its logo's link, replaced by an inline image
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{secure_url}{page}", timeout=30).text
        assert "http://" not in html
        assert "https://" not in html  # no CDN, no fonts, no favicon from elsewhere
    for path in ("/docs/assets/1.7.7/../../../README.md", "/docs/assets/x.js", "/docs/oauth2-redirect"):
        assert httpx.get(f"{secure_url}{path}", timeout=30).status_code in (401, 404), path
