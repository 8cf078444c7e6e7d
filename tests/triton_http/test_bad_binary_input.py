"""Malformed binary tensor bodies, sent raw with httpx: a 400 with a stable code, and the server serves on."""

from __future__ import annotations

import gzip
import struct
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from tests.conftest import Trained
from tests.triton_http.conftest import MAX_BODY_BYTES

HEADER = "Inference-Header-Content-Length"


def binary_body(inputs: list[dict[str, Any]], *parts: bytes, **extra: Any) -> tuple[bytes, int]:
    header = orjson.dumps({"inputs": inputs, **extra})
    return header + b"".join(parts), len(header)


def fp32_input(shape: list[int], size: int, datatype: str = "FP32") -> dict[str, Any]:
    return {"name": "input-0", "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": size}}


def send(url: str, model: str, body: bytes, header: int | str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v2/models/{model}/infer", content=body, headers={HEADER: str(header), **headers}, timeout=30
    )


def assert_alive(url: str, lr: Trained) -> None:
    body, length = binary_body(
        [fp32_input([1, 20], 80)], lr.x[:1].tobytes(), parameters={"binary_data_output": True}
    )
    response = send(url, "lr", body, length)
    assert response.status_code == 200, response.text
    header = int(response.headers[HEADER])
    assert orjson.loads(response.content[:header])["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert np.frombuffer(response.content[header:], np.int64).tolist() == lr.model.predict(lr.x[:1]).tolist()


ROW = np.zeros(20, dtype=np.float32).tobytes()


def bytes_elements(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


CASES: list[tuple[str, str, tuple[bytes, int | str], str]] = [
    (
        "binary size too small for the shape",
        "lr",
        binary_body([fp32_input([1, 20], 79)], ROW[:79]),
        "invalid_tensor",
    ),
    (
        "sizes add up to less than the body",
        "lr",
        binary_body([fp32_input([1, 20], 80)], ROW, b"\0" * 4),
        "invalid_request",
    ),
    ("size larger than the bytes left", "lr", binary_body([fp32_input([1, 20], 84)], ROW), "invalid_request"),
    ("size is not an integer", "lr", binary_body([fp32_input([1, 20], "80")], ROW), "invalid_request"),  # type: ignore[arg-type]
    (
        "header longer than the body",
        "lr",
        (binary_body([fp32_input([1, 20], 80)], ROW)[0], 10_000),
        "invalid_request",
    ),
    (
        "header length not a number",
        "lr",
        (binary_body([fp32_input([1, 20], 80)], ROW)[0], "12abc"),
        "invalid_request",
    ),
    (
        "header length negative",
        "lr",
        (binary_body([fp32_input([1, 20], 80)], ROW)[0], "-5"),
        "invalid_request",
    ),
    (
        "header cut inside the JSON",
        "lr",
        (binary_body([fp32_input([1, 20], 80)], ROW)[0], 20),
        "invalid_json",
    ),
    ("shape product mismatch", "lr", binary_body([fp32_input([2, 20], 80)], ROW), "invalid_tensor"),
    ("unknown datatype", "lr", binary_body([fp32_input([1, 20], 80, "FP99")], ROW), "unsupported_datatype"),
    (
        "truncated BYTES element",
        "router",
        binary_body(
            [{"name": "input-0", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 13}}],
            bytes_elements(b"card")[:8] + struct.pack("<I", 10) + b"x",
        ),
        "invalid_tensor",
    ),
    (
        "bytes after the last BYTES element",
        "router",
        binary_body(
            [{"name": "input-0", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 10}}],
            bytes_elements(b"card") + b"zz",
        ),
        "invalid_tensor",
    ),
    (
        "both data and binary_data_size",
        "lr",
        binary_body([{**fp32_input([1, 20], 80), "data": [0.0] * 20}], ROW),
        "invalid_request",
    ),
    (
        "binary_data_output not a boolean",
        "lr",
        binary_body([fp32_input([1, 20], 80)], ROW, parameters={"binary_data_output": "yes"}),
        "invalid_request",
    ),
]


@pytest.mark.parametrize(("model", "body", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_binary_bodies_are_400(
    served: str, lr: Trained, model: str, body: tuple[bytes, int | str], code: str
) -> None:
    response = send(served, model, *body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["code"] == code
    assert answer["error"]
    assert_alive(served, lr)


def test_binary_data_size_without_the_header(served: str, lr: Trained) -> None:
    header = orjson.dumps({"inputs": [fp32_input([1, 20], 80)]})
    response = httpx.post(f"{served}/v2/models/lr/infer", content=header)
    assert response.status_code == 400
    assert "Inference-Header-Content-Length" in response.json()["error"]
    assert_alive(served, lr)


@pytest.mark.parametrize(
    ("encoding", "content", "status", "code"),
    [
        ("br", b"anything", 415, "unsupported_media_type"),
        ("gzip", b"not gzip at all", 400, "invalid_request"),
        ("gzip", gzip.compress(b'{"inputs": []}', mtime=0)[:-6], 400, "invalid_request"),
        ("gzip", b"bomb", 413, "payload_too_large"),  # built in the test: 10 MB of zeros, inflated
    ],
)
def test_bad_content_encoding(
    served: str, lr: Trained, encoding: str, content: bytes, status: int, code: str
) -> None:
    if content == b"bomb":
        content = gzip.compress(b"\0" * (MAX_BODY_BYTES + 1), compresslevel=1)
    response = httpx.post(
        f"{served}/v2/models/lr/infer", content=content, headers={"content-encoding": encoding}, timeout=30
    )
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert_alive(served, lr)
