"""The Voice delivers out of the box: every routed text lands in its team's inbox, and a reroute
there is a correction the retrain job reads."""

from __future__ import annotations

import time
from typing import Any

import httpx
from the_voice.routing import DELIVER, ENDPOINT
from the_voice.teams import DEFAULT_TEAM, TEAMS

import berth
from berth.core.settings import Settings
from tests.support.servers import server_in_thread


def test_routed_texts_reach_their_teams_inboxes_and_a_reroute_is_feedback(voice_settings: Settings) -> None:
    settings = voice_settings.model_copy(update={"delivery_interval_s": 0.05})
    with server_in_thread(settings) as url:
        teams = {t["name"] for t in httpx.get(f"{url}/api/v1/teams", timeout=10).json()}
        assert {*TEAMS, DEFAULT_TEAM} <= teams
        assert httpx.get(f"{url}/api/v1/endpoints/{ENDPOINT}", timeout=10).json()["deliver"] == DELIVER
        body = {
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["someone stole my card"]}]
        }
        answer = httpx.post(f"{url}/v2/models/{ENDPOINT}/infer", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        pid = answer.headers["berth-prediction-id"]
        outputs = {o["name"]: o["data"][0] for o in answer.json()["outputs"]}
        assert outputs["team"] == "card-security"  # the bank's rule
        inbox = berth.inbox(url=url)
        try:
            message = _wait(
                lambda: [m for m in inbox.list("card-security")["messages"] if m["prediction_id"] == pid]
            )
            assert message["status"] == "delivered"
            assert message["delivered_to"] == "inbox"
            assert message["inputs"] == {"text": "someone stole my card"}
            assert message["label"] == outputs["category"]
            rerouted = inbox.reroute("card-security", message["id"], to="cards", label="card_not_working")
        finally:
            inbox.close()
        assert rerouted["feedback"]["sent"] is True
        record = httpx.get(f"{url}/api/v1/records/{pid}", timeout=10).json()["records"][0]
        assert record["feedback"]["label"] == "card_not_working"


def _wait(probe: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found and found[0]["status"] == "delivered":
            return found[0]
        time.sleep(0.05)
    raise AssertionError("the message never reached the inbox")
