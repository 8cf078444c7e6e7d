"""Open Inference Protocol (V2) REST JSON <-> `InferenceRequest` / `InferenceResponse`.

This is the serving hot path: orjson parses the body, the structure is checked by hand and each
tensor's data goes straight to numpy (see `berth.core.codecs._arrays` for the value rules:
strict integers and booleans, ``"NaN"``/``"Infinity"``/``"-Infinity"`` and ``null`` in float
tensors, BYTES as ``str``, base64 BYTES when the tensor parameter ``content_type`` is
``"base64"``). Tensor data may be flat (row-major) or nested; nested data must have exactly the
declared shape. Optional fields may be absent or ``null``.

Every failure is a `BerthError`: INVALID_JSON (not JSON, or not an object), INVALID_REQUEST
(structure), INVALID_TENSOR (data vs datatype or shape), UNSUPPORTED_DATATYPE.

`request_from_doc` / `response_from_doc` check the structure and tensor metadata once for every
REST codec; a `TensorData` reader fills each tensor (`json_tensor_data` here; the binary tensor
data extension, `berth.core.codecs.oip_binary`, reads some tensors from the bytes after the JSON).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import orjson

from berth.core.bounded import duplicates, preview
from berth.core.codecs._arrays import (
    BASE64,
    CONTENT_TYPE,
    Array,
    array_from_json,
    decode_base64,
    invalid,
    json_data,
)
from berth.core.codecs.limits import DEFAULT_MAX_TENSORS, check_shape_size, check_tensor_count
from berth.core.datatypes import DATATYPES
from berth.core.errors import BerthError, ErrorCode
from berth.core.tensors import InferenceRequest, InferenceResponse, RequestedOutput, Tensor

_DUMP_OPTIONS: Final = orjson.OPT_SERIALIZE_NUMPY
BINARY_DATA_SIZE: Final = "binary_data_size"

TensorData = Callable[
    [str, str, tuple[int, ...], dict[str, Any], dict[str, Any]], tuple[Array, dict[str, Any]]
]
"""Fills one tensor: ``(label, datatype, shape, parameters, the tensor's JSON object)`` -> its data,
already of `shape`, and the parameters to keep on the `Tensor` (wire-only ones removed)."""


def decode_infer_request(body: bytes, *, max_tensors: int = DEFAULT_MAX_TENSORS) -> InferenceRequest:
    """Parse an OIP inference request body (at most `max_tensors` inputs and requested outputs)."""
    return request_from_doc(load_object(body), max_tensors=max_tensors)


def decode_infer_response(body: bytes) -> InferenceResponse:
    """Parse an OIP inference response body (for clients)."""
    return response_from_doc(load_object(body))


def request_from_doc(
    doc: dict[str, Any], read_data: TensorData | None = None, *, max_tensors: int = DEFAULT_MAX_TENSORS
) -> InferenceRequest:
    """An inference request from its parsed JSON object; `read_data` fills tensors (JSON ``data``).
    More than `max_tensors` inputs (or requested outputs) is TOO_MANY_TENSORS, before any is read."""
    inputs = doc.get("inputs")
    if type(inputs) is not list or not inputs:
        raise _bad("'inputs' must be a non-empty list of tensors")
    check_tensor_count(len(inputs), "input", max_tensors)
    if type(doc.get("outputs")) is list:
        check_tensor_count(len(doc["outputs"]), "requested output", max_tensors)
    read = read_data or json_tensor_data
    tensors = [_tensor(item, "input", index, read) for index, item in enumerate(inputs)]
    _check_unique([t.name for t in tensors], "input")
    return InferenceRequest(
        inputs=tensors,
        id=_optional_str(doc, "id"),
        outputs=_requested_outputs(doc.get("outputs")),
        parameters=_parameters(doc.get("parameters"), "request"),
    )


def response_from_doc(doc: dict[str, Any], read_data: TensorData | None = None) -> InferenceResponse:
    """An inference response from its parsed JSON object; `read_data` fills tensors (JSON ``data``)."""
    model_name = doc.get("model_name")
    if type(model_name) is not str:
        raise _bad("'model_name' must be a string")
    outputs = doc.get("outputs")
    if type(outputs) is not list:
        raise _bad("'outputs' must be a list of tensors")
    read = read_data or json_tensor_data
    tensors = [_tensor(item, "output", index, read) for index, item in enumerate(outputs)]
    _check_unique([t.name for t in tensors], "output")
    return InferenceResponse(
        model_name=model_name,
        model_version=_optional_str(doc, "model_version") or "",
        outputs=tensors,
        id=_optional_str(doc, "id"),
        parameters=_parameters(doc.get("parameters"), "response"),
    )


def encode_infer_response(response: InferenceResponse) -> bytes:
    """An OIP inference response body; output data is flat, row-major."""
    return dump(response_doc(response, tensor_json), ErrorCode.INTERNAL)


def encode_infer_request(request: InferenceRequest) -> bytes:
    """An OIP inference request body (for clients); input data is flat, row-major."""
    return dump(request_doc(request, tensor_json), ErrorCode.INVALID_REQUEST)


def response_doc(response: InferenceResponse, entry: Callable[[Tensor], dict[str, Any]]) -> dict[str, Any]:
    """The JSON object of a response; `entry` makes each output's object (`tensor_json` here)."""
    doc: dict[str, Any] = {"model_name": response.model_name, "model_version": response.model_version}
    if response.id is not None:
        doc["id"] = response.id
    if response.parameters:
        doc["parameters"] = response.parameters
    doc["outputs"] = [entry(t) for t in response.outputs]
    return doc


def request_doc(request: InferenceRequest, entry: Callable[[Tensor], dict[str, Any]]) -> dict[str, Any]:
    """The JSON object of a request; `entry` makes each input's object (`tensor_json` here)."""
    doc: dict[str, Any] = {}
    if request.id is not None:
        doc["id"] = request.id
    if request.parameters:
        doc["parameters"] = request.parameters
    doc["inputs"] = [entry(t) for t in request.inputs]
    if request.outputs is not None:
        doc["outputs"] = [
            {"name": o.name, "parameters": o.parameters} if o.parameters else {"name": o.name}
            for o in request.outputs
        ]
    return doc


def tensor_json(tensor: Tensor) -> dict[str, Any]:
    """A tensor as an OIP JSON object; ``data`` may be a numpy array (dump with OPT_SERIALIZE_NUMPY)."""
    check_shape(tensor)
    data, is_base64 = json_data(tensor.data)
    entry: dict[str, Any] = {
        "name": tensor.name,
        "datatype": tensor.datatype,
        "shape": list(tensor.shape),
        "data": data,
    }
    parameters = {**tensor.parameters, CONTENT_TYPE: BASE64} if is_base64 else tensor.parameters
    if parameters:
        entry["parameters"] = parameters
    return entry


def check_shape(tensor: Tensor) -> None:
    """INVALID_TENSOR unless the tensor's data has its declared shape (before encoding it)."""
    if tensor.data.shape != tensor.shape:
        raise invalid(
            f"tensor {tensor.name!r}", f"data has shape {list(tensor.data.shape)}, not {list(tensor.shape)}"
        )


def load_object(body: bytes) -> dict[str, Any]:
    """Parse a JSON body that must be an object (INVALID_JSON otherwise)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BerthError(ErrorCode.INVALID_JSON, f"the body is not valid JSON: {exc}") from None
    if type(doc) is not dict:
        raise BerthError(ErrorCode.INVALID_JSON, "the body must be a JSON object")
    return doc


def dump(doc: Any, code: ErrorCode) -> bytes:
    """orjson-encode a document holding numpy arrays; a value orjson cannot encode is `code`."""
    try:
        return orjson.dumps(doc, option=_DUMP_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise BerthError(code, f"cannot encode as JSON: {exc}") from None


def json_tensor_data(
    label: str, datatype: str, shape: tuple[int, ...], parameters: dict[str, Any], item: dict[str, Any]
) -> tuple[Array, dict[str, Any]]:
    """A tensor's JSON ``data`` (flat or nested) as an array of `shape` (the `TensorData` of JSON bodies)."""
    data = item.get("data")
    if type(data) is not list:
        if BINARY_DATA_SIZE in parameters:
            raise _bad(f"{label}: binary_data_size needs the Inference-Header-Content-Length header")
        raise _bad(f"{label}: 'data' must be a list (flat row-major or nested)")
    array = _shaped(label, array_from_json(label, datatype, data), shape)
    if datatype == "BYTES" and parameters.get(CONTENT_TYPE) == BASE64:
        array = decode_base64(label, array)
    return array, parameters


def _tensor(item: Any, role: str, index: int, read_data: TensorData) -> Tensor:
    if type(item) is not dict:
        raise _bad(f"{role}s[{index}] must be an object")
    name = item.get("name")
    if type(name) is not str or not name:
        raise _bad(f"{role}s[{index}] needs a non-empty string 'name'")
    label = f"{role} {name!r}"
    shape = _shape(item.get("shape"), label)
    datatype = item.get("datatype")
    if type(datatype) is not str:
        raise _bad(f"{label}: 'datatype' must be a string")
    if datatype not in DATATYPES:
        raise BerthError(
            ErrorCode.UNSUPPORTED_DATATYPE,
            f"{label}: unknown datatype {datatype!r}; expected one of {', '.join(sorted(DATATYPES))}",
        )
    array, parameters = read_data(label, datatype, shape, _parameters(item.get("parameters"), label), item)
    return Tensor(name=name, datatype=datatype, shape=array.shape, data=array, parameters=parameters)


def _shape(value: Any, label: str) -> tuple[int, ...]:
    if type(value) is not list or not all(type(d) is int and d >= 0 for d in value):
        raise _bad(f"{label}: 'shape' must be a list of non-negative integers")
    shape = tuple(value)
    check_shape_size(label, shape)
    return shape


def _shaped(label: str, array: Array, shape: tuple[int, ...]) -> Array:
    if array.ndim > 1:
        if array.shape != shape:
            raise invalid(label, f"nested data has shape {list(array.shape)} but 'shape' is {list(shape)}")
        return array
    if array.size != math.prod(shape):
        raise invalid(label, f"{array.size} values do not fill shape {list(shape)}")
    try:
        return array.reshape(shape)
    except ValueError as exc:
        raise invalid(label, f"cannot take shape {list(shape)}: {exc}") from None


def _requested_outputs(value: Any) -> list[RequestedOutput] | None:
    if value is None:
        return None
    if type(value) is not list:
        raise _bad("'outputs' must be a list of {name, parameters?} objects")
    outputs = []
    for index, item in enumerate(value):
        if type(item) is not dict or type(item.get("name")) is not str or not item["name"]:
            raise _bad(f"outputs[{index}] must be an object with a non-empty string 'name'")
        label = f"output {item['name']!r}"
        outputs.append(RequestedOutput(item["name"], _parameters(item.get("parameters"), label)))
    _check_unique([o.name for o in outputs], "requested output")
    return outputs


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise _bad(f"{where}: 'parameters' must be an object")
    return value


def _optional_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and type(value) is not str:
        raise _bad(f"'{key}' must be a string")
    return value


def _check_unique(names: list[str], role: str) -> None:
    if len(set(names)) != len(names):
        raise _bad(f"duplicate {role} names {preview(duplicates(names))}")


def _bad(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_REQUEST, message)
