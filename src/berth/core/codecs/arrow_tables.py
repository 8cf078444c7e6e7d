"""Bulk bodies: Arrow IPC streams and Parquet files <-> tensors, against a version's signature.

A table's columns become the signature's inputs in one of two ways (first that applies):

1. **by name**: the columns are exactly the inputs, by name (any order). A column of numbers,
   booleans or strings is a 1-D input (``[N]``; ``[N, 1]`` when the input is 2-D); a fixed-size
   list column of numbers (``fixed_size_list<float, k>``) is a ``[N, k]`` input;
2. **features of one 2-D input**: the signature has one input of shape ``[-1, n]`` (a scikit-learn
   model's ``input-0``): either a single fixed-size list column of ``n`` numbers (any name), or
   ``n`` columns of numbers whose names are free and whose **order** is the feature order.

Anything else is SIGNATURE_MISMATCH. Values are then checked and cast as any request's are
(`berth.core.codecs.model_io`). Column types taken: booleans, integers, floats (16/32/64),
strings and binaries (BYTES), and fixed-size lists of numbers; others (nested lists, structs,
dictionaries, dates, decimals, nulls) are UNSUPPORTED_DATATYPE, and a null value is INVALID_TENSOR.

Nothing a body declares is believed before it is bounded: rows times width past `max_elements` is
PAYLOAD_TOO_LARGE before a value is converted; more than `MAX_COLUMNS` columns is TOO_MANY_TENSORS,
more than `MAX_CHUNKS` record batches (or row groups) INVALID_REQUEST. An Arrow stream is read
without a copy (its arrays are views of the body), so it may not hold more than the body does:
compressed IPC buffers (LZ4/ZSTD, which could expand without bound) are refused with
UNSUPPORTED_MEDIA_TYPE — compress the HTTP body (``Content-Encoding: gzip``) instead. A Parquet
file's pages are compressed by design: its footer's declared row count and uncompressed sizes are
checked against the limits first, and string columns are read dictionary-encoded and their expanded
size summed before they are decoded (what a single page declares is not checked: a page may still
inflate to what it declares, once). Every other failure to read a body is INVALID_REQUEST.

Answers (`encode_arrow_stream`) are one record batch: a column per output, named as the output;
``[N]`` outputs are plain columns, ``[N, k...]`` ones fixed-size lists of the flattened trailing
dimensions, with the OIP datatype and shape in the field's metadata (``berth.datatype``,
``berth.shape``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from berth.core.bounded import duplicates, preview
from berth.core.codecs._arrays import Array
from berth.core.errors import BerthError, ErrorCode
from berth.core.numpy_types import oip_datatype
from berth.core.signature import BATCH, Signature, TensorSpec, describe_signature_mismatch
from berth.core.tensors import Tensor

ARROW_STREAM_TYPE: Final = "application/vnd.apache.arrow.stream"
"""The Arrow IPC streaming format's media type (IANA registered)."""
PARQUET_TYPE: Final = "application/vnd.apache.parquet"
"""Parquet's media type (IANA registered)."""
DATATYPE_KEY: Final = b"berth.datatype"
SHAPE_KEY: Final = b"berth.shape"

_NUMBERS: Final = (pa.types.is_boolean, pa.types.is_integer, pa.types.is_floating)
_TEXTS: Final = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)
MAX_COLUMNS: Final = 10_000
"""Most columns a body may have (TOO_MANY_TENSORS past it): each costs Python work before any check."""
MAX_CHUNKS: Final = 10_000
"""Most record batches of a stream, or row groups of a Parquet file (INVALID_REQUEST past it): a
body of a million one-row batches would cost seconds of per-batch work."""
_ARROW_ERRORS: Final = (pa.ArrowException, OSError, ValueError, TypeError, IndexError, struct.error)


def decode_arrow_stream(body: bytes, signature: Signature, *, max_elements: int) -> list[Tensor]:
    """The inputs an Arrow IPC stream holds (see the module doc)."""
    return table_tensors(read_arrow_stream(body), signature, max_elements=max_elements)


def decode_parquet(body: bytes, signature: Signature, *, max_elements: int, max_bytes: int) -> list[Tensor]:
    """The inputs a Parquet file holds (see the module doc); `max_bytes` bounds what its footer
    declares uncompressed and what its string columns expand to."""
    return table_tensors(
        read_parquet(body, max_elements=max_elements, max_bytes=max_bytes),
        signature,
        max_elements=max_elements,
    )


