"""Spans of a process (OpenTelemetry), and W3C trace context taken from callers and passed on.

A server, worker or monitor process holds one `Tracing`, built by the wiring from the settings
(`berth.wiring.tracing`) and handed to what makes spans. `OFF`, the default, is this base class:
every method returns a constant, so a request pays a method call and builds nothing, and
OpenTelemetry is not even imported. `OtelTracing` makes spans with a tracer of its own provider
(never the global one), so several servers in one process (tests) each keep theirs.

Sampling is decided once, where a trace enters berth, and costs nothing below that point for the
requests left out:

- a request with a valid caller ``traceparent`` follows the caller's sampled flag (parent-based);
  an invalid one is ignored, as if it were absent;
- a request without one is traced with probability `sample_ratio`;
- below the entry, `span` makes a child only when the current span is recorded, so a request
  that is not sampled makes no span object at all, anywhere;
- background work (a job run, a webhook call) is always traced when tracing is on: it is rare,
  and a job links to the request that enqueued it (`traceparent` of that request, stored with the
  job), a shadow copy and a webhook call continue the trace they were started in.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Callable, Mapping, MutableMapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, TracerProvider

Attributes = Mapping[str, str | int | float | bool]
TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
_NULL: Final[AbstractContextManager[None]] = contextlib.nullcontext()
_VALID: Final = re.compile(
    r"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-([0-9a-f]{2})(?:-|$)"
)
"""A W3C ``traceparent`` berth follows: version, trace id, parent id, flags (a later version's
extra fields after a dash). Checked before OpenTelemetry parses it: a request whose caller did
not sample it costs one match."""
_RECORDING: ContextVar[bool] = ContextVar("berth_span_recorded", default=False)
"""Whether a span berth records is current (one read: `span` below a request left out is free)."""


class Tracing:
    """Tracing off: nothing is made, nothing is sent (see the module doc for `OtelTracing`)."""

    on: bool = False

    def entry(self, traceparent: str | None, tracestate: str | None = None) -> Context | None:
        """Where a request's trace starts: the caller's context (a valid, sampled ``traceparent``),
        a new trace (no valid one, and the sampling ratio picked it), or None: not traced."""
        return None

    def request(
        self, name: str, entry: Context, *, kind: str = "server", attributes: Attributes | None = None
    ) -> AbstractContextManager[Span]:
        """The span of a request `entry` says is traced (current while the block runs)."""
        raise RuntimeError("tracing is off: a request is traced only where entry() answered a context")

    def span(self, name: str, attributes: Attributes | None = None) -> AbstractContextManager[Span | None]:
        """A child of the current span while the block runs; none (None) when no span is recorded."""
        return _NULL

    def background(
        self,
        name: str,
        *,
        parent: Context | None = None,
        link: str | None = None,
        attributes: Attributes | None = None,
    ) -> AbstractContextManager[Span | None]:
        """The span of background work: a child of `parent` (a context `capture` took), else a new
        trace, linked to the span the ``traceparent`` `link` names when it is valid."""
        return _NULL

    def capture(self) -> Context | None:
        """The current context when its span is recorded (to continue the trace in another task or
        thread: `background(parent=...)`), else None."""
        return None

    def inject(self, headers: MutableMapping[str, str]) -> None:
        """Add the current span's ``traceparent`` (and ``tracestate``) to outgoing `headers`."""

    def traceparent(self) -> str | None:
        """The ``traceparent`` of the current span when it is recorded (to store, e.g. with a job)."""
        return None

    def close(self) -> None:
        """Send what is buffered and stop (a process's last step)."""


OFF: Final = Tracing()


class OtelTracing(Tracing):
    """Spans made with OpenTelemetry (the API here; the SDK provider comes from the wiring)."""

    on = True

    def __init__(
        self,
        provider: TracerProvider,
        *,
        sample_ratio: float,
        version: str = "",
        shutdown: Callable[[], None] | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._trace = trace
        self._context = context
        self._tracer = provider.get_tracer("berth", version)
        self._propagator = TraceContextTextMapPropagator()
        self._ratio = sample_ratio
        self._draw = draw
        self._shutdown = shutdown
        self._kinds = {
            "server": trace.SpanKind.SERVER,
            "client": trace.SpanKind.CLIENT,
            "consumer": trace.SpanKind.CONSUMER,
            "internal": trace.SpanKind.INTERNAL,
        }

    def entry(self, traceparent: str | None, tracestate: str | None = None) -> Context | None:
        flags = _flags(traceparent) if traceparent is not None else None
        if traceparent is not None and flags is not None:
            if not flags & 1:
                return None  # the caller did not sample it
            carrier = {TRACEPARENT: traceparent}
            if tracestate is not None:
                carrier[TRACESTATE] = tracestate
            parent = self._propagator.extract(carrier)
            if self._trace.get_current_span(parent).get_span_context().is_valid:
                return parent
        if self._draw() < self._ratio:
            return self._context.Context()  # a new trace
        return None

    def request(
        self, name: str, entry: Context, *, kind: str = "server", attributes: Attributes | None = None
    ) -> AbstractContextManager[Span]:
        return _Recorded(
            self._tracer.start_as_current_span(
                name, context=entry, kind=self._kinds[kind], attributes=attributes
            )
        )

    def span(self, name: str, attributes: Attributes | None = None) -> AbstractContextManager[Span | None]:
        if not _RECORDING.get():
            return _NULL
        return self._tracer.start_as_current_span(name, attributes=attributes)

    def background(
        self,
        name: str,
        *,
        parent: Context | None = None,
        link: str | None = None,
        attributes: Attributes | None = None,
    ) -> AbstractContextManager[Span | None]:
        links = []
        if link is not None:
            linked = self._trace.get_current_span(self._propagator.extract({TRACEPARENT: link}))
            if linked.get_span_context().is_valid:
                links.append(self._trace.Link(linked.get_span_context()))
        return _Recorded(
            self._tracer.start_as_current_span(
                name,
                context=parent if parent is not None else self._context.Context(),
                kind=self._trace.SpanKind.CONSUMER if link is not None else self._trace.SpanKind.INTERNAL,
                links=links,
                attributes=attributes,
            )
        )

    def capture(self) -> Context | None:
        if not _RECORDING.get():
            return None
        return self._context.get_current()

    def inject(self, headers: MutableMapping[str, str]) -> None:
        self._propagator.inject(headers)

    def traceparent(self) -> str | None:
        carrier: dict[str, str] = {}
        if _RECORDING.get():
            self._propagator.inject(carrier)
        return carrier.get(TRACEPARENT)

    def close(self) -> None:
        if self._shutdown is not None:
            self._shutdown()


class _Recorded(AbstractContextManager["Span"]):
    """A span made current, with `_RECORDING` set while it is."""

    __slots__ = ("_inner", "_token")

    def __init__(self, inner: AbstractContextManager[Span]) -> None:
        self._inner = inner

    def __enter__(self) -> Span:
        span = self._inner.__enter__()
        self._token = _RECORDING.set(True)
        return span

    def __exit__(self, *exc: Any) -> bool | None:
        _RECORDING.reset(self._token)
        return self._inner.__exit__(*exc)


def _flags(traceparent: str) -> int | None:
    """The trace flags of a valid ``traceparent`` (None: not one berth follows)."""
    valid = _VALID.match(traceparent)
    if valid is None or (traceparent.startswith("00") and len(traceparent) != 55):
        return None
    return int(valid.group(1), 16)


def failed(span: Span | None, description: str) -> None:
    """Mark `span` (if any) as an error, e.g. an answer with a 5xx status."""
    if span is not None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, description))
