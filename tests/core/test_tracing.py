"""Tracing on OpenTelemetry: one trace from the checkout through the order's creation, X-Ray ids."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from tests.fakes import auth
from tests.shop import checkout, deliver, eventbridge_body, product, put_in_basket

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def bus(monkeypatch):
    """Captures what the app publishes and still puts it on the (moto) bus: PutEvents is traced too."""
    from chalicelib.core import events
    from tests.shop import Bus

    captured, publish = Bus(), events.publish

    def through(published):
        published = list(published)
        captured.publish(published)
        publish(published)

    for where in ("chalicelib.core.outbox.publish", "chalicelib.orders.pipeline.publish",
                  "chalicelib.core.events.publish"):
        monkeypatch.setattr(where, through)
    return captured


@pytest.fixture
def spans():
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from chalicelib.core.observability import start_tracing, stop_tracing

    exporter = InMemorySpanExporter()
    start_tracing(exporter)
    yield exporter
    stop_tracing()


def test_one_trace_runs_from_the_checkout_to_the_orders_creation(client, bus, spans):
    lamp = product(client, stock=3)
    put_in_basket(client, auth("ann"), lamp["id"], 1)
    spans.clear()
    assert checkout(client, auth("ann")).status_code == 202
    (requested,) = bus.of_type("CheckoutRequested")
    assert requested.traceContext
    deliver(client, [eventbridge_body(requested)])

    finished = spans.get_finished_spans()
    (http,) = [s for s in finished if s.name == "POST /basket/checkout"]
    (consumer,) = [s for s in finished if s.name == "CheckoutRequested process"]
    assert http.attributes["http.route"] == "/basket/checkout" and http.attributes["http.response.status_code"] == 202
    assert consumer.context.trace_id == http.context.trace_id
    assert consumer.parent.span_id == http.context.span_id
    # every AWS call is a client span, the checkout's and the order creation's alike
    trace = [s for s in finished if s.context.trace_id == http.context.trace_id]
    services = {(s.attributes.get("rpc.service"), s.attributes.get("rpc.method")) for s in trace
                if s.attributes.get("rpc.system") == "aws-api"}
    assert ("DynamoDB", "TransactWriteItems") in services or ("DynamoDB", "PutItem") in services
    assert ("EventBridge", "PutEvents") in services
    assert any(s.parent and s.parent.span_id == consumer.context.span_id and s.attributes.get("rpc.service") == "DynamoDB"
               for s in trace)
    # X-Ray-compatible: the trace id starts with the epoch seconds it was made in
    assert abs(int(f"{http.context.trace_id:032x}"[:8], 16) - http.start_time // 10**9) < 5


def test_events_without_a_trace_context_are_still_consumed(client, bus, spans):
    lamp = product(client, stock=3)
    put_in_basket(client, auth("ann"), lamp["id"], 1)
    checkout(client, auth("ann"))
    (requested,) = bus.of_type("CheckoutRequested")
    untraced = requested.model_copy(update={"traceContext": None})
    assert deliver(client, [eventbridge_body(untraced)]) == {"batchItemFailures": []}


def test_tracing_off_imports_no_tracing_sdk_and_carries_no_context(client, bus):
    from chalicelib.core.observability import _tracing

    lamp = product(client, stock=3)
    put_in_basket(client, auth("ann"), lamp["id"], 1)
    checkout(client, auth("ann"))
    assert _tracing() is None
    assert bus.of_type("CheckoutRequested")[0].traceContext is None


def test_a_stage_without_tracing_never_imports_a_tracing_sdk():
    code = ("import sys, app\n"
            "from chalicelib.core.observability import _tracing\n"
            "assert _tracing() is None\n"
            "loaded = [m for m in sys.modules if m.startswith(('opentelemetry', 'aws_xray_sdk'))]\n"
            "assert not loaded, loaded\n")
    env = {"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", "TRACING": "false"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)


def test_spans_leave_for_the_collector_as_otlp_json(client):
    import http.server
    import json
    import threading

    from chalicelib.core.observability import start_tracing, stop_tracing
    from chalicelib.core.otlp import OtlpJsonExporter

    received = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        start_tracing(OtlpJsonExporter(f"http://127.0.0.1:{server.server_port}"), per_invocation=True)
        assert client.http.get("/products/nope").status_code == 404
    finally:
        stop_tracing()
        server.shutdown()
    (path, body), = received  # one request per invocation
    assert path == "/v1/traces"
    spans = [s for r in body["resourceSpans"] for scope in r["scopeSpans"] for s in scope["spans"]]
    (handler,) = [s for s in spans if s["name"] == "GET /products/{product_id}"]
    assert len(handler["traceId"]) == 32 and len(handler["spanId"]) == 16 and handler["kind"] == 2
    assert {"key": "http.response.status_code", "value": {"intValue": "404"}} in handler["attributes"]
    (get_item,) = [s for s in spans if s["name"] == "DynamoDB.GetItem"]
    assert get_item["parentSpanId"] == handler["spanId"] and get_item["kind"] == 3
