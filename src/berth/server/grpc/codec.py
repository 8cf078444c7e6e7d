"""OIP V2 gRPC messages <-> berth's transport-neutral `InferenceRequest` / `InferenceResponse`.

Tensor data comes either raw or typed, never both in one request:

- ``raw_input_contents`` (what tritonclient sends by default): one ``bytes`` per input, in the
  order of ``inputs``; row-major, little-endian; BOOL is one byte (0 or 1); a BYTES element is its
  length (4 bytes, little-endian) then its bytes. Numeric arrays are read-only views of the
  message's bytes (no copy);
- ``contents``: the typed field of the tensor's datatype (``fp32_contents`` for FP32,
  ``int_contents`` for INT8/16/32, ...; FP16 has none and must come raw).

BYTES elements become ``str`` when every element of the tensor is UTF-8 (as the JSON codec gives
them), else ``bytes``. Responses always use ``raw_output_contents`` (numpy's own bytes, no loop per
element except for BYTES). Parameters (``InferParameter``) map to bool, int, str and float.

Every failure is a `BerthError`: INVALID_REQUEST (structure), INVALID_TENSOR (data vs datatype or
shape), UNSUPPORTED_DATATYPE.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Final

import numpy as np
import orjson

from berth.core.bounded import duplicates, preview
from berth.core.codecs.limits import DEFAULT_MAX_TENSORS, check_shape_size, check_tensor_count
from berth.core.codecs.oip_binary import array_from_binary, binary_bytes
from berth.core.datatypes import DATATYPES
from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import numpy_dtype
from berth.core.tensors import InferenceRequest, InferenceResponse, RequestedOutput, Tensor
from berth.server.grpc.proto import berth_inference_pb2 as pb

Array = np.ndarray[Any, Any]

#: OIP datatype -> the ``InferTensorContents`` field that carries it (FP16 has none).
CONTENTS_FIELD: Final[dict[str, str]] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_FIELD_DTYPE: Final[dict[str, np.dtype[Any]]] = {
    "bool_contents": np.dtype(np.bool_),
    "int_contents": np.dtype(np.int32),
    "int64_contents": np.dtype(np.int64),
    "uint_contents": np.dtype(np.uint32),
    "uint64_contents": np.dtype(np.uint64),
    "fp32_contents": np.dtype(np.float32),
    "fp64_contents": np.dtype(np.float64),
}
_LENGTH: Final = struct.Struct("<I")
_INT64_RANGE: Final = range(-(2**63), 2**63)
_UINT64_RANGE: Final = range(2**64)

TensorMessage = pb.ModelInferRequest.InferInputTensor | pb.ModelInferResponse.InferOutputTensor


# -- server side ------------------------------------------------------------------------------------
def decode_infer_request(
    message: pb.ModelInferRequest, *, max_tensors: int = DEFAULT_MAX_TENSORS
) -> InferenceRequest:
    """A berth request from a ``ModelInferRequest`` (raw or typed contents); more than
    `max_tensors` inputs (or requested outputs) is TOO_MANY_TENSORS, before any is read."""
    if not message.inputs:
        raise _bad("the request has no inputs")
    check_tensor_count(len(message.inputs), "input", max_tensors)
    check_tensor_count(len(message.outputs), "requested output", max_tensors)
    tensors = _tensors(message.inputs, message.raw_input_contents, "input")
    outputs = [
        RequestedOutput(o.name, decode_parameters(o.parameters, f"requested output {o.name!r}"))
        for o in message.outputs
    ]
    if any(not o.name for o in outputs):
        raise _bad("every requested output needs a name")
    _check_unique([o.name for o in outputs], "requested output")
    return InferenceRequest(
        inputs=tensors,
        id=message.id or None,
        outputs=outputs or None,
        parameters=decode_parameters(message.parameters, "request"),
    )


def encode_infer_response(response: InferenceResponse) -> pb.ModelInferResponse:
    """A ``ModelInferResponse`` carrying every output in ``raw_output_contents``."""
    message = pb.ModelInferResponse(
        model_name=response.model_name, model_version=response.model_version, id=response.id or ""
    )
    encode_parameters(response.parameters, message.parameters)
    for tensor in response.outputs:
        entry = message.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        encode_parameters(tensor.parameters, entry.parameters)
        message.raw_output_contents.append(raw_bytes(tensor, "output"))
    return message


# -- client side (the bench, tests and clients) ----------------------------------------------------
def encode_infer_request(
    request: InferenceRequest, model_name: str, model_version: str = ""
) -> pb.ModelInferRequest:
    """A ``ModelInferRequest`` carrying every input in ``raw_input_contents``."""
    message = pb.ModelInferRequest(model_name=model_name, model_version=model_version, id=request.id or "")
    encode_parameters(request.parameters, message.parameters)
    for tensor in request.inputs:
        entry = message.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        encode_parameters(tensor.parameters, entry.parameters)
        message.raw_input_contents.append(raw_bytes(tensor, "input"))
    for output in request.outputs or ():
        encode_parameters(output.parameters, message.outputs.add(name=output.name).parameters)
    return message


def decode_infer_response(message: pb.ModelInferResponse) -> InferenceResponse:
    """A berth response from a ``ModelInferResponse`` (raw or typed contents)."""
    return InferenceResponse(
        model_name=message.model_name,
        model_version=message.model_version,
        outputs=_tensors(message.outputs, message.raw_output_contents, "output"),
        id=message.id or None,
        parameters=decode_parameters(message.parameters, "response"),
    )


# -- tensors ---------------------------------------------------------------------------------------
def _tensors(items: Sequence[TensorMessage], raw: Sequence[bytes], role: str) -> list[Tensor]:
    if raw and len(raw) != len(items):
        raise _bad(
            f"raw_{role}_contents has {len(raw)} entries for {len(items)} {role}s;"
            f" give one per {role}, in the order of the {role}s"
        )
    tensors = [_tensor(item, raw[index] if raw else None, role) for index, item in enumerate(items)]
    _check_unique([t.name for t in tensors], role)
    return tensors


def _tensor(item: TensorMessage, raw: bytes | None, role: str) -> Tensor:
    if not item.name:
        raise _bad(f"every {role} needs a name")
    label = f"{role} {item.name!r}"
    datatype = item.datatype
    if datatype not in DATATYPES:
        raise BerthError(
            ErrorCode.UNSUPPORTED_DATATYPE,
            f"{label}: unknown datatype {datatype!r}; expected one of {', '.join(sorted(DATATYPES))}",
        )
    shape = tuple(item.shape)
    if any(d < 0 for d in shape):
        raise _bad(f"{label}: shape {preview(shape)} has a negative dimension")
    check_shape_size(label, shape)
    typed = item.HasField("contents") and bool(item.contents.ListFields())
    if raw is None:
        array = array_from_contents(label, datatype, item.contents, shape)
    elif typed:
        raise _bad(f"{label}: data both in contents and in raw_{role}_contents; send it one way")
    else:
        array = array_from_raw(label, datatype, raw, shape)
    parameters = decode_parameters(item.parameters, label)
    return Tensor(item.name, datatype, shape, array.reshape(shape), parameters)


def array_from_raw(label: str, datatype: str, raw: bytes, shape: tuple[int, ...]) -> Array:
    """The array raw contents hold: the layout of REST's binary tensor data, read by the same code."""
    return array_from_binary(label, datatype, shape, memoryview(raw)).reshape(-1)


