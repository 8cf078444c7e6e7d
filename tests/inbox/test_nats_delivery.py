"""A team's messages on NATS JetStream: a real server at 127.0.0.1:4222 and a real consumer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest

import berth
from berth.core.settings import Settings
from tests.conftest import Trained
from tests.inbox.conftest import ENDPOINT, populate, predict, wait_for
from tests.support.nats import fresh_stream, nats_server_url
from tests.support.servers import server_in_thread

pytestmark = pytest.mark.nats


async def consume(url: str, subject: str, stream: str, count: int, timeout_s: float = 30.0) -> list[Any]:
    client = await nats.connect(url, connect_timeout=2)
    try:
        js = client.jetstream()
        sub = await js.pull_subscribe(subject, stream=stream)
        got: list[Any] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(got) < count and asyncio.get_running_loop().time() < deadline:
            try:
                batch = await sub.fetch(count - len(got), timeout=1)
            except nats.errors.TimeoutError:
                continue
            for msg in batch:
                got.append((msg.headers or {}, orjson.loads(msg.data)))
                await msg.ack()
        return got
    finally:
        await client.close()


def test_a_teams_messages_are_published_to_its_subject_once_per_key(
    tmp_path: Path, text_pipeline: Trained
) -> None:
    with fresh_stream("BERTH_INBOX_TEST") as stream:
        home = tmp_path / "home"
        populate(home, text_pipeline)
        inbox = berth.inbox(home=home)
        try:
            inbox.set_settings("card-security", nats_subject="card-security.urgent")
        finally:
            inbox.close()
        settings = Settings(
            home=home,
            poll_interval_s=0.1,
            delivery_interval_s=0.05,
            delivery_nats=f"{nats_server_url().rstrip('/')}/{stream}",
        )
        with server_in_thread(settings) as url:
            ids = [
                predict(url, t).headers["berth-prediction-id"]
                for t in ("my card was stolen", "lost my card yesterday")
            ]
            inbox = berth.inbox(url=url)
            try:
                listed = wait_for(
                    "two delivered messages",
                    lambda: (
                        [m for m in inbox.list("card-security", status="delivered")["messages"]][1:]
                        and inbox.list("card-security", status="delivered")["messages"]
                    ),
                )
            finally:
                inbox.close()
            subject = f"berth.inbox.{stream}.card-security.urgent"
            got = asyncio.run(consume(nats_server_url(), subject, stream, 2))  # kept by the stream
    keys = {f"{ENDPOINT}/{pid}#0" for pid in ids}
    assert {headers["Nats-Msg-Id"] for headers, _ in got} == keys
    assert {body["key"] for _, body in got} == keys
    assert {body["answer"]["team"] for _, body in got} == {"card-security"}
    assert {m["delivered_to"] for m in listed} == {"nats"}
