"""Webhooks cannot be turned against the platform (issue 12, item 13), through a real server whose
monitor process fires the alerts, on SQLite and PostgreSQL.

The server allows only 127.0.0.2 (``BERTH_WEBHOOK_ALLOW``): the "outside" receivers listen there,
and `internal`, on 127.0.0.1, stands for everything inside the platform. Every rule pointing at
an internal address (literally, through a numeric spelling, an IPv6 form, a host name that
resolves to loopback, or a redirect) must leave `internal` without a single connection, and
readers see a generic status only, never an error text nor a URL's credentials.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from berth.control.alerts.destinations import (
    DestinationPolicy,
    DestinationRefused,
    WebhookAllowList,
    is_public,
    literal_address,
)
from berth.control.alerts.rules import AlertRule
from berth.control.alerts.webhook import WebhookSender, new_secret
from berth.core.records import PredictionRecord
from berth.core.settings import Settings
from berth.wiring.workspace import open_workspace
from tests.conftest import Trained
from tests.records.builders import ingest
from tests.security.conftest import populate
from tests.support.postgres import fresh_postgres_database
from tests.support.servers import free_port, server_in_thread
from tests.support.webhooks import Receiver, verify_standard_webhook

RULE = {"target": "alpha-model", "metric": "version_age_days", "op": ">=", "threshold": 0, "min_samples": 1}


@dataclass
class Hooks:
    url: str
    tokens: dict[str, str]
    internal: Receiver
    outside: Receiver
    redirector: Receiver
    legacy: list[str]
    """Rules stored straight in the database (as rules made before this check could be)."""

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[who]}"}


def _loopback_name() -> str | None:
    """A host name other than 'localhost' that this machine resolves to a loopback address."""
    name = socket.gethostname()
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        return None
    return name if addresses and all(a.startswith("127.") for a in addresses) else None


def _records(n: int) -> list[PredictionRecord]:
    now = datetime.now(UTC)
    return [
        PredictionRecord(
            prediction_id=f"h{i}",
            recorded_at=now - timedelta(seconds=n - i),
            endpoint="alpha-model",
            model="alpha-model",
            version=1,
            variant="",
            inputs={"input-0": {"datatype": "FP32", "shape": [1, 1], "data": [0.5]}},
            outputs={"predict": {"datatype": "INT64", "shape": [1], "data": [1]}},
            latency_s=0.001,
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hooks(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, lr: Trained
) -> Iterator[Hooks]:
    with _database(request.param) as database_url, pytest.MonkeyPatch.context() as env:
        if database_url:
            env.setenv("BERTH_DATABASE_URL", database_url)
        else:  # not another (module-scoped) server's database
            env.delenv("BERTH_DATABASE_URL", raising=False)
        home = tmp_path_factory.mktemp("hooks") / "home"
        resolved_url, tokens = populate(home, lr)
        ingest(resolved_url, _records(5))
        internal = Receiver()
        outside = Receiver(host="127.0.0.2")
        redirector = Receiver(host="127.0.0.2", status=307, location=internal.url)
        port = internal.port
        legacy = {  # what the API refuses, stored as an older berth could have
            "legacy-loopback": f"http://127.0.0.1:{port}/hook",
            "legacy-private": f"http://10.0.0.1:{port}/hook",
            "legacy-metadata": f"http://169.254.169.254:{port}/latest/meta-data/",
            "legacy-v6-loopback": f"http://[::1]:{port}/hook",
            "legacy-v4-mapped": f"http://[::ffff:127.0.0.1]:{port}/hook",
            "legacy-decimal": f"http://2130706433:{port}/hook",
            "legacy-hex": f"http://0x7f.0.0.1:{port}/hook",
            "legacy-localhost": f"http://localhost:{port}/hook",
            "legacy-credentials": f"http://hook-user:hook-password@127.0.0.1:{port}/hook?token=tok-123",
        }
        workspace = open_workspace(Settings(home=home))
        try:
            for name, url in legacy.items():
                rule = AlertRule.from_json(
                    RULE | {"name": name, "webhook_url": url, "secret": "an-old-free-text-secret"}
                )
                workspace.alerts.create_rule(rule.to_json(with_secret=True))
        finally:
            workspace.close()
        settings = Settings(
            home=home,
            poll_interval_s=0.1,
            auth="tokens",
            grpc_port=free_port(),
            alert_interval_s=0.3,
            webhook_allow="127.0.0.2",
        )
        try:
            with server_in_thread(settings) as url:
                yield Hooks(url, tokens, internal, outside, redirector, list(legacy))
        finally:
            for receiver in (internal, outside, redirector):
                receiver.close()


def _database(kind: str) -> AbstractContextManager[str | None]:
    return fresh_postgres_database() if kind == "postgres" else nullcontext(None)


def _create(hooks: Hooks, name: str, url: str, who: str = "alice") -> httpx.Response:
    return httpx.post(
        f"{hooks.url}/api/v1/alerts/rules",
        json=RULE | {"name": name, "webhook_url": url},
        headers=hooks.auth(who),
    )


def _deliveries(hooks: Hooks, rules: list[str], who: str) -> dict[str, dict[str, Any]]:
    """Each rule's delivery, as `who` reads the alert log once every rule's delivery is recorded."""
    deadline = time.monotonic() + 60
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{hooks.url}/api/v1/alerts/events", params={"limit": 1000}, headers=hooks.auth(who)
        )
        assert answer.status_code == 200, answer.text
        seen = {e["rule"]: e["delivery"] for e in answer.json()["events"] if e["delivery"] is not None}
        if set(rules) <= set(seen):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"deliveries never recorded: {sorted(set(rules) - set(seen))}")


def test_the_api_refuses_internal_and_credential_urls_and_caller_secrets(hooks: Hooks) -> None:
    port = hooks.internal.port
    for i, url in enumerate(
        [
            f"http://127.0.0.1:{port}/hook",
            f"http://10.1.2.3:{port}/hook",
            "http://169.254.169.254/latest/meta-data/",
            f"http://[::1]:{port}/hook",
            f"http://[::ffff:127.0.0.1]:{port}/hook",
            f"http://[fd00::1]:{port}/hook",
            f"http://2130706433:{port}/hook",
            f"http://0177.0.0.1:{port}/hook",
            f"http://100.64.0.1:{port}/hook",
            f"http://localhost:{port}/hook",
            "http://user:password@hooks.example.com/hook",
            "gopher://hooks.example.com/",
            "file:///etc/passwd",
        ]
    ):
        answer = _create(hooks, f"refused-{i}", url)
        assert answer.status_code == 400, (url, answer.text)
        assert answer.json()["code"] == "invalid_request"
    with_secret = httpx.post(
        f"{hooks.url}/api/v1/alerts/rules",
        json=RULE | {"name": "own-secret", "webhook_url": hooks.outside.url, "secret": "whsec_" + "A" * 44},
        headers=hooks.auth("alice"),
    )
    assert with_secret.status_code == 400
    assert _create(hooks, "moved", hooks.outside.url).status_code == 201
    moved = httpx.put(
        f"{hooks.url}/api/v1/alerts/rules/moved",
        json={"webhook_url": f"http://[::1]:{port}/hook"},
        headers=hooks.auth("alice"),
    )
    assert moved.status_code == 400, moved.text
    assert hooks.internal.calls == []


def test_deliveries_are_signed_and_internal_addresses_are_never_connected_to(hooks: Hooks) -> None:
    created = _create(hooks, "signed", hooks.outside.url)
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    assert _create(hooks, "redirected", hooks.redirector.url).status_code == 201
    rules = ["signed", "redirected", *hooks.legacy]
    name = _loopback_name()
    if name is not None:  # accepted (no DNS at creation), refused on its addresses at every call
        assert (
            _create(hooks, "named-loopback", f"http://{name}:{hooks.internal.port}/hook").status_code == 201
        )
        rules.append("named-loopback")

    seen = _deliveries(hooks, rules, "dave")  # dave: a reader of alpha

    assert hooks.internal.calls == [], "an internal address was reached"
    assert seen["signed"] == {"delivered": True, "attempts": 1, "status_class": "2xx"}
    assert seen["redirected"] == {"delivered": False, "attempts": 1, "status_class": "3xx"}
    assert [path for path, _, _ in hooks.redirector.calls] == ["/hook"]  # asked once, never followed
    for rule in [*hooks.legacy, *(["named-loopback"] if name else [])]:
        assert seen[rule] == {"delivered": False, "attempts": 1, "status_class": None}, rule
    [(headers, body)] = _calls_of(hooks.outside, "signed")
    assert verify_standard_webhook(secret, body, headers)
    assert headers["webhook-id"].startswith("berth-alert-")
    assert not verify_standard_webhook(secret, body + b" ", headers)


def _calls_of(receiver: Receiver, rule: str) -> list[tuple[dict[str, str], bytes]]:
    return [(h, b) for _, h, b in receiver.calls if orjson.loads(b)["rule"] == rule]


def test_a_standard_webhooks_library_verifies_the_signature(hooks: Hooks) -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    created = _create(hooks, "library", hooks.outside.url)
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    _deliveries(hooks, ["library"], "alice")
    [(headers, body)] = _calls_of(hooks.outside, "library")
    payload = standardwebhooks.Webhook(secret).verify(body, headers)
    assert payload["rule"] == "library"
    assert payload["event"] == "alert.fired"
    rotated = httpx.post(
        f"{hooks.url}/api/v1/alerts/rules/library/rotate-secret", headers=hooks.auth("alice")
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != secret
    with pytest.raises(standardwebhooks.WebhookVerificationError):  # the old delivery, the new secret
        standardwebhooks.Webhook(rotated.json()["secret"]).verify(body, headers)


def test_readers_see_neither_secrets_nor_credentials_nor_error_texts(hooks: Hooks) -> None:
    _deliveries(hooks, ["legacy-credentials"], "dave")
    rules = httpx.get(f"{hooks.url}/api/v1/alerts/rules", headers=hooks.auth("dave")).json()["rules"]
    by_name = {r["name"]: r for r in rules}
    text = str(rules)
    assert "hook-password" not in text
    assert "hook-user" not in text
    assert "tok-123" not in text
    assert by_name["legacy-credentials"]["webhook_url"].startswith("http://***@127.0.0.1:")
    assert all("secret" not in r for r in rules)
    events = httpx.get(f"{hooks.url}/api/v1/alerts/events", headers=hooks.auth("dave")).json()["events"]
    for event in events:
        assert set(event["delivery"] or {}) <= {"delivered", "attempts", "status_class"}
    assert "hook-password" not in str(events)
    bob = httpx.get(f"{hooks.url}/api/v1/alerts/rules/legacy-credentials", headers=hooks.auth("bob"))
    assert bob.status_code == 404  # another team's maintainer does not see the rule at all


def test_rotation_is_for_maintainers_and_answers_the_secret_once(hooks: Hooks) -> None:
    assert _create(hooks, "rotated", hooks.outside.url).status_code == 201
    dave = httpx.post(f"{hooks.url}/api/v1/alerts/rules/rotated/rotate-secret", headers=hooks.auth("dave"))
    assert dave.status_code == 403
    bob = httpx.post(f"{hooks.url}/api/v1/alerts/rules/rotated/rotate-secret", headers=hooks.auth("bob"))
    assert bob.status_code == 404
    first = httpx.post(f"{hooks.url}/api/v1/alerts/rules/rotated/rotate-secret", headers=hooks.auth("alice"))
    second = httpx.post(f"{hooks.url}/api/v1/alerts/rules/rotated/rotate-secret", headers=hooks.auth("alice"))
    assert first.json()["secret"] != second.json()["secret"]
    read = httpx.get(f"{hooks.url}/api/v1/alerts/rules/rotated", headers=hooks.auth("alice")).json()
    assert "secret" not in read
    assert read["has_secret"] is True


# -- the policy itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",
        "2001:db8::1",
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    parsed = literal_address(address)
    assert parsed is not None
    assert not is_public(parsed)


@pytest.mark.parametrize("spelling", ["2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1", "127.1", "[::1]"])
def test_numeric_spellings_are_the_address_they_spell(spelling: str) -> None:
    parsed = literal_address(spelling)
    assert parsed is not None
    assert parsed.is_loopback


def test_public_addresses_pass_and_a_call_is_pinned_to_the_vetted_address() -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # a rebinding resolver: public, then loopback
    policy = DestinationPolicy(resolve=lambda host, port: next(answers))
    target = policy.pin("https://hooks.example.com/berth?x=1")
    assert target.url == "https://93.184.216.34:443/berth?x=1"
    assert target.host_header == "hooks.example.com"
    assert target.server_name == "hooks.example.com"
    with pytest.raises(DestinationRefused):  # the next call resolves again, and is refused
        policy.pin("https://hooks.example.com/berth")


def test_a_name_resolving_to_any_internal_address_is_refused() -> None:
    policy = DestinationPolicy(resolve=lambda host, port: ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(DestinationRefused):
        policy.pin("http://hooks.example.com/")


def test_the_allow_list_opens_networks_and_names() -> None:
    allow = WebhookAllowList.parse("10.20.0.0/16, hooks.internal, .corp")
    policy = DestinationPolicy(allow, resolve=lambda host, port: ["10.9.9.9"])
    assert policy.pin("http://hooks.internal/").url == "http://10.9.9.9:80/"
    assert policy.pin("http://a.b.corp/").url == "http://10.9.9.9:80/"
    with pytest.raises(DestinationRefused):
        policy.pin("http://other.example/")
    assert DestinationPolicy(allow).pin("http://10.20.1.2:8080/h").url == "http://10.20.1.2:8080/h"
    with pytest.raises(ValueError, match="neither a CIDR nor a host name"):
        WebhookAllowList.parse("not a host!")


def test_a_call_connects_to_the_vetted_address_and_sends_the_original_host() -> None:
    receiver = Receiver()
    resolved: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    policy = DestinationPolicy(WebhookAllowList.parse("hooks.test"), resolve=resolve)
    sender = WebhookSender(attempts=1, policy=policy)
    try:
        delivery = sender.send(
            f"http://hooks.test:{receiver.port}/hook", new_secret(), "alert.fired", {"x": 1}, message_id="m-1"
        )
    finally:
        receiver.close()
    assert delivery.delivered
    assert resolved == ["hooks.test"]
    [(path, headers, _)] = receiver.calls
    assert path == "/hook"
    assert headers["host"] == f"hooks.test:{receiver.port}"
    assert headers["webhook-id"] == "m-1"


def test_a_refused_destination_is_not_retried_and_not_connected_to() -> None:
    receiver = Receiver()
    waits: list[float] = []
    sender = WebhookSender(attempts=3, sleep=waits.append)  # the default policy
    try:
        delivery = sender.send(receiver.url, new_secret(), "alert.fired", {"x": 1}, message_id="m-2")
    finally:
        receiver.close()
    assert delivery.to_json() == {"delivered": False, "attempts": 1, "status_class": None}
    assert receiver.calls == []
    assert waits == []
