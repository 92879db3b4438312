"""Middleware for every invocation (HTTP, queue, bus, schedule): logger ready, metrics flushed, and an
OpenTelemetry span when the stage turns tracing on (the SDK is imported only then); the trace context
that events carry from their publisher to their consumers."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from chalicelib.core import metrics
from chalicelib.core.logs import get_logger


class Tracing:
    """The tracer, its provider and what carries a trace between processes (X-Ray ids and headers)."""

    def __init__(self, exporter: Any = None, per_invocation: bool = False) -> None:
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
        from opentelemetry.propagators.aws import AwsXRayLambdaPropagator, AwsXRayPropagator
        from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.trace import Link, SpanKind, Status, StatusCode, set_span_in_context

        self.Link, self.SpanKind, self.Status, self.StatusCode = Link, SpanKind, Status, StatusCode
        self.set_span_in_context = set_span_in_context
        self.provider = TracerProvider(id_generator=AwsXRayIdGenerator(),  # X-Ray-compatible trace ids
                                       resource=Resource.create({"service.name": "shop"}))
        if exporter is None or per_invocation:  # the collector extension (OTEL_EXPORTER_OTLP_ENDPOINT)
            from chalicelib.core.otlp import InvocationBatch, OtlpJsonExporter

            self.provider.add_span_processor(InvocationBatch(exporter or OtlpJsonExporter()))
        else:
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("shop")
        self.lambda_propagator = AwsXRayLambdaPropagator()  # the invocation's _X_AMZN_TRACE_ID
        self.propagator = AwsXRayPropagator()  # the X-Amzn-Trace-Id header events carry
        self.instrumentor = BotocoreInstrumentor()
        self.instrumentor.instrument(tracer_provider=self.provider)  # every AWS call is a client span

    def close(self) -> None:
        self.instrumentor.uninstrument()
        self.provider.shutdown()


_active: list[Tracing | None] = []  # decided once per container, on its first invocation


def _tracing() -> Tracing | None:
    if not _active:
        from chalicelib.core.settings import settings

        _active.append(Tracing() if settings().tracing else None)
    return _active[0]


def start_tracing(exporter: Any, per_invocation: bool = False) -> Tracing:
    """Trace this process into `exporter` whatever the stage says (tests: an in-memory exporter); span by
    span, or a batch per invocation as deployed."""
    stop_tracing()
    _active.append(Tracing(exporter, per_invocation))
    return _active[0]


def stop_tracing() -> None:
    if _active and _active[0] is not None:
        _active[0].close()
    _active.clear()


def _handler_span(tracing: Tracing, event: Any) -> Any:
    parent = tracing.lambda_propagator.extract({})
    method = getattr(event, "method", None)
    if method is not None:  # an HTTP request
        route = getattr(event, "path", "")
        return tracing.tracer.start_as_current_span(
            f"{method} {route}", context=parent, kind=tracing.SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route}, record_exception=True)
    context = getattr(event, "context", None)
    name = getattr(context, "function_name", None) or type(event).__name__
    return tracing.tracer.start_as_current_span(name, context=parent, kind=tracing.SpanKind.SERVER,
                                                attributes={"faas.trigger": type(event).__name__})


def observe(event: Any, get_response: Any) -> Any:
    get_logger()
    tracing = _tracing()
    try:
        if tracing is None:
            return get_response(event)
        with _handler_span(tracing, event) as span:
            response = get_response(event)
            status = getattr(response, "status_code", None)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(tracing.Status(tracing.StatusCode.ERROR))
            return response
    finally:
        metrics.flush()
        if tracing is not None:
            tracing.provider.force_flush()  # before Lambda freezes the container


def trace_context() -> str | None:
    """The current span as an X-Ray trace header, for an event to carry; None when not tracing."""
    tracing = _tracing()
    if tracing is None:
        return None
    carrier: dict[str, str] = {}
    tracing.propagator.inject(carrier)
    return next(iter(carrier.values()), None)


@contextlib.contextmanager
def consuming(event_type: str, carried: str | None, system: str = "aws_sqs") -> Iterator[None]:
    """A consumer span for one event: a child of the span that published it (the context the event
    carries), linked to this invocation's span."""
    tracing = _tracing()
    if tracing is None:
        yield
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    links = [tracing.Link(current.get_span_context())] if current.get_span_context().is_valid else []
    parent = tracing.propagator.extract({"X-Amzn-Trace-Id": carried}) if carried else None
    with tracing.tracer.start_as_current_span(f"{event_type} process", context=parent, links=links,
                                              kind=tracing.SpanKind.CONSUMER,
                                              attributes={"messaging.operation.type": "process",
                                                          "messaging.system": system}):
        yield
