"""The binary tensor data extension of OIP REST (Triton's and KServe's): a JSON header, then raw tensors.

A body is ``JSON header + tensor bytes``; the ``Inference-Header-Content-Length`` HTTP header says
how long the JSON is. A tensor sent as binary has the parameter ``binary_data_size`` (its byte count)
and no ``data``; its bytes follow the header in the order of the tensors, without padding. Tensors
without it carry JSON ``data`` as usual, so one body may mix both. The JSON header is checked by
the very rules of `berth.core.codecs.oip_json` (one path for structure and metadata).

Bytes of a tensor: little-endian, row-major, the datatype's native size (BOOL: one byte, 0 or 1).
A BYTES element is a 4-byte little-endian length, then that many bytes.

BYTES inputs and text: the wire carries bytes. A BYTES tensor whose every element is valid UTF-8 is
decoded to ``str`` (what a JSON request gives, so a text model sees the same values either way);
when any element is not UTF-8, the whole tensor stays ``bytes`` (as JSON sends it base64). On the
way out, ``str`` elements are encoded as UTF-8.

Numeric arrays are read with ``np.frombuffer`` (no per-element work) and copied once when the body
is immutable, so models always receive writable arrays that own their memory.

Outputs come back binary when asked: the output parameter ``binary_data`` (true/false) decides for
that output, else the request parameter ``binary_data_output`` (see `binary_outputs`).

Errors are `BerthError`: INVALID_REQUEST (header length, ``binary_data_size`` vs the bytes that
follow), INVALID_TENSOR (bytes vs datatype and shape, truncated BYTES elements), and whatever the
JSON rules raise (INVALID_JSON, UNSUPPORTED_DATATYPE, ...).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Set
from typing import Any, Final, Literal

import numpy as np

from berth.core.codecs._arrays import Array, invalid
from berth.core.codecs.limits import DEFAULT_MAX_TENSORS
from berth.core.codecs.oip_json import (
    BINARY_DATA_SIZE,
    check_shape,
    dump,
    json_tensor_data,
    load_object,
    request_doc,
    request_from_doc,
    response_doc,
    response_from_doc,
    tensor_json,
)
from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import numpy_dtype
from berth.core.tensors import InferenceRequest, InferenceResponse, Tensor

HEADER_LENGTH: Final = "Inference-Header-Content-Length"
"""The HTTP header that carries the JSON header's length in bytes."""
ALL: Final = "all"
"""`binary_outputs`: every output of the response is binary."""

BinaryOutputs = Set[str] | Literal["all"]
"""Which outputs to send as binary: their names, or `ALL`."""

_LENGTH: Final = struct.Struct("<I")


def parse_header_length(value: str) -> int:
    """The value of the ``Inference-Header-Content-Length`` header as an int (INVALID_REQUEST if not one)."""
    text = value.strip()
    if not text.isdecimal() or not text.isascii() or len(text) > 19:  # 19 digits: any int64
        raise _bad(f"{HEADER_LENGTH} must be a non-negative integer, got {value[:20]!r}")
    return int(text)


def decode_binary_infer_request(
    body: bytes, header_length: int, *, max_tensors: int = DEFAULT_MAX_TENSORS
) -> InferenceRequest:
    """Parse a request body of `header_length` bytes of JSON followed by binary tensor data."""
    doc, parts = _split(body, header_length)
    request = request_from_doc(doc, parts.read, max_tensors=max_tensors)
    parts.finish()
    return request


def decode_binary_infer_response(body: bytes, header_length: int) -> InferenceResponse:
    """Parse a response body with binary outputs (for clients)."""
    doc, parts = _split(body, header_length)
    response = response_from_doc(doc, parts.read)
    parts.finish()
    return response


def encode_binary_infer_response(response: InferenceResponse, binary: BinaryOutputs) -> tuple[bytes, int]:
    """The response body with the `binary` outputs as raw bytes (the others as JSON ``data``), and the
    length of its JSON header (for the ``Inference-Header-Content-Length`` header)."""
    parts: list[bytes] = []
    entry = _binary_entry(parts, None if binary == ALL else binary)
    return _join(dump(response_doc(response, entry), ErrorCode.INTERNAL), parts)


def encode_binary_infer_request(request: InferenceRequest) -> tuple[bytes, int]:
    """A request body with every input as raw bytes, and its JSON header's length (for clients)."""
    parts: list[bytes] = []
    doc = request_doc(request, _binary_entry(parts, None))
    return _join(dump(doc, ErrorCode.INVALID_REQUEST), parts)


def binary_outputs(request: InferenceRequest) -> BinaryOutputs:
    """Which outputs the caller wants as binary: an output's ``binary_data`` parameter, else the request's
    ``binary_data_output`` (`ALL` when no outputs are named). Non-boolean values are INVALID_REQUEST."""
    default = _flag(request.parameters, "binary_data_output", "request")
    if request.outputs is None:
        return ALL if default else frozenset()
    names = set()
    for output in request.outputs:
        flag = _flag(output.parameters, "binary_data", f"output {output.name!r}")
        if default if flag is None else flag:
            names.add(output.name)
    return names