def read_arrow_stream(body: bytes) -> pa.Table:
    """An Arrow IPC stream as a table whose arrays are views of `body` (uncompressed only)."""
    try:
        reader = pa.ipc.MessageReader.open_stream(pa.py_buffer(body))
        first = reader.read_next_message()
        if first.type != "schema":
            raise _unreadable("an Arrow IPC stream starts with its schema")
        schema = pa.ipc.read_schema(first)
        _check_schema(schema)
        batches: list[pa.RecordBatch] = []
        for message in reader:
            if len(batches) == MAX_CHUNKS:
                raise BerthError(
                    ErrorCode.INVALID_REQUEST,
                    f"the stream has more than {MAX_CHUNKS} record batches; send fewer, larger ones",
                )
            if message.type != "record batch":
                raise _unreadable(f"unexpected {message.type} message (dictionaries are not accepted)")
            if _compressed(message.metadata.to_pybytes()):
                raise BerthError(
                    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                    "compressed Arrow IPC buffers are not accepted: send them uncompressed (the HTTP"
                    " body may be gzip-encoded instead)",
                )
            batch = pa.ipc.read_record_batch(message, schema)
            batch.validate(full=True)
            batches.append(batch)
        return pa.Table.from_batches(batches, schema)
    except BerthError:
        raise
    except StopIteration:
        raise _unreadable("the body is empty") from None
    except _ARROW_ERRORS as exc:
        raise _unreadable(_first_line(exc)) from None


def read_parquet(body: bytes, *, max_elements: int, max_bytes: int) -> pa.Table:
    """A Parquet file as a table, after its footer's declarations are checked (module doc)."""
    try:
        meta = pq.read_metadata(pa.BufferReader(body))
        schema = meta.schema.to_arrow_schema()
        _check_schema(schema)
        _check_elements(meta.num_rows, max(1, meta.num_columns), max_elements)
        if meta.num_row_groups > MAX_CHUNKS:
            raise BerthError(
                ErrorCode.INVALID_REQUEST,
                f"the Parquet file has {meta.num_row_groups} row groups; at most {MAX_CHUNKS} are accepted",
            )
        # row groups' totals, never `row_group(g).column(c)`: pyarrow 26 aborts the process on a
        # column chunk whose metadata is inconsistent (a C++ exception it does not convert)
        declared = sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
        if declared > max_bytes:
            raise _too_large(f"the Parquet file declares {declared} bytes uncompressed", max_bytes)
        texts = [f.name for f in schema if any(test(f.type) for test in _TEXTS)]
        file = pq.ParquetFile(pa.BufferReader(body), read_dictionary=texts or None)
        table = file.read(use_threads=False)
        if texts:
            table = _expand_texts(table, texts, max_bytes)
        for batch in table.to_batches():
            batch.validate(full=True)
        return table
    except BerthError:
        raise
    except _ARROW_ERRORS as exc:
        raise _unreadable(_first_line(exc), kind="a Parquet file") from None


def table_tensors(table: pa.Table, signature: Signature, *, max_elements: int) -> list[Tensor]:
    """The signature's inputs from a table's columns (see the module doc)."""
    names = table.column_names
    repeated = duplicates(names)
    if repeated:
        raise BerthError(ErrorCode.INVALID_REQUEST, f"duplicate columns {preview(repeated)}")
    _check_elements(table.num_rows, sum(_width(f.type) for f in table.schema), max_elements)
    specs = signature.inputs
    if len(names) == len(specs) and set(names) == {s.name for s in specs}:
        return [_by_name(table.column(s.name), s) for s in specs]
    if len(specs) == 1 and len(specs[0].shape) == 2:
        return [_features(table, specs[0])]
    raise BerthError(ErrorCode.SIGNATURE_MISMATCH, describe_signature_mismatch(specs, names))


