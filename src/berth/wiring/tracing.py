"""A process's `Tracing`, from the settings: off, or OpenTelemetry's SDK exporting over OTLP/HTTP.

The SDK and the exporter are the optional extra ``berth-serving[otlp]``: they are imported here
only when ``BERTH_OTLP_ENDPOINT`` is set (a server without it imports neither, and makes no span). Spans go
out in batches from a background thread (the SDK's `BatchSpanProcessor`: a full queue drops spans,
never blocks a request). The exporter's own ``OTEL_EXPORTER_OTLP_*`` variables (headers, timeout,
certificate, compression) apply; ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` name the
service (default ``berth``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from berth._version import __version__
from berth.core.extras import require
from berth.core.settings import Settings
from berth.core.tracing import OFF, OtelTracing, Tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

NEEDED_FOR = "BERTH_OTLP_ENDPOINT (unset it to run without tracing)"


def open_tracing(settings: Settings, *, process: str) -> Tracing:
    """The tracing of a `process` ("server", "worker", "monitor"): `OFF` unless an endpoint is set."""
    if settings.otlp_endpoint is None:
        return OFF
    require("otlp", NEEDED_FOR)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return exporting_to(
        OTLPSpanExporter(endpoint=settings.otlp_endpoint),
        sample_ratio=settings.trace_sample_ratio,
        process=process,
        role=settings.role,
    )


def exporting_to(
    exporter: SpanExporter, *, sample_ratio: float, process: str, role: str = "all", batch: bool = True
) -> Tracing:
    """Tracing whose spans go to `exporter` (in batches, or each as it ends: tests' in-memory one)."""
    require("otlp", NEEDED_FOR)
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

    attributes: dict[str, str | int] = {
        "service.version": __version__,
        "process.pid": os.getpid(),
        "berth.process": process,
        "berth.role": role,
    }
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = "berth"
    # berth decides where a trace enters (`berth.core.tracing`): below that, follow the parent
    provider = TracerProvider(resource=Resource.create(attributes), sampler=ParentBased(ALWAYS_ON))
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return OtelTracing(provider, sample_ratio=sample_ratio, version=__version__, shutdown=provider.shutdown)
