"""Spans to the collector extension as OTLP/HTTP JSON, over the urllib3 botocore has already loaded.

The OTLP exporter package encodes protobuf over `requests`; importing the two costs a traced cold
start about as much as the tracing SDK itself, for a hop to localhost.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_TIMEOUT_SECONDS = 2.0


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attributes: Any) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in (attributes or {}).items()]


def _span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    encoded: dict[str, Any] = {
        "traceId": f"{context.trace_id:032x}", "spanId": f"{context.span_id:016x}", "name": span.name,
        "kind": span.kind.value + 1,  # the protocol counts from SPAN_KIND_UNSPECIFIED
        "startTimeUnixNano": str(span.start_time), "endTimeUnixNano": str(span.end_time),
        "attributes": _attributes(span.attributes),
        "status": {"code": span.status.status_code.value, **({"message": span.status.description}
                                                               if span.status.description else {})},
        "links": [{"traceId": f"{link.context.trace_id:032x}", "spanId": f"{link.context.span_id:016x}",
                   "attributes": _attributes(link.attributes)} for link in span.links],
        "events": [{"name": event.name, "timeUnixNano": str(event.timestamp),
                    "attributes": _attributes(event.attributes)} for event in span.events],
    }
    if span.parent is not None:
        encoded["parentSpanId"] = f"{span.parent.span_id:016x}"
    return encoded


def encode(spans: Sequence[ReadableSpan]) -> bytes:
    """The OTLP/JSON ExportTraceServiceRequest for `spans` (one resource, one scope per tracer)."""
    by_resource: dict[int, tuple[Any, dict[str, list[ReadableSpan]]]] = {}
    for span in spans:
        _, scopes = by_resource.setdefault(id(span.resource), (span.resource, {}))
        scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
        scopes.setdefault(scope, []).append(span)
    return json.dumps({"resourceSpans": [
        {"resource": {"attributes": _attributes(resource.attributes)},
         "scopeSpans": [{"scope": {"name": name}, "spans": [_span(s) for s in grouped]}
                        for name, grouped in scopes.items()]}
        for resource, scopes in by_resource.values()]}, separators=(",", ":")).encode()


class OtlpJsonExporter(SpanExporter):
    """POSTs each batch to `OTEL_EXPORTER_OTLP_ENDPOINT`/v1/traces (the collector extension's receiver)."""

    def __init__(self, endpoint: str | None = None) -> None:
        import urllib3

        base = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318"
        self.url = base.rstrip("/") + "/v1/traces"
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=_TIMEOUT_SECONDS))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            answer = self.http.request("POST", self.url, body=encode(spans),
                                       headers={"Content-Type": "application/json"})
        except Exception:  # noqa: BLE001 - a lost batch of spans must never fail the invocation
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if answer.status < 300 else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.http.clear()


class InvocationBatch(SpanProcessor):
    """Holds an invocation's spans and exports them in one request when it ends (`force_flush`), on the
    invocation's own thread: Lambda may freeze the container as soon as the handler returns."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        if span.context.trace_flags.sampled:
            self.spans.append(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        spans, self.spans = self.spans, []
        return not spans or self.exporter.export(spans) is SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.force_flush()
        self.exporter.shutdown()
