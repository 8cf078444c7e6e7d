"""Bulk request bodies for tests: an Arrow IPC stream or a Parquet file of a table."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def arrow_body(table: pa.Table, compression: str | None = None) -> bytes:
    """`table` as an Arrow IPC stream (buffers compressed with `compression`, when given)."""
    sink = io.BytesIO()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue()


def parquet_body(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def feature_columns(x: np.ndarray[Any, Any]) -> pa.Table:
    """A `[N, n]` array as n columns ``f0``…``f{n-1}``."""
    return pa.table({f"f{j}": x[:, j] for j in range(x.shape[1])})
