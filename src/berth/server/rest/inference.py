"""``POST /v2/models/{name}[/versions/{ref}]/infer``, written once.

The documented FastAPI route and the fast ASGI path (`berth.server.rest.fast_path`) both call
`RestInference.answer`, so the protocol is implemented in one place: JSON or binary tensor
bodies (``Inference-Header-Content-Length``), gzip/deflate bodies, binary outputs on request, and
bulk bodies (Arrow IPC streams and Parquet, by ``Content-Type``; `berth.server.rest.bulk_inference`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import Receive

from berth.core.codecs.arrow_tables import ARROW_STREAM_TYPE, encode_arrow_stream
from berth.core.codecs.limits import DEFAULT_MAX_TENSORS
from berth.core.codecs.oip_binary import (
    HEADER_LENGTH,
    binary_outputs,
    decode_binary_infer_request,
    encode_binary_infer_response,
    parse_header_length,
)
from berth.core.codecs.oip_json import decode_infer_request, encode_infer_response
from berth.core.tensors import InferenceRequest, InferenceResponse
from berth.dataplane.dataplane import DataPlane
from berth.dataplane.endpoint_inference import HeaderLookup
from berth.dataplane.served import Served
from berth.server.answer_headers import RawHeaders, answered_by
from berth.server.deprecation_notices import NO_HEADERS, DeprecationNotices
from berth.server.offload import INLINE, Offload
from berth.server.rest.body import read_asgi_body
from berth.server.rest.bulk_inference import BULK_TYPES, JSON_MEDIA, BulkInference, answer_type, media_type
from berth.server.rest.content_encoding import accepted_coding, decode_content, encode_content

JSON_TYPE = (b"content-type", b"application/json")
BINARY_TYPE = (b"content-type", b"application/octet-stream")
ARROW_TYPE = (b"content-type", ARROW_STREAM_TYPE.encode())
DEFAULT_MAX_ELEMENTS = 10_000_000


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    headers: RawHeaders


class WireHeaders:
    """The request headers inference reads, in one pass over the raw ASGI list (names arrive
    lower-case): a mapping lookup would raise a KeyError per absent name, and these are usually absent."""

    __slots__ = (
        "accept",
        "accept_encoding",
        "content_encoding",
        "content_length",
        "content_type",
        "header_length",
    )

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self.content_encoding: str | None = None
        self.header_length: str | None = None
        self.accept_encoding: str | None = None
        self.content_length: str | None = None
        self.content_type: str | None = None
        self.accept: str | None = None
        for key, value in raw:
            if key == b"content-length":
                self.content_length = value.decode("latin-1")
            elif key == b"content-type":
                self.content_type = value.decode("latin-1")
            elif key == b"accept":
                self.accept = value.decode("latin-1")
            elif key == b"content-encoding":
                self.content_encoding = value.decode("latin-1")
            elif key == b"inference-header-content-length":
                self.header_length = value.decode("latin-1")
            elif key == b"accept-encoding":
                self.accept_encoding = value.decode("latin-1")


def header_lookup(raw: RawHeaders) -> HeaderLookup:
    """A lookup of one header by lower-case name over the raw ASGI list (read only when asked)."""

    def lookup(name: str) -> str | None:
        key = name.encode("latin-1")
        for k, v in raw:
            if k == key:
                return v.decode("latin-1")
        return None

    return lookup


class RestInference:
    def __init__(
        self,
        dataplane: DataPlane,
        *,
        max_body_bytes: int,
        max_tensors: int = DEFAULT_MAX_TENSORS,
        max_elements: int = DEFAULT_MAX_ELEMENTS,
        record_bulk_rows: int | None = None,
        offload: Offload = INLINE,
        notices: DeprecationNotices | None = None,
    ) -> None:
        """`notices`: the deprecation headers answers carry (none: no headers); `max_elements`:
        the most input values a bulk body may declare (checked before they are converted);
        `record_bulk_rows`: the most rows a bulk request's record keeps (None: every row)."""
        self._dataplane = dataplane
        self._notices = notices
        self._max_body_bytes = max_body_bytes
        self._max_tensors = max_tensors
        self._offload = offload
        self._bulk = BulkInference(
            dataplane, max_body_bytes=max_body_bytes, max_elements=max_elements, record_rows=record_bulk_rows
        )

    async def answer(
        self,
        name: str,
        ref: str | None,
        raw_headers: Iterable[tuple[bytes, bytes]],
        receive: Receive,
        served: Served | None = None,
    ) -> Answer:
        """The response to one inference request; errors are raised as `BerthError`. `served` is
        filled in with what answers (for metrics)."""
        self._dataplane.check_callable(name, ref)  # unknown names are 404 before the body is read
        raw = raw_headers if isinstance(raw_headers, list) else list(raw_headers)
        wire = WireHeaders(raw)
        body = await read_asgi_body(receive, wire.content_length, self._max_body_bytes)
        media = media_type(wire.content_type)
        if media in BULK_TYPES:
            lookup = header_lookup(raw)
            response = await self._bulk.infer(name, ref, media, body, wire.content_encoding, lookup, served)
            return self._tabled(name, ref, response, wire, answer_type(wire.accept, ARROW_STREAM_TYPE))
        request = await self._offload.run(
            len(body),
            decode_rest_request,
            body,
            wire.content_encoding,
            wire.header_length,
            self._max_body_bytes,
            self._max_tensors,
        )
        binary = binary_outputs(request)
        response = await self._dataplane.infer(name, ref, request, header_lookup(raw), served)
        notices = self._notices
        deprecated = notices.headers(name, ref, response) if notices is not None else NO_HEADERS
        accept = wire.accept  # parsed only when it may name Arrow (most clients send */* or nothing)
        if (
            accept is not None
            and "arrow" in accept
            and not binary
            and answer_type(accept, JSON_MEDIA) == ARROW_STREAM_TYPE
        ):
            return self._tabled(name, ref, response, wire, ARROW_STREAM_TYPE)
        if not binary:
            return Answer(encode_infer_response(response), [JSON_TYPE, *answered_by(response), *deprecated])
        content, header_length = encode_binary_infer_response(response, binary)
        headers = [
            BINARY_TYPE,
            (HEADER_LENGTH.lower().encode(), str(header_length).encode()),
            *answered_by(response),
            *deprecated,
        ]
        coding = accepted_coding(wire.accept_encoding)
        if coding is not None:
            content = encode_content(content, coding)
            headers.append((b"content-encoding", coding.encode()))
        return Answer(content, headers)

    def _tabled(
        self, name: str, ref: str | None, response: InferenceResponse, wire: WireHeaders, media: str
    ) -> Answer:
        """The answer of a bulk request (or a JSON one that asked for Arrow): an Arrow stream
        (compressed as ``Accept-Encoding`` allows), or OIP JSON when `media` says so."""
        notices = self._notices
        deprecated = notices.headers(name, ref, response) if notices is not None else NO_HEADERS
        if media == JSON_MEDIA:
            return Answer(encode_infer_response(response), [JSON_TYPE, *answered_by(response), *deprecated])
        content = encode_arrow_stream(response.outputs)
        headers = [ARROW_TYPE, *answered_by(response), *deprecated]
        coding = accepted_coding(wire.accept_encoding)
        if coding is not None:
            content = encode_content(content, coding)
            headers.append((b"content-encoding", coding.encode()))
        return Answer(content, headers)


def decode_rest_request(
    body: bytes,
    content_encoding: str | None,
    header_length: str | None,
    max_body_bytes: int,
    max_tensors: int,
) -> InferenceRequest:
    """An inference request from its body and headers (JSON, or binary tensor data when the header
    length is given); module-level so that a worker process can run it (`berth.server.offload`)."""
    if content_encoding is not None:
        body = decode_content(body, content_encoding, max_body_bytes)
    if header_length is None:
        return decode_infer_request(body, max_tensors=max_tensors)
    return decode_binary_infer_request(body, parse_header_length(header_length), max_tensors=max_tensors)
