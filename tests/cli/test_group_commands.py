"""``berth group list|assign`` on a home (``--home``) and a server (``--url``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.core.errors import ErrorCode
from berth.core.settings import Settings
from tests.cli.conftest import ModelFiles
from tests.cli.test_registry_commands import berth_error, ok, run
from tests.support.servers import server_in_thread


@pytest.fixture(params=["home", "url"])
def where(request: pytest.FixtureRequest, tmp_path: Path, model_files: ModelFiles) -> Iterator[list[str]]:
    home = tmp_path / "home"
    ok("push", model_files.churn_skops, "--name", "churn", "--home", home)
    if request.param == "home":
        yield ["--home", str(home)]
        return
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        yield ["--url", url]


def test_assign_then_list(where: list[str]) -> None:
    assert ok("group", "assign", "churn", "risk", "--reason", "isolate", *where).strip() == (
        "model churn -> serving group risk"
    )

    listed = json.loads(ok("group", "list", "--json", *where))
    assert listed["assignments"] == [{"name": "churn", "kind": "model", "group": "risk"}]
    assert "churn" in ok("group", "list", *where)


def test_an_unknown_name_or_a_bad_group_is_refused(where: list[str]) -> None:
    assert berth_error(run("group", "assign", "ghost", "risk", *where)).code is ErrorCode.MODEL_NOT_FOUND
    refused = berth_error(run("group", "assign", "churn", "Not_A_Label", *where))
    assert refused.code in (ErrorCode.INVALID_NAME, ErrorCode.INVALID_REQUEST)


def test_the_sdk_moves_a_model_to_a_group(tmp_path: Path, model_files: ModelFiles) -> None:
    import berth

    home = tmp_path / "home"
    ok("push", model_files.churn_skops, "--name", "churn", "--home", home)
    with server_in_thread(Settings(home=home, poll_interval_s=0.1)) as url:
        client = berth.groups(url=url)
        try:
            assert client.assign("churn", "risk", reason="sdk") == {
                "name": "churn",
                "kind": "model",
                "group": "risk",
            }
            assert client.overview()["assignments"] == [{"name": "churn", "kind": "model", "group": "risk"}]
        finally:
            client.close()
