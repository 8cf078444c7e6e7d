"""JSON log lines: each parses, and every line written while a request is handled carries its id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

import berth
from berth.core.logs import JsonFormatter, log_handler
from berth.core.request_ids import RequestIds
from berth.server.rest.request_layer import RequestLayer
from tests.conftest import Trained
from tests.support.servers import server_process


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The JSON lines the 'berth' loggers write during the test."""
    stream = io.StringIO()
    handler = log_handler("json")
    handler.setStream(stream)  # type: ignore[attr-defined]
    logger = logging.getLogger("berth")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def logging_app(scope: Scope, receive: Receive, send: Send) -> None:
    logging.getLogger("berth.test").info("handling %s", scope["path"], extra={"rows": 3})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"berth-model", b"lr")]})
    await send({"type": "http.response.body", "body": b"{}"})


async def two_requests(layer: RequestLayer) -> tuple[httpx.Response, httpx.Response]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=layer), base_url="http://t") as client:
        return (
            await client.get("/one", headers={"x-request-id": "req-42"}),
            await client.get("/two"),
        )


def test_lines_written_for_a_request_carry_its_id(json_lines: io.StringIO) -> None:
    mine, made = asyncio.run(two_requests(RequestLayer(logging_app, RequestIds(), log_access=True)))
    assert mine.headers["x-request-id"] == "req-42"
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    handled = [line for line in lines if line["logger"] == "berth.test"]
    assert [line["request_id"] for line in handled] == ["req-42", made.headers["x-request-id"]]
    assert handled[0]["message"] == "handling /one"
    assert handled[0]["rows"] == 3
    assert handled[0]["level"] == "info"
    assert handled[0]["time"].endswith("+00:00")
    access = [line for line in lines if line["logger"] == "berth.access"]
    assert access[0]["request_id"] == "req-42"
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/one"
    assert access[0]["status"] == 200
    assert access[0]["model"] == "lr"
    assert access[0]["duration_s"] >= 0


def test_exceptions_and_lines_outside_requests() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("berth.x", logging.ERROR, __file__, 1, "failed %d", (7,), exc_info=True)
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed 7"
    assert line["request_id"] == ""
    assert "ValueError: boom" in line["exception"]


@pytest.mark.slow
def test_a_served_request_logs_json_with_its_id(tmp_path: Path, lr: Trained) -> None:
    home = tmp_path / "home"
    berth.push(lr.model, name="lr", home=home, input_example=lr.x[:2])
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": lr.x[0].tolist()}]}
    extra = ("--log-level", "info", "--log-format", "json")
    with server_process(home, *extra, env={"BERTH_ACCESS_LOG": "true"}) as url:
        answer = httpx.post(f"{url}/v2/models/lr/infer", json=body, headers={"x-request-id": "served-1"})
        assert answer.status_code == 200
        assert answer.headers["x-request-id"] == "served-1"
        port = url.rsplit(":", 1)[1]
    lines = [json.loads(line) for line in (tmp_path / f"server-{port}.log").read_text().splitlines() if line]
    assert all({"time", "level", "logger", "message", "request_id"} <= line.keys() for line in lines)
    access = [line for line in lines if line["logger"] == "berth.access" and line["request_id"] == "served-1"]
    assert len(access) == 1
    assert access[0]["path"] == "/v2/models/lr/infer"
    assert access[0]["model"] == "lr"
    assert access[0]["status"] == 200
