"""feedback-router through a real server: text in, category + team + confidence out, and the
card-security rule over the model."""

from __future__ import annotations

from typing import Any

import httpx
from the_voice.teams import team_of_category

from berth.core.settings import Settings
from tests.support.servers import server_in_thread


def texts_request(texts: list[str]) -> dict[str, Any]:
    return {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}


def outputs(answer: httpx.Response) -> dict[str, list[Any]]:
    return {o["name"]: o["data"] for o in answer.json()["outputs"]}


def test_the_endpoint_answers_category_team_and_confidence(voice_settings: Settings) -> None:
    texts = ["How do I top up with a bank transfer?", "Which currencies can I exchange in the app?"]
    with server_in_thread(voice_settings) as url:
        answer = httpx.post(f"{url}/v2/models/feedback-router/infer", json=texts_request(texts), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["berth-model"] == "voice-classifier"
    assert answer.headers["berth-model-version"] == "1"
    got = outputs(answer)
    assert list(got) == ["category", "team", "confidence"]
    table = team_of_category()
    assert all(category in table for category in got["category"])
    assert got["team"] == [table[c] for c in got["category"]]  # no rule applies: the table routes
    assert all(0.0 <= c <= 1.0 for c in got["confidence"])


def test_a_lost_or_stolen_card_goes_to_card_security_whatever_the_model_says(
    voice_settings: Settings,
) -> None:
    texts = [
        "Someone STOLE my card at the station, what now?",
        "I think I lost my credit card yesterday",
        "my card was stolen",
        "I lost my phone",  # not a card: the model's team stands
    ]
    with server_in_thread(voice_settings) as url:
        answer = httpx.post(f"{url}/v2/models/feedback-router/infer", json=texts_request(texts), timeout=30)
    assert answer.status_code == 200, answer.text
    got = outputs(answer)
    table = team_of_category()
    assert got["team"][:3] == ["card-security"] * 3
    assert got["team"][3] == table[got["category"][3]]


def test_a_request_without_text_is_a_clear_4xx(voice_settings: Settings) -> None:
    body = {"inputs": [{"name": "words", "datatype": "BYTES", "shape": [1], "data": ["hello"]}]}
    with server_in_thread(voice_settings) as url:
        answer = httpx.post(f"{url}/v2/models/feedback-router/infer", json=body, timeout=30)
    assert 400 <= answer.status_code < 500
    assert answer.json()["code"] == "signature_mismatch", answer.text


def test_the_served_model_embeds_texts_on_the_server_and_declares_its_classes(
    voice_settings: Settings,
) -> None:
    """The champion holds berth's sentence encoder as a reference (name + weights sha256), so it is
    an untrusted skops file like any other; the server computes the embeddings; the version API
    lists the classes an analyst may correct to."""
    import berth
    from berth.runtime.sentence_encoder import DEFAULT_ENCODER, ENCODERS

    with server_in_thread(voice_settings) as url:
        version = httpx.get(f"{url}/api/v1/models/voice-classifier/versions/1", timeout=30).json()
        near = httpx.post(
            f"{url}/v2/models/voice-classifier/infer",
            json={**texts_request(["my card has not arrived yet", "my card still hasn't arrived"])},
            timeout=30,
        )
        registry = berth.open_registry(url=url)
        try:
            sdk = registry.get_version("voice-classifier", "1")
        finally:
            registry.close()
    assert version["trusted"] is False
    assert version["params"]["features"].startswith("USE multilingual v3")
    classes = version["classes"]
    assert classes == sorted(classes)
    assert len(classes) > 20
    assert set(classes) <= set(team_of_category())
    assert sdk.classes == classes
    assert near.status_code == 200, near.text
    first, second = outputs(near)["predict"]
    assert first == second  # two wordings of one problem: the embeddings bring them together
    assert ENCODERS[DEFAULT_ENCODER].weights_sha256
