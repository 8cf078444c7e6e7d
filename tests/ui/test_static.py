"""The app's files over plain HTTP (no browser): HTML with a strict CSP, exact routes only."""

from __future__ import annotations

import re

import httpx

from berth.server.rest.ui_routes import ui_files
from tests.ui.conftest import Site


def test_the_app_is_html_with_a_content_security_policy(site: Site) -> None:
    answer = httpx.get(f"{site.url}/ui/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", answer.text, flags=re.S)
    assert scripts, "the page loads its module"
    assert all("src=" in attributes and not body.strip() for attributes, body in scripts), "no inline script"
    assert "style=" not in answer.text


def test_every_file_is_served_with_its_type(site: Site) -> None:
    types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
    for name in ui_files():
        answer = httpx.get(f"{site.url}/ui/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith(types[name[name.rfind(".") :]]), name
        assert "content-security-policy" in answer.headers


def test_the_root_and_ui_redirect_to_the_app(site: Site) -> None:
    for path in ("/", "/ui"):
        answer = httpx.get(f"{site.url}{path}")
        assert answer.status_code == 307
        assert answer.headers["location"] == "/ui/"


def test_nothing_else_under_ui_is_served(site: Site) -> None:
    for path in ("/ui/missing.js", "/ui/../pyproject.toml", "/ui/%2e%2e/app.py", "/ui/ui_routes.py"):
        answer = httpx.get(f"{site.url}{path}")
        assert answer.status_code == 404, path
        assert answer.json()["code"] == "route_not_found"
