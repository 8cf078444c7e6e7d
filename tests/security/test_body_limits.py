"""Issue 12 item 8: request bodies are limited while they stream in, on every route, and a caller
who may not push is refused before the upload is read.

Each test speaks HTTP over a raw socket, sends the head and part of a body, and watches for the
answer: the server must answer (and stop reading) long before the whole body is sent. The server
runs in its own process with small limits and its own temporary folder, whose growth is checked.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Trained
from tests.security.conftest import populate
from tests.support.servers import server_process

BODY_LIMIT = 1_000_000
UPLOAD_LIMIT = 4_000_000
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Limited:
    url: str
    tokens: dict[str, str]
    tmp: Path

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    def spooled_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.tmp.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Limited]:
    root = tmp_path_factory.mktemp("body-limits")
    home, tmp = root / "home", root / "tmp"
    tmp.mkdir()
    _, tokens = populate(home, lr)
    env = {
        "BERTH_AUTH": "tokens",
        "BERTH_MAX_BODY_BYTES": str(BODY_LIMIT),
        "BERTH_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "BERTH_RECORD_PREDICTIONS": "false",
        "TMPDIR": str(tmp),
    }
    with server_process(home, env=env) as url:
        yield Limited(url, tokens, tmp)


@dataclass
class Sent:
    """What a streaming client managed to send before the server answered, and the answer."""

    sent: int
    status: int
    body: dict[str, object]


def stream(limited: Limited, head: bytes, total: int, *, chunked: bool = False, wait_s: float = 10.0) -> Sent:
    """Send `head`, then up to `total` body bytes in chunks, checking for an answer after each chunk;
    when the body is all sent (or the server stops reading), wait up to `wait_s` for the answer."""
    with socket.create_connection(limited.address, timeout=wait_s) as sock:
        sock.sendall(head)
        sent = 0
        answer = b""
        try:
            while sent < total:
                piece = b"x" * min(CHUNK, total - sent)
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
                if select.select([sock], [], [], 0.005)[0]:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + wait_s
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            if time.monotonic() > deadline or (not select.select([sock], [], [], 0.1)[0] and sent >= total):
                if time.monotonic() > deadline:
                    break
                continue
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            answer += data
    head_text, _, body = answer.partition(b"\r\n\r\n")
    if not head_text:
        return Sent(sent, 0, {})
    status = int(head_text.split(b" ", 2)[1])
    return Sent(sent, status, json.loads(body[: _length(answer)] or b"{}"))


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _head(method: str, path: str, token: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: berth", f"authorization: Bearer {token}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _upload_head(path: str, token: str, length: int | None) -> bytes:
    headers = {"content-type": "multipart/form-data; boundary=b0undary"}
    headers.update(
        {"content-length": str(length)} if length is not None else {"transfer-encoding": "chunked"}
    )
    preamble = (
        b'--b0undary\r\ncontent-disposition: form-data; name="artifact"; filename="m.skops"\r\n'
        b"content-type: application/octet-stream\r\n\r\n"
    )
    if length is None:  # the first chunk
        preamble = b"%x\r\n%s\r\n" % (len(preamble), preamble)
    return _head("POST", path, token, headers) + preamble


@pytest.mark.parametrize(
    ("who", "model"),
    [
        ("erin", "brand-new-model"),
        ("carol", "brand-new-model"),
        ("alice", "beta-model"),
        ("dave", "alpha-model"),
    ],
)
def test_a_caller_who_may_not_push_is_refused_before_the_upload_is_read(
    limited: Limited, who: str, model: str
) -> None:
    """No role, a predictor, another team's maintainer, a reader: refused with the body unread."""
    size = UPLOAD_LIMIT - 100_000  # under the limit: only authorization can refuse it early
    result = stream(
        limited,
        _upload_head(f"/api/v1/models/{model}/versions", limited.tokens[who], size),
        4 * CHUNK,
        wait_s=5,
    )
    assert result.status in (400, 403, 404), result
    assert result.sent <= 4 * CHUNK
    assert limited.spooled_bytes() < CHUNK


def test_an_upload_past_the_limit_stops_at_the_limit(limited: Limited) -> None:
    """A chunked upload (no declared length) by a platform admin: 413 once the limit is passed."""
    result = stream(
        limited,
        _upload_head("/api/v1/models/big-model/versions", limited.tokens["root"], None),
        4 * UPLOAD_LIMIT,
        chunked=True,
    )
    assert result.status == 413, result
    assert result.body["code"] == "payload_too_large"
    assert result.sent <= UPLOAD_LIMIT + 16 * CHUNK  # what was in flight when the answer came
    time.sleep(0.5)
    assert limited.spooled_bytes() < CHUNK  # nothing left behind in the temporary folder


def test_an_upload_declared_past_the_limit_is_refused_unread(limited: Limited) -> None:
    result = stream(
        limited,
        _upload_head("/api/v1/models/big-model/versions", limited.tokens["root"], 10 * UPLOAD_LIMIT),
        0,
    )
    assert result.status == 413, result
    assert result.body["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("POST", "/api/v1/endpoints", "erin"),
        ("PATCH", "/api/v1/models/alpha-model", "root"),
        ("PUT", "/api/v1/entities/customers", "bob"),
        ("POST", "/v1/models/alpha-model:predict", "root"),
        ("POST", "/v2/models/alpha-model/infer", "root"),
        ("POST", "/api/v1/tokens", "erin"),
    ],
)
def test_an_ordinary_body_streaming_past_the_limit_is_413_at_the_limit(
    limited: Limited, method: str, path: str, who: str
) -> None:
    """JSON bodies on every kind of route, chunked: answered 413 once BERTH_MAX_BODY_BYTES is passed,
    whoever sends them, and not read any further."""
    head = _head(
        method,
        path,
        limited.tokens[who],
        {"content-type": "application/json", "transfer-encoding": "chunked"},
    )
    result = stream(limited, head, 20 * BODY_LIMIT, chunked=True)
    assert result.status == 413, result
    assert result.body["code"] == "payload_too_large"
    assert result.sent <= BODY_LIMIT + 16 * CHUNK


def test_a_body_declared_past_the_limit_is_refused_unread(limited: Limited) -> None:
    head = _head(
        "POST",
        "/api/v1/endpoints",
        limited.tokens["erin"],
        {"content-type": "application/json", "content-length": str(50 * BODY_LIMIT)},
    )
    result = stream(limited, head, 0)
    assert result.status == 413, result
    assert result.body["code"] == "payload_too_large"