def encode_arrow_stream(outputs: Sequence[Tensor]) -> bytes:
    """Output tensors as an Arrow IPC stream of one record batch (see the module doc)."""
    arrays, fields = [], []
    for tensor in outputs:
        data = tensor.data.reshape(1) if tensor.data.ndim == 0 else tensor.data
        metadata = {DATATYPE_KEY: tensor.datatype.encode(), SHAPE_KEY: orjson.dumps(list(data.shape))}
        array = _arrow_array(tensor.name, data)
        arrays.append(array)
        fields.append(pa.field(tensor.name, array.type, nullable=False, metadata=metadata))
    try:
        batch = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
    except pa.ArrowInvalid:
        sizes = {t.name: t.shape[:1] for t in outputs}
        raise BerthError(
            ErrorCode.INVALID_TENSOR,
            f"outputs disagree on the number of rows {sizes}: ask for JSON (Accept: application/json)",
        ) from None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    written: bytes = sink.getvalue().to_pybytes()
    return written


def read_arrow_answer(body: bytes) -> dict[str, Array]:
    """An answer of `encode_arrow_stream` back as arrays by output name, in their OIP shapes
    (for clients and tests)."""
    table = pa.ipc.open_stream(body).read_all()
    out: dict[str, Array] = {}
    for field in table.schema:
        column = table.column(field.name).combine_chunks()
        if pa.types.is_fixed_size_list(field.type):
            values = column.flatten().to_numpy(zero_copy_only=False)
        else:
            values = column.to_numpy(zero_copy_only=False)
        shape = orjson.loads(field.metadata[SHAPE_KEY]) if field.metadata else list(values.shape)
        out[field.name] = values.reshape(shape)
    return out


# -- reading -------------------------------------------------------------------------------------
def _check_schema(schema: pa.Schema) -> None:
    """Every column a type this codec takes; names that are not UTF-8 fail here (ValueError)."""
    if len(schema) > MAX_COLUMNS:
        raise BerthError(
            ErrorCode.TOO_MANY_TENSORS,
            f"the body has {len(schema)} columns; at most {MAX_COLUMNS} are accepted",
            limit=MAX_COLUMNS,
        )
    for field in schema:
        name, kind = field.name, field.type
        if pa.types.is_fixed_size_list(kind):
            if kind.list_size < 1 or not any(test(kind.value_type) for test in _NUMBERS):
                raise _unsupported(name, kind)
        elif not any(test(kind) for test in (*_NUMBERS, *_TEXTS)):
            raise _unsupported(name, kind)


def _compressed(metadata: bytes) -> bool:
    """Whether a record batch message names a body compression. `metadata` is the message's
    flatbuffer (``Message``), already checked by Arrow's verifier: its field 2 (``header``) is the
    ``RecordBatch`` table, whose field 3 is ``compression`` (absent when uncompressed)."""
    root = struct.unpack_from("<I", metadata, 0)[0]
    header = _field(metadata, root, 2)
    if header is None:
        return False
    batch = header + struct.unpack_from("<I", metadata, header)[0]
    return _field(metadata, batch, 3) is not None


def _field(buffer: bytes, table: int, index: int) -> int | None:
    """Where field `index` of the flatbuffer table at `table` is (None: absent)."""
    vtable = table - struct.unpack_from("<i", buffer, table)[0]
    size = struct.unpack_from("<H", buffer, vtable)[0]
    if 4 + 2 * index >= size:
        return None
    offset = struct.unpack_from("<H", buffer, vtable + 4 + 2 * index)[0]
    return table + offset if offset else None


def _expand_texts(table: pa.Table, names: list[str], max_bytes: int) -> pa.Table:
    """String columns read dictionary-encoded, decoded once their expanded size is known to fit."""
    for name in names:
        column = table.column(name)
        if not pa.types.is_dictionary(column.type):
            continue
        size = 0
        for chunk in column.chunks:
            lengths = pc.binary_length(chunk.dictionary).take(chunk.indices)
            size += pc.sum(lengths).as_py() or 0
        if size > max_bytes:
            raise _too_large(f"column {name!r} expands to {size} bytes", max_bytes)
        decoded = pa.chunked_array([c.dictionary_decode() for c in column.chunks], column.type.value_type)
        table = table.set_column(table.schema.get_field_index(name), name, decoded)
    return table


def _check_elements(rows: int, width: int, limit: int) -> None:
    elements = rows * width
    if elements > limit:
        raise BerthError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{rows} rows of {width} values, more than the limit of {limit} input elements",
            limit=limit,
        )


def _width(kind: pa.DataType) -> int:
    return int(kind.list_size) if pa.types.is_fixed_size_list(kind) else 1


