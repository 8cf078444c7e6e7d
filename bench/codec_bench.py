"""How fast the OIP REST hot path is: decode a request and encode a response, per second; JSON
bodies, and the binary tensor data extension (tritonclient.http's default) beside them.

Run: ``.venv/bin/python bench/codec_bench.py`` (prints figures; not a test).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import orjson

from berth.core.codecs.model_io import to_model_input, to_output_tensors
from berth.core.codecs.oip_binary import (
    ALL,
    decode_binary_infer_request,
    encode_binary_infer_request,
    encode_binary_infer_response,
)
from berth.core.codecs.oip_json import decode_infer_request, encode_infer_response
from berth.core.signature import Signature, TensorSpec
from berth.core.tensors import InferenceRequest, InferenceResponse, Tensor

FEATURES = 20


def request_body(rows: int, rng: np.random.Generator) -> bytes:
    data = rng.standard_normal((rows, FEATURES)).astype(np.float32).reshape(-1).tolist()
    tensor = {"name": "input-0", "shape": [rows, FEATURES], "datatype": "FP32", "data": data}
    return orjson.dumps({"id": "bench", "inputs": [tensor]})


def binary_request_body(rows: int, rng: np.random.Generator) -> tuple[bytes, int]:
    data = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    request = InferenceRequest([Tensor("input-0", "FP32", data.shape, data)], id="bench")
    return encode_binary_infer_request(request)


def response(rows: int, rng: np.random.Generator) -> InferenceResponse:
    scores = rng.random((rows, 2)).astype(np.float32)
    labels = (scores[:, 1] > 0.5).astype(np.int64)
    outputs = [
        Tensor("label", "INT64", labels.shape, labels),
        Tensor("probabilities", "FP32", scores.shape, scores),
    ]
    return InferenceResponse("bench", "1", outputs, id="bench")


def per_second(action: Callable[[], object], seconds: float = 1.0) -> tuple[float, float]:
    """Calls per second and microseconds per call, over about `seconds`."""
    for _ in range(200):
        action()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            action()
        calls += 100
    return calls / elapsed, elapsed / calls * 1e6


def round_trip(body: bytes, raw: dict[str, np.ndarray], signature: Signature) -> bytes:
    """What the server does around a model: decode, check, (predict: `raw`), pick outputs, encode."""
    request = decode_infer_request(body)
    to_model_input(request.inputs, signature)
    outputs = to_output_tensors(raw, (), signature)
    return encode_infer_response(InferenceResponse("bench", "1", outputs, id=request.id))


def binary_round_trip(body: bytes, length: int, raw: dict[str, np.ndarray], signature: Signature) -> bytes:
    """`round_trip` with the binary tensor data extension both ways."""
    request = decode_binary_infer_request(body, length)
    to_model_input(request.inputs, signature)
    outputs = to_output_tensors(raw, (), signature)
    return encode_binary_infer_response(InferenceResponse("bench", "1", outputs, id=request.id), ALL)[0]


def main() -> None:
    rng = np.random.default_rng(0)
    signature = Signature(
        inputs=(TensorSpec("input-0", "FP32", (-1, FEATURES)),),
        outputs=(TensorSpec("label", "INT64", (-1,)), TensorSpec("probabilities", "FP32", (-1, 2))),
    )
    for rows in (1, 256):
        body, answer = request_body(rows, rng), response(rows, rng)
        raw = {t.name: t.data for t in answer.outputs}
        request = decode_infer_request(body)
        cases: list[tuple[str, Callable[[], object]]] = [
            ("decode_infer_request", lambda body=body: decode_infer_request(body)),
            ("to_model_input", lambda request=request: to_model_input(request.inputs, signature)),
            ("to_output_tensors", lambda raw=raw: to_output_tensors(raw, (), signature)),
            ("encode_infer_response", lambda answer=answer: encode_infer_response(answer)),
            ("all four (one request)", lambda body=body, raw=raw: round_trip(body, raw, signature)),
            ("orjson.loads only (floor)", lambda body=body: orjson.loads(body)),
        ]
        print(f"{rows} row(s) x {FEATURES} FP32 features ({len(body)} bytes of request)")
        run(cases)
        binary, length = binary_request_body(rows, rng)
        print(f"  binary tensor data ({len(binary)} bytes of request)")
        run(
            [
                ("decode_binary_infer_request", lambda b=binary, n=length: decode_binary_infer_request(b, n)),
                ("encode_binary_infer_response", lambda a=answer: encode_binary_infer_response(a, ALL)),
                (
                    "all four, binary",
                    lambda b=binary, n=length, raw=raw: binary_round_trip(b, n, raw, signature),
                ),
            ]
        )


def run(cases: list[tuple[str, Callable[[], object]]]) -> None:
    for label, action in cases:
        rate, micros = per_second(action)
        print(f"  {label:30s} {rate:12,.0f}/s  {micros:8.1f} µs")


if __name__ == "__main__":
    main()
