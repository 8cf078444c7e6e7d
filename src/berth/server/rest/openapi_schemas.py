"""JSON schemas of the Open Inference Protocol bodies, for the OpenAPI document.

The inference routes parse their bodies by hand (orjson straight into numpy, no validation
objects per element), so their shapes are declared here for the documentation and for
schemathesis, not derived from pydantic models.
"""

from __future__ import annotations

from typing import Any, Final

from berth.core.codecs.arrow_tables import ARROW_STREAM_TYPE, PARQUET_TYPE

_DATATYPES: Final = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]

TENSOR: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "enum": _DATATYPES},
        "parameters": {"type": "object"},
        "data": {"type": "array", "description": "flat (row-major) or nested values"},
    },
}

INFER_REQUEST: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "inputs": {"type": "array", "items": TENSOR},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
            },
        },
    },
}

INFER_RESPONSE: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["model_name", "outputs"],
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "outputs": {"type": "array", "items": TENSOR},
    },
}

ERROR: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {"error": {"type": "string"}, "code": {"type": "string"}, "details": {"type": "object"}},
}

V1_REQUEST: Final[dict[str, Any]] = {
    "type": "object",
    "description": "exactly one of: instances (TF-Serving rows), inputs (TF-Serving columns), "
    "dataframe_split or dataframe_records (MLflow)",
    "properties": {
        "instances": {"type": "array"},
        "inputs": {"oneOf": [{"type": "object"}, {"type": "array"}]},
        "dataframe_split": {
            "type": "object",
            "properties": {
                "columns": {"type": "array"},
                "data": {"type": "array"},
                "index": {"type": "array"},
            },
        },
        "dataframe_records": {"type": "array", "items": {"type": "object"}},
    },
}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI ``requestBody`` for a JSON body of `schema`."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


BULK_BODY: Final[dict[str, Any]] = {
    "type": "string",
    "format": "binary",
    "description": "bulk rows: columns named as the model's inputs, or the features of its one 2-D input in"
    " order (docs/inference.md#bulk-inference-arrow-and-parquet)",
}


def infer_body() -> dict[str, Any]:
    """The ``requestBody`` of the inference routes: OIP JSON, or bulk rows as an Arrow IPC stream
    or a Parquet file (by ``Content-Type``)."""
    content = {
        "application/json": {"schema": INFER_REQUEST},
        ARROW_STREAM_TYPE: {"schema": BULK_BODY},
        PARQUET_TYPE: {"schema": BULK_BODY},
    }
    return {"requestBody": {"required": True, "content": content}}


def infer_responses(*errors: int) -> dict[int | str, dict[str, Any]]:
    """The inference routes' responses: OIP JSON, or an Arrow IPC stream for bulk rows (by ``Accept``)."""
    responses = json_responses(INFER_RESPONSE, *errors)
    arrow = {"schema": {"type": "string", "format": "binary", "description": "a column per output"}}
    responses[200]["content"][ARROW_STREAM_TYPE] = arrow
    return responses


def json_responses(ok: dict[str, Any], *errors: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: 200 with `ok`, and the error body for each status in `errors`."""
    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "OK", "content": {"application/json": {"schema": ok}}}
    }
    for status in errors:
        responses[status] = {"description": "error", "content": {"application/json": {"schema": ERROR}}}
    return responses
