"""Who may read /metrics (BERTH_METRICS_AUTH), and a server with metrics off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import berth
from berth.core.access import Role
from berth.core.settings import Settings
from berth.storage.security_store import SqlSecurityStore
from tests.conftest import Trained
from tests.support.servers import server_in_thread


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Path:
    home = tmp_path_factory.mktemp("metrics-auth") / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2], team="t")
    return home


@pytest.fixture(scope="module")
def tokens(home: Path) -> dict[str, str]:
    store = SqlSecurityStore(Settings(home=home).resolved_database_url)
    try:
        store.set_member("t", "owner", Role.ADMIN)  # the team's admin, not the platform's
        return {name: store.create_token(name, admin=name == "root").secret for name in ("root", "owner")}
    finally:
        store.close()


@pytest.fixture(scope="module")
def token_only(home: Path, tokens: dict[str, str]) -> Iterator[str]:
    with server_in_thread(Settings(home=home, auth="tokens", metrics_auth="token")) as url:
        yield url


def test_token_mode_needs_a_platform_administrator(token_only: str, tokens: dict[str, str]) -> None:
    assert httpx.get(f"{token_only}/metrics").status_code == 401
    owner = httpx.get(f"{token_only}/metrics", headers={"authorization": f"Bearer {tokens['owner']}"})
    assert owner.status_code == 403
    assert owner.json()["code"] == "forbidden"
    root = httpx.get(f"{token_only}/metrics", headers={"authorization": f"Bearer {tokens['root']}"})
    assert root.status_code == 200
    assert "berth_requests_total" in root.text


def test_auto_follows_authentication(token_only: str, home: Path, tokens: dict[str, str]) -> None:
    assert Settings(home=home).metrics_auth == "auto"
    with server_in_thread(Settings(home=home, auth="tokens")) as url:  # auth on: an admin's token
        assert httpx.get(f"{url}/metrics").status_code == 401
    with server_in_thread(Settings(home=home)) as url:  # auth off: every route is open anyway
        assert httpx.get(f"{url}/metrics").status_code == 200


def test_public_mode_with_authentication_on(home: Path, tokens: dict[str, str]) -> None:
    with server_in_thread(Settings(home=home, auth="tokens", metrics_auth="public")) as url:
        assert httpx.get(f"{url}/metrics").status_code == 200
        assert httpx.get(f"{url}/v2/models/lr").status_code == 401  # the rest still needs a token


def test_metrics_off(home: Path, lr: Trained) -> None:
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": lr.x[0].tolist()}]}
    with server_in_thread(Settings(home=home, metrics=False)) as url:
        assert httpx.post(f"{url}/v2/models/lr/infer", json=body).status_code == 200
        refused = httpx.get(f"{url}/metrics")
        assert refused.status_code == 404
        assert refused.headers["x-request-id"]  # request ids do not depend on metrics


def test_settings_refuse_unknown_modes() -> None:
    with pytest.raises(ValueError, match="metrics_auth"):
        Settings(metrics_auth="open")
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")