def _by_name(column: pa.ChunkedArray, spec: TensorSpec) -> Tensor:
    array = _column_array(spec.name, column)
    if array.ndim == 1 and len(spec.shape) == 2 and spec.shape[1] in (1, BATCH):
        array = array.reshape(-1, 1)
    return _tensor(spec.name, array)


def _features(table: pa.Table, spec: TensorSpec) -> Tensor:
    """The one 2-D input from a fixed-size list column, or from its features' columns in order."""
    width = spec.shape[1]
    schema = table.schema
    if table.num_columns == 1 and pa.types.is_fixed_size_list(schema.field(0).type):
        array = _column_array(spec.name, table.column(0))
    else:
        if width not in (BATCH, table.num_columns) or table.num_columns == 0:
            raise BerthError(
                ErrorCode.SIGNATURE_MISMATCH,
                f"{spec.name!r} takes {width} features: send {width} columns of numbers in feature order,"
                f" or one fixed-size list column of {width}; got {table.num_columns} columns",
                input=spec.name,
            )
        texts = [f.name for f in schema if not any(test(f.type) for test in _NUMBERS)]
        if texts:
            raise BerthError(
                ErrorCode.SIGNATURE_MISMATCH,
                f"columns {preview(texts)} are not numbers; {spec.name!r} takes {width} numeric features",
                input=spec.name,
            )
        columns = [_column_array(f.name, table.column(i)) for i, f in enumerate(schema)]
        array = np.empty((table.num_rows, len(columns)), np.result_type(*columns))
        for j, values in enumerate(columns):
            array[:, j] = values
    return _tensor(spec.name, array)


def _column_array(name: str, column: pa.ChunkedArray) -> Array:
    if column.null_count:
        raise BerthError(
            ErrorCode.INVALID_TENSOR, f"column {name!r} holds {column.null_count} nulls", input=name
        )
    if pa.types.is_fixed_size_list(column.type):
        width = column.type.list_size
        flat = pa.chunked_array([chunk.flatten() for chunk in column.chunks], column.type.value_type)
        if flat.null_count:
            raise BerthError(ErrorCode.INVALID_TENSOR, f"column {name!r} holds null values", input=name)
        values: Array = flat.to_numpy()
        return values.reshape(len(column), width)
    if any(test(column.type) for test in _TEXTS):
        texts: Array = column.to_numpy(zero_copy_only=False)
        return texts
    numbers: Array = column.to_numpy()
    return numbers


def _tensor(name: str, array: Array) -> Tensor:
    return Tensor(name, _datatype(array), array.shape, array)


def _datatype(array: Array) -> str:
    return oip_datatype(array.dtype)


# -- writing -------------------------------------------------------------------------------------
def _arrow_array(name: str, data: Array) -> pa.Array:
    try:
        if data.ndim == 1:
            return _flat_array(data)
        width = math.prod(data.shape[1:])
        flat = _flat_array(np.ascontiguousarray(data).reshape(-1))
        return pa.FixedSizeListArray.from_arrays(flat, width)
    except (pa.ArrowException, ValueError, TypeError):
        raise BerthError(
            ErrorCode.PREDICTION_FAILED,
            f"output {name!r} cannot be written as Arrow: ask for JSON (Accept: application/json)",
            output=name,
        ) from None


def _flat_array(data: Array) -> pa.Array:
    if data.dtype.kind in "OUST" and any(isinstance(v, bytes) for v in data):
        return pa.array([v if isinstance(v, bytes) else str(v).encode() for v in data], pa.binary())
    return pa.array(data)


# -- errors --------------------------------------------------------------------------------------
def _unreadable(problem: str, *, kind: str = "an Arrow IPC stream") -> BerthError:
    return BerthError(ErrorCode.INVALID_REQUEST, f"the body is not {kind}: {problem}")


def _unsupported(name: str, kind: Any) -> BerthError:
    return BerthError(
        ErrorCode.UNSUPPORTED_DATATYPE,
        f"column {name!r} is {kind}; columns are booleans, integers, floats, strings, binaries or"
        " fixed-size lists of numbers",
        input=name,
    )


def _too_large(problem: str, limit: int) -> BerthError:
    return BerthError(ErrorCode.PAYLOAD_TOO_LARGE, f"{problem}, more than the limit of {limit}", limit=limit)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
