"""Issue 12 item 9 (and item 15's plain-text 400s): idle and slow clients cannot take the server
off the network.

The server runs in its own process, with a small connection cap, short header and body timeouts
and an open-file limit of 200 (so that, without a cap, idle connections exhaust its descriptors as
~1,100 did at the default limit). Raw sockets play the attackers.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Trained
from tests.security.conftest import populate
from tests.support.servers import free_port, server_process

CAP = 40
HEADER_TIMEOUT_S = 1.5
BODY_TIMEOUT_S = 2.0
OPEN_FILES = 200


@dataclass(frozen=True)
class Guarded:
    url: str
    grpc_port: int
    tokens: dict[str, str]
    x: list[float]

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80


@contextlib.contextmanager
def open_file_limit(soft: int) -> Iterator[None]:
    """Processes started inside inherit this soft limit on open files."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, lr: Trained) -> Iterator[Guarded]:
    home: Path = tmp_path_factory.mktemp("connections") / "home"
    _, tokens = populate(home, lr)
    grpc_port = free_port()
    env = {
        "BERTH_AUTH": "tokens",
        "BERTH_MAX_CONNECTIONS": str(CAP),
        "BERTH_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "BERTH_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "BERTH_RECORD_PREDICTIONS": "false",
    }
    with contextlib.ExitStack() as stack:
        with open_file_limit(OPEN_FILES):
            url = stack.enter_context(server_process(home, "--grpc-port", str(grpc_port), env=env))
        yield Guarded(url, grpc_port, tokens, lr.x[0].tolist())


def _connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=10)


def _read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed it."""
    started = time.monotonic()
    sock.settimeout(timeout)
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while data := sock.recv(65536):
            received += data
    return received, time.monotonic() - started


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (head and ``content-length`` body), however the segments arrive."""
    sock.settimeout(30)
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    fields = dict(line.split(b":", 1) for line in head.lower().split(b"\r\n")[1:])
    length = int(fields[b"content-length"])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _json_answer(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_idle_connections_past_the_cap_leave_room_for_probes_and_callers(guarded: Guarded) -> None:
    idle = [_connect(guarded.address) for _ in range(OPEN_FILES + 100)]  # past the open-file limit too
    try:
        time.sleep(0.3)
        started = time.monotonic()
        live = httpx.get(f"{guarded.url}/v2/health/live", timeout=5)
        predicted = httpx.post(
            f"{guarded.url}/v2/models/alpha-model/infer",
            json={"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP32", "data": guarded.x}]},
            headers={"authorization": f"Bearer {guarded.tokens['alice']}"},
            timeout=5,
        )
        took = time.monotonic() - started
        assert live.status_code == 200
        assert predicted.status_code == 200, predicted.text
        assert took < HEADER_TIMEOUT_S  # served at once, not once the idle ones timed out
    finally:
        for sock in idle:
            sock.close()


def test_a_connection_that_sends_nothing_gets_408_after_the_header_timeout(guarded: Guarded) -> None:
    with _connect(guarded.address) as sock:
        raw, took = _read_until_closed(sock, 10)
    status, body = _json_answer(raw)
    assert (status, body["code"]) == (408, "client_too_slow")
    assert HEADER_TIMEOUT_S - 0.2 <= took <= HEADER_TIMEOUT_S + 1.5


def test_headers_sent_byte_by_byte_are_cut_off_at_the_header_timeout(guarded: Guarded) -> None:
    """Slowloris: each byte arrives well within any per-read timeout, the headers never end."""
    with _connect(guarded.address) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: berth\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < HEADER_TIMEOUT_S + 3:
            try:
                sock.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
        if not closed:
            raw, _ = _read_until_closed(sock, 0.5)
            closed = raw.startswith(b"HTTP/1.1 408")
        assert closed, "the slow client was still connected"
        assert time.monotonic() - started <= HEADER_TIMEOUT_S + 1.5


def test_a_body_sent_byte_by_byte_is_cut_off_at_the_body_timeout(guarded: Guarded) -> None:
    head = (
        "POST /api/v1/endpoints HTTP/1.1\r\nhost: berth\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {guarded.tokens['root']}\r\ncontent-length: 1000\r\n\r\n"
    )
    with _connect(guarded.address) as sock:
        sock.sendall(head.encode())
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < BODY_TIMEOUT_S + 4:
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
        if not closed:
            _, took = _read_until_closed(sock, 0.5)
            closed = took < 0.5
        assert closed, "the slow client was still connected"
        assert time.monotonic() - started <= BODY_TIMEOUT_S + 1.5


def test_a_kept_alive_connection_gets_the_header_timeout_again(guarded: Guarded) -> None:
    """After a request, the next one's headers are timed too (uvicorn's keep-alive timer is reset
    by every byte, so it does not catch a slow client)."""
    with _connect(guarded.address) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: berth\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: berth\r\nx-slow: ")
        started = time.monotonic()
        cut = False
        while time.monotonic() - started < HEADER_TIMEOUT_S + 7:  # uvicorn's keep-alive is 5 s
            try:
                sock.sendall(b"a")  # a header value that never ends
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            time.sleep(0.3)
        if not cut:
            raw, _ = _read_until_closed(sock, 0.5)
            cut = raw.startswith(b"HTTP/1.1 408")
        assert cut
        assert time.monotonic() - started <= HEADER_TIMEOUT_S + 1.5


def test_after_an_upload_the_next_headers_get_the_header_timeout_not_the_upload_one(guarded: Guarded) -> None:
    """An upload arms the connection's deadline far out (``BERTH_UPLOAD_TIMEOUT_S``, 900 s); the
    header timeout armed after its answer is earlier, and must move the connection's one timer in."""
    upload = (
        "POST /api/v1/models/lr/versions HTTP/1.1\r\nhost: berth\r\ncontent-type: application/json\r\n"
        "content-length: 2\r\n\r\n{}"
    )
    with _connect(guarded.address) as sock:
        sock.sendall(upload.encode())
        assert _read_response(sock).startswith(b"HTTP/1.1 4")  # no credentials: refused, the connection kept
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: berth\r\n")  # headers that never end
        started = time.monotonic()
        raw, _ = _read_until_closed(sock, HEADER_TIMEOUT_S + 60)
    assert raw.startswith(b"HTTP/1.1 408"), raw[:200]
    assert time.monotonic() - started <= HEADER_TIMEOUT_S + 30  # far from the upload's 900 s


def test_malformed_http_gets_the_json_error_shape(guarded: Guarded) -> None:
    with _connect(guarded.address) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        raw, _ = _read_until_closed(sock, 5)
    status, body = _json_answer(raw)
    assert status == 400
    assert body["code"] == "invalid_request"
    assert b"content-type: application/json" in raw.lower()


def test_a_grpc_connection_that_never_handshakes_is_closed(guarded: Guarded) -> None:
    with socket.create_connection(("127.0.0.1", guarded.grpc_port), timeout=10) as sock:
        _, took = _read_until_closed(sock, 10)
    assert took <= HEADER_TIMEOUT_S + 2