def array_from_contents(
    label: str, datatype: str, contents: pb.InferTensorContents, shape: tuple[int, ...]
) -> Array:
    """The flat array of typed contents; only the field of `datatype` may hold values."""
    count = math.prod(shape)
    field = CONTENTS_FIELD.get(datatype)
    stray = [f.name for f, _ in contents.ListFields() if f.name != field]
    if stray:
        where = f"contents.{field}" if field else "raw contents (FP16 has no typed field)"
        raise _invalid(label, f"{datatype} data goes in {where}, not in contents.{stray[0]}")
    if field is None or not count:
        if count:
            raise _invalid(label, f"no data for shape {list(shape)}")
        return np.empty(0, numpy_dtype(datatype))
    values = getattr(contents, field)
    if len(values) != count:
        raise _invalid(
            label, f"contents.{field} holds {len(values)} values; shape {list(shape)} takes {count}"
        )
    if datatype == "BYTES":
        return _bytes_array(list(values))
    wire = _FIELD_DTYPE[field]
    array = np.fromiter(values, dtype=wire, count=count)
    target: np.dtype[Any] = numpy_dtype(datatype)
    if target == wire:
        return array
    info = np.iinfo(target)
    if int(array.min()) < info.min or int(array.max()) > info.max:
        raise _invalid(label, f"{datatype} values must be in [{info.min}, {info.max}]")
    return array.astype(target)


def _bytes_array(items: list[bytes]) -> Array:
    array = np.empty(len(items), dtype=object)
    try:
        array[:] = [item.decode("utf-8") for item in items]
    except UnicodeDecodeError:
        array[:] = items
    return array


def raw_bytes(tensor: Tensor, role: str) -> bytes:
    """A tensor's data as raw contents: little-endian, row-major; BYTES length-prefixed (the layout
    of REST's binary tensor data, written by the same code)."""
    del role  # the binary codec names the tensor in its errors
    return binary_bytes(tensor)


# -- parameters ------------------------------------------------------------------------------------
def decode_parameters(parameters: Mapping[str, pb.InferParameter], where: str) -> dict[str, Any]:
    """``InferParameter`` values as Python bool, int, str or float."""
    decoded: dict[str, Any] = {}
    for key, value in parameters.items():
        choice = value.WhichOneof("parameter_choice")
        if choice is None:
            raise _bad(f"{where}: parameter {key!r} has no value")
        decoded[key] = getattr(value, choice)
    return decoded


def encode_parameters(values: Mapping[str, Any], target: MutableMapping[str, pb.InferParameter]) -> None:
    """Python values as ``InferParameter``s; values other than bool/int/float/str go as JSON text."""
    for key, value in values.items():
        if isinstance(value, np.generic):
            value = value.item()
        parameter = target[key]
        if isinstance(value, bool):
            parameter.bool_param = value
        elif isinstance(value, int) and value in _INT64_RANGE:
            parameter.int64_param = value
        elif isinstance(value, int) and value in _UINT64_RANGE:
            parameter.uint64_param = value
        elif isinstance(value, int):
            parameter.string_param = str(value)
        elif isinstance(value, float):
            parameter.double_param = value
        elif isinstance(value, str):
            parameter.string_param = value
        else:
            parameter.string_param = orjson.dumps(value, default=str).decode()


def _check_unique(names: list[str], role: str) -> None:
    if len(set(names)) != len(names):
        raise _bad(f"duplicate {role} names {preview(duplicates(names))}")


def _bad(message: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_REQUEST, message)


def _invalid(label: str, problem: str) -> BerthError:
    return BerthError(ErrorCode.INVALID_TENSOR, f"{label}: {problem}")
