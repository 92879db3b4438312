"""Middleware for every invocation (HTTP, queue, bus, schedule): logger ready, metrics flushed, and an
OpenTelemetry span when the stage turns tracing on (the SDK is imported only then); a client span per AWS
call the project's clients make (`trace_calls`, hooked on each by core/aws.py); the trace context that
events carry from their publisher to their consumers."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from chalicelib.core import metrics
from chalicelib.core.logs import get_logger


class Tracing:
    """The tracer, its provider and what carries a trace between processes (X-Ray ids and headers)."""

    def __init__(self, exporter: Any = None, per_invocation: bool = False) -> None:
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
        self.propagator = AwsXRayPropagator()  # the X-Amzn-Trace-Id header events and AWS requests carry

    def close(self) -> None:
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


# --- a client span per AWS call --------------------------------------------------------------
# Hooks on botocore's events of each client core/aws.py creates: the call's parameters are kept when they are
# built, its span starts just before it is sent and ends with its answer (or its failure). While tracing is
# off a hook does nothing but look.

_PARAMS, _SPAN = "shop.tracing.params", "shop.tracing.span"  # kept in botocore's context of one call


def trace_calls(events: Any) -> None:
    """Give each call made through a botocore client (its `meta.events`) a client span while tracing is on:
    named `<service>.<operation>` (`DynamoDB.GetItem`), with the RPC attributes (`rpc.system` "aws-api",
    `rpc.service`, `rpc.method`), the region, endpoint, request id, retries and HTTP status, what the call
    names (tables, queue, bus, bucket and key), ERROR status on a 4xx/5xx or a failure; the span's context
    travels in the request's X-Amzn-Trace-Id header, as AWS services read it."""
    events.register("before-parameter-build", _keep_parameters, unique_id="shop-tracing-parameters")
    events.register("before-call", _start_call, unique_id="shop-tracing-start")
    events.register("after-call", _end_call, unique_id="shop-tracing-end")
    events.register("after-call-error", _fail_call, unique_id="shop-tracing-failure")


def _keep_parameters(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if _tracing() is not None:
        context[_PARAMS] = params


def _start_call(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # Returns nothing, whatever happens: botocore takes a value returned here as the call's answer.
    tracing = _tracing()
    if tracing is None:
        return
    from urllib.parse import urlsplit

    service = str(model.service_model.service_id)
    attributes: dict[str, Any] = {"rpc.system": "aws-api", "rpc.service": service, "rpc.method": model.name}
    if context.get("client_region"):
        attributes["cloud.region"] = context["client_region"]
    endpoint = urlsplit(params.get("url") or "")
    if endpoint.hostname:
        attributes["server.address"] = endpoint.hostname
        attributes["server.port"] = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    named = _NAMED.get(service)
    if named is not None:
        attributes.update({key: value for key, value in named(context.get(_PARAMS) or {}).items() if value})
    span = tracing.tracer.start_span(f"{service}.{model.name}", kind=tracing.SpanKind.CLIENT, attributes=attributes)
    tracing.propagator.inject(params.setdefault("headers", {}), context=tracing.set_span_in_context(span))
    context[_SPAN] = span


def _end_call(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    span = context.pop(_SPAN, None)
    if span is None:
        return
    metadata = (parsed or {}).get("ResponseMetadata") or {}
    headers = metadata.get("HTTPHeaders") or {}
    request_id = metadata.get("RequestId") or headers.get("x-amzn-requestid") or headers.get("x-amz-request-id")
    if request_id:
        span.set_attribute("aws.request_id", request_id)
    if metadata.get("RetryAttempts") is not None:
        span.set_attribute("retry_attempts", metadata["RetryAttempts"])
    status = getattr(http_response, "status_code", None) or metadata.get("HTTPStatusCode")
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if status is not None and status >= 400:
        from opentelemetry.trace import Status, StatusCode

        code = ((parsed or {}).get("Error") or {}).get("Code") or str(status)
        span.set_attribute("error.type", code)
        span.set_status(Status(StatusCode.ERROR, code))
    span.end()


def _fail_call(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
    span = context.pop(_SPAN, None)
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.record_exception(exception)
    span.set_attribute("error.type", type(exception).__qualname__)
    span.set_status(Status(StatusCode.ERROR, str(exception)))
    span.end()


def _tables(params: dict[str, Any]) -> dict[str, Any]:
    names = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems") or ())
    for item in params.get("TransactItems") or ():
        names += [action["TableName"] for action in item.values() if "TableName" in action]
    return {"db.system": "dynamodb", "aws.dynamodb.table_names": sorted(set(names)),
            "aws.dynamodb.index_name": params.get("IndexName")}


def _queue(params: dict[str, Any]) -> dict[str, Any]:
    url = params.get("QueueUrl") or ""
    return {"messaging.system": "aws_sqs", "aws.queue_url": url, "messaging.destination.name": url.rsplit("/", 1)[-1]}


def _buses(params: dict[str, Any]) -> dict[str, Any]:
    entries = params.get("Entries") or ()
    buses = sorted({entry.get("EventBusName") or "default" for entry in entries})
    return {"messaging.destination.name": ",".join(buses), "messaging.batch.message_count": len(entries)}


def _object(params: dict[str, Any]) -> dict[str, Any]:
    return {"aws.s3.bucket": params.get("Bucket"), "aws.s3.key": params.get("Key")}


# What a call names, by the service's id (botocore's `service_id`).
_NAMED = {"DynamoDB": _tables, "SQS": _queue, "EventBridge": _buses, "S3": _object}