def array_from_binary(label: str, datatype: str, shape: tuple[int, ...], chunk: memoryview) -> Array:
    """The array of `shape` that `chunk` holds (see the module doc for the layout)."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return _text_or_bytes(_bytes_elements(label, chunk, count)).reshape(shape)
    dtype = numpy_dtype(datatype)
    if len(chunk) != count * dtype.itemsize:
        raise invalid(
            label,
            f"{len(chunk)} bytes of binary data, but shape {list(shape)} of {datatype} takes"
            f" {count * dtype.itemsize}",
        )
    if count == 0:
        return np.empty(shape, dtype)
    array = np.frombuffer(chunk, dtype=dtype.newbyteorder("<"))
    array = array.astype(dtype) if not array.dtype.isnative or not array.flags.writeable else array
    if datatype == "BOOL" and array.view(np.uint8).max() > 1:
        raise invalid(label, "BOOL binary data must be bytes 0 or 1")
    return array.reshape(shape)


def binary_bytes(tensor: Tensor) -> bytes:
    """A tensor's data as binary tensor data (see the module doc for the layout)."""
    check_shape(tensor)
    if tensor.datatype == "BYTES":
        return _bytes_payload(tensor)
    dtype = numpy_dtype(tensor.datatype).newbyteorder("<")
    return np.ascontiguousarray(tensor.data, dtype=dtype).tobytes()


class _BinaryParts:
    """Hands out the bytes after the JSON header to binary tensors, in order (a `TensorData`)."""

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._offset = 0

    def read(
        self,
        label: str,
        datatype: str,
        shape: tuple[int, ...],
        parameters: dict[str, Any],
        item: dict[str, Any],
    ) -> tuple[Array, dict[str, Any]]:
        size = parameters.get(BINARY_DATA_SIZE)
        if size is None:
            return json_tensor_data(label, datatype, shape, parameters, item)
        if type(size) is not int or size < 0:
            raise _bad(f"{label}: binary_data_size must be a non-negative integer, got {size!r:.40}")
        if item.get("data") is not None:
            raise _bad(f"{label}: has both 'data' and binary_data_size")
        left = len(self._data) - self._offset
        if size > left:
            raise _bad(f"{label}: binary_data_size is {size} but only {left} bytes of binary data are left")
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        kept = {k: v for k, v in parameters.items() if k != BINARY_DATA_SIZE}
        return array_from_binary(label, datatype, shape, chunk), kept

    def finish(self) -> None:
        left = len(self._data) - self._offset
        if left:
            raise _bad(
                f"{left} bytes after the JSON header belong to no tensor (the binary_data_size values"
                f" add up to {self._offset})"
            )


def _split(body: bytes, header_length: int) -> tuple[dict[str, Any], _BinaryParts]:
    if header_length < 0 or header_length > len(body):
        raise _bad(f"{HEADER_LENGTH} is {header_length}, but the body has {len(body)} bytes")
    return load_object(body[:header_length]), _BinaryParts(memoryview(body)[header_length:])


def _binary_entry(parts: list[bytes], names: Set[str] | None) -> Callable[[Tensor], dict[str, Any]]:
    """A tensor -> JSON entry function that sends the `names` tensors (all when None) as binary."""

    def entry(tensor: Tensor) -> dict[str, Any]:
        if names is not None and tensor.name not in names:
            return tensor_json(tensor)
        raw = binary_bytes(tensor)
        parts.append(raw)
        return {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
            "parameters": {**tensor.parameters, BINARY_DATA_SIZE: len(raw)},
        }

    return entry


def _join(header: bytes, parts: list[bytes]) -> tuple[bytes, int]:
    return b"".join([header, *parts]), len(header)


def _bytes_elements(label: str, chunk: memoryview, count: int) -> list[bytes]:
    end = len(chunk)
    if count * _LENGTH.size > end:
        raise invalid(label, f"{end} bytes cannot hold {count} BYTES elements (4-byte length each)")
    data = chunk.tobytes()
    items: list[bytes] = []
    position = 0
    unpack = _LENGTH.unpack_from
    for index in range(count):
        if position + _LENGTH.size > end:
            raise invalid(label, f"BYTES element {index} is truncated: no room for its 4-byte length")
        (size,) = unpack(data, position)
        position += _LENGTH.size
        if position + size > end:
            raise invalid(
                label, f"BYTES element {index} is truncated: {size} bytes declared, {end - position} left"
            )
        items.append(data[position : position + size])
        position += size
    if position != end:
        raise invalid(label, f"{end - position} bytes follow the last of the {count} BYTES elements")
    return items


def _text_or_bytes(items: list[bytes]) -> Array:
    values: list[Any]
    try:
        values = [item.decode("utf-8") for item in items]
    except UnicodeDecodeError:
        values = items
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _bytes_payload(tensor: Tensor) -> bytes:
    pack = _LENGTH.pack
    chunks: list[bytes] = []
    for item in tensor.data.reshape(-1).tolist():
        if type(item) is str:
            raw = item.encode("utf-8")
        elif isinstance(item, bytes):
            raw = item
        else:
            raise invalid(
                f"tensor {tensor.name!r}", f"a BYTES tensor holds a {type(item).__name__}, not str or bytes"
            )
        chunks.append(pack(len(raw)))
        chunks.append(raw)
    return b"".join(chunks)


def _flag(parameters: dict[str, Any], key: str, where: str) -> bool | None:
    value = parameters.get(key)
    if value is not None and type(value) is not bool:
        raise _bad(f"{where}: parameter {key!r} must be true or false, got {value!r:.40}")
    return value


def _bad(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_REQUEST, message)
