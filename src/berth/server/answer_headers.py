"""The headers that name who answered an inference request: the same on every transport (REST
headers, gRPC trailing metadata)."""

from __future__ import annotations

from berth.core.tensors import InferenceResponse
from berth.dataplane.endpoint_inference import ENDPOINT_PARAMETER, VARIANT_PARAMETER

RawHeaders = list[tuple[bytes, bytes]]

MODEL_HEADER = b"berth-model"
VERSION_HEADER = b"berth-model-version"
ENDPOINT_HEADER = b"berth-endpoint"
VARIANT_HEADER = b"berth-variant"
PREDICTION_ID_HEADER = b"berth-prediction-id"


def answered_by(response: InferenceResponse) -> RawHeaders:
    """Headers naming the model and version that answered (and the endpoint and variant, if any)."""
    headers = [
        (MODEL_HEADER, response.model_name.encode()),
        (VERSION_HEADER, response.model_version.encode()),
        *prediction_id_header(response),
    ]
    endpoint = response.parameters.get(ENDPOINT_PARAMETER)
    if endpoint is not None:
        headers.append((ENDPOINT_HEADER, str(endpoint).encode()))
        headers.append((VARIANT_HEADER, str(response.parameters.get(VARIANT_PARAMETER, "")).encode()))
    return headers


def prediction_id_header(response: InferenceResponse) -> RawHeaders:
    """The ``berth-prediction-id`` header of an answer (none for an id a header cannot carry: a
    caller's own id with other than printable ASCII is in the body only)."""
    if response.id and response.id.isascii() and response.id.isprintable():
        return [(PREDICTION_ID_HEADER, response.id.encode())]
    return []
