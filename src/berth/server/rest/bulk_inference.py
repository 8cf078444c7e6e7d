"""Bulk inference: an Arrow IPC stream or a Parquet file in, an Arrow IPC stream out, on ``/infer``.

Picked by the request's ``Content-Type`` (``application/vnd.apache.arrow.stream``,
``application/vnd.apache.parquet``) on the same routes as OIP JSON, so everything the JSON path
does happens here too, in the same order and by the same code: the caller's permission to predict
(checked before `RestInference.answer` by the fast path or the documented route), unknown names
refused before the body is read, the body size limit, then the data plane (the signature checks,
the prediction, its record and id, the metrics' labels). Only decoding and encoding differ: the
columns are mapped onto the signature as `berth.core.codecs.arrow_tables` describes.

The answer's type is negotiated with ``Accept``: an Arrow or Parquet body is answered with an
Arrow stream unless ``Accept`` names ``application/json`` before the Arrow type; a JSON body is
answered with JSON unless ``Accept`` names the Arrow type first. An Arrow answer honours
``Accept-Encoding`` like a binary one.

A bulk request is one prediction, as a JSON request of the same rows is: one prediction id (header
``berth-prediction-id``) and one record. That record keeps the request's first
``BERTH_RECORD_BULK_ROWS`` rows (1,000) of inputs and outputs, each cut tensor marked with the rows
the request had (parameter ``rows``): a record of every row of 100,000 x 20 floats is 24 MB of JSON
whose encoding (~50 ms of orjson, on the event loop) and ingestion divided the bulk path's
throughput by 5.5 to 8 in `bench/bulk_bench.py`, and would fill the journal at hundreds of MB/s.

Arrow bodies are read in place (no copy but the features' columns into one array: a few
milliseconds for 100,000 rows of 20 features), on the event loop up to `INLINE_ARROW_BYTES`, else on
a thread; Parquet bodies (decompressed and decoded by pyarrow, which releases the GIL) and
content-encoded bodies are decoded on a thread.
"""

from __future__ import annotations

import asyncio
from typing import Final

from berth.core.codecs.arrow_tables import (
    ARROW_STREAM_TYPE,
    PARQUET_TYPE,
    decode_arrow_stream,
    decode_parquet,
)
from berth.core.errors import BerthError, ErrorCode
from berth.core.signature import Signature
from berth.core.tensors import InferenceRequest, InferenceResponse, Tensor
from berth.dataplane.dataplane import DataPlane
from berth.dataplane.endpoint_inference import HeaderLookup
from berth.dataplane.served import Served
from berth.server.rest.content_encoding import decode_content

JSON_MEDIA: Final = "application/json"
ARROW_FILE_TYPE: Final = "application/vnd.apache.arrow.file"
"""The Arrow IPC *file* format: refused with a pointer to the stream format (415)."""
BULK_TYPES: Final = (ARROW_STREAM_TYPE, PARQUET_TYPE, ARROW_FILE_TYPE)
"""The media types `BulkInference` answers (the file format only to refuse it)."""
INLINE_ARROW_BYTES: Final = 1 << 20
"""Arrow bodies up to this size are decoded on the event loop (a thread hop costs more than they
do); larger ones on a thread, so that a 64 MB body's copy into one array holds nobody up."""
DECODED_BYTES_PER_BODY_BYTE: Final = 4
"""A Parquet body may declare (and its strings expand to) at most this many times the body limit."""


def media_type(content_type: str | None) -> str | None:
    """The media type of a ``Content-Type`` value, lower-case, without its parameters."""
    if content_type is None:
        return None
    return content_type.partition(";")[0].strip().lower()


def answer_type(accept: str | None, default: str) -> str:
    """`ARROW_STREAM_TYPE` or ``application/json``: the first of them ``Accept`` lists (with a
    quality above 0); `default` when it lists neither before a wildcard, or is absent."""
    if accept is None:
        return default
    for part in accept.split(","):
        media, _, parameters = part.partition(";")
        media = media.strip().lower()
        if _refused(parameters):
            continue
        if media in (ARROW_STREAM_TYPE, JSON_MEDIA):
            return media
        if media in ("*/*", "application/*"):
            return default
    return default


def _refused(parameters: str) -> bool:
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value) <= 0
            except ValueError:
                return False
    return False


class BulkInference:
    """Decodes bulk bodies against the signature of what `name` calls and asks the data plane."""

    def __init__(
        self, dataplane: DataPlane, *, max_body_bytes: int, max_elements: int, record_rows: int | None
    ) -> None:
        """`record_rows`: the most rows a bulk request's record keeps (None: every row)."""
        self._dataplane = dataplane
        self._max_body_bytes = max_body_bytes
        self._max_elements = max_elements
        self._record_rows = record_rows

    async def infer(
        self,
        name: str,
        ref: str | None,
        media: str,
        body: bytes,
        content_encoding: str | None,
        headers: HeaderLookup,
        served: Served | None,
    ) -> InferenceResponse:
        """Answer a bulk body (`media` one of `BULK_TYPES`) with the endpoint or version `name` and
        `ref` call. An endpoint's columns are read against the signature its metadata shows."""
        if media == ARROW_FILE_TYPE:
            raise BerthError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                f"send Arrow as an IPC stream ({ARROW_STREAM_TYPE}), not the file format",
            )
        dataplane = self._dataplane
        signature = dataplane.endpoint_signature(name) if ref is None else None
        if signature is not None:
            inputs = await self._decode(media, body, content_encoding, signature)
            request = InferenceRequest(inputs, record_rows=self._record_rows)
            return await dataplane.infer(name, None, request, headers, served)
        inputs = await self._decode(media, body, content_encoding, dataplane.resolve(name, ref).signature)
        # resolved again with no await before the pool look-up: a version retired while the body
        # was decoded is never loaded again (`DataPlane.infer`)
        version = dataplane.resolve(name, ref)
        request = InferenceRequest(inputs, record_rows=self._record_rows)
        return await dataplane.infer_version(name, version, request, headers, served)

    async def _decode(
        self, media: str, body: bytes, content_encoding: str | None, signature: Signature
    ) -> list[Tensor]:
        if media == ARROW_STREAM_TYPE and content_encoding is None and len(body) <= INLINE_ARROW_BYTES:
            return decode_arrow_stream(body, signature, max_elements=self._max_elements)
        return await asyncio.to_thread(self._decode_now, media, body, content_encoding, signature)

    def _decode_now(
        self, media: str, body: bytes, content_encoding: str | None, signature: Signature
    ) -> list[Tensor]:
        if content_encoding is not None:
            body = decode_content(body, content_encoding, self._max_body_bytes)
        if media == ARROW_STREAM_TYPE:
            return decode_arrow_stream(body, signature, max_elements=self._max_elements)
        return decode_parquet(
            body,
            signature,
            max_elements=self._max_elements,
            max_bytes=DECODED_BYTES_PER_BODY_BYTE * self._max_body_bytes,
        )
