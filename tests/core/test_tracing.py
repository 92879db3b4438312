"""Tracing on OpenTelemetry: one trace from the checkout through the order's creation, X-Ray ids."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from tests.fakes import auth, http_receiver
from tests.shop import checkout, deliver, eventbridge_body, product, put_in_basket

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def spans():
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from chalicelib.core.observability import start_tracing, stop_tracing

    exporter = InMemorySpanExporter()
    start_tracing(exporter)
    yield exporter
    stop_tracing()


def test_one_trace_runs_from_the_checkout_to_the_orders_creation(client, published, spans):
    lamp = product(client, stock=3)
    put_in_basket(client, auth("ann"), lamp["id"], 1)
    spans.clear()
    assert checkout(client, auth("ann")).status_code == 202
    (requested,) = published.of_type("CheckoutRequested")
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


def test_events_without_a_trace_context_are_still_consumed(client, published, spans):
    lamp = product(client, stock=3)
    put_in_basket(client, auth("ann"), lamp["id"], 1)
    checkout(client, auth("ann"))
    (requested,) = published.of_type("CheckoutRequested")
    untraced = requested.model_copy(update={"traceContext": None})
    assert deliver(client, [eventbridge_body(untraced)]) == {"batchItemFailures": []}


def test_tracing_off_imports_no_tracing_sdk_and_carries_no_context(client, published):
    from chalicelib.core.observability import _tracing

    lamp = product(client, stock=3)
    put_in_basket(client, auth("ann"), lamp["id"], 1)
    checkout(client, auth("ann"))
    assert _tracing() is None
    assert published.of_type("CheckoutRequested")[0].traceContext is None


def test_a_stage_without_tracing_never_imports_a_tracing_sdk():
    code = ("import sys, app\n"
            "from chalicelib.core.observability import _tracing\n"
            "assert _tracing() is None\n"
            "loaded = [m for m in sys.modules if m.startswith(('opentelemetry', 'aws_xray_sdk'))]\n"
            "assert not loaded, loaded\n")
    env = {"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", "TRACING": "false"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)


def test_spans_leave_for_the_collector_as_otlp_json(client):
    import json

    from chalicelib.core.observability import start_tracing, stop_tracing
    from chalicelib.core.otlp import OtlpJsonExporter

    with http_receiver() as (url, received):
        try:
            start_tracing(OtlpJsonExporter(url), per_invocation=True)
            assert client.http.get("/products/nope").status_code == 404
        finally:
            stop_tracing()
    (path, _, raw), = received  # one request per invocation
    body = json.loads(raw)
    assert path == "/v1/traces"
    spans = [s for r in body["resourceSpans"] for scope in r["scopeSpans"] for s in scope["spans"]]
    (handler,) = [s for s in spans if s["name"] == "GET /products/{product_id}"]
    assert len(handler["traceId"]) == 32 and len(handler["spanId"]) == 16 and handler["kind"] == 2
    assert {"key": "http.response.status_code", "value": {"intValue": "404"}} in handler["attributes"]
    (get_item,) = [s for s in spans if s["name"] == "DynamoDB.GetItem"]
    assert get_item["parentSpanId"] == handler["spanId"] and get_item["kind"] == 3


# --- the project's AWS clients make a client span per call (core/aws.py hooks core/observability.py's) ---

def _sent_headers(service: str) -> list[dict]:
    """The headers of every request a project client of `service` sends from now on."""
    from chalicelib.core.aws import client

    sent: list[dict] = []

    def record(request, **_):
        sent.append({name: value.decode() if isinstance(value, bytes) else value
                     for name, value in request.headers.items()})

    made = client(service)
    made.meta.events.register_first(f"before-send.{made.meta.service_model.service_id.hyphenize()}", record)
    return sent


def test_each_aws_call_is_a_client_span_named_for_its_service_and_operation_with_what_it_names(aws, spans):
    from opentelemetry.trace import SpanKind, StatusCode

    from chalicelib.core.aws import client

    (orders_queue,) = [url for logical, url in aws["queue_urls"].items() if logical == "OrdersQueue"]
    client("dynamodb").get_item(TableName=aws["table_name"], Key={"PK": {"S": "NONE"}, "SK": {"S": "NONE"}})
    client("dynamodb").transact_write_items(TransactItems=[
        {"Put": {"TableName": aws["table_name"], "Item": {"PK": {"S": "T"}, "SK": {"S": "T"}}}}])
    client("sqs").send_message(QueueUrl=orders_queue, MessageBody="{}")
    client("events").put_events(Entries=[{"Source": "shop", "DetailType": "Traced", "Detail": "{}",
                                          "EventBusName": aws["event_bus_name"]}] * 2)
    client("s3").put_object(Bucket=aws["images_bucket"], Key="uploads/traced", Body=b"x")

    finished = {span.name: span for span in spans.get_finished_spans()}
    assert set(finished) == {"DynamoDB.GetItem", "DynamoDB.TransactWriteItems", "SQS.SendMessage",
                             "EventBridge.PutEvents", "S3.PutObject"}
    for name, span in finished.items():
        service, operation = name.split(".")
        assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET, name
        assert {k: span.attributes[k] for k in ("rpc.system", "rpc.service", "rpc.method", "cloud.region")} == {
            "rpc.system": "aws-api", "rpc.service": service, "rpc.method": operation, "cloud.region": "us-east-1"}
        assert span.attributes["http.response.status_code"] == 200 and span.attributes["aws.request_id"], name
    assert finished["DynamoDB.GetItem"].attributes["aws.dynamodb.table_names"] == (aws["table_name"],)
    assert finished["DynamoDB.TransactWriteItems"].attributes["aws.dynamodb.table_names"] == (aws["table_name"],)
    assert finished["DynamoDB.GetItem"].attributes["db.system"] == "dynamodb"
    assert finished["SQS.SendMessage"].attributes["messaging.destination.name"] == orders_queue.rsplit("/", 1)[-1]
    assert finished["SQS.SendMessage"].attributes["aws.queue_url"] == orders_queue
    assert finished["EventBridge.PutEvents"].attributes["messaging.destination.name"] == aws["event_bus_name"]
    assert finished["EventBridge.PutEvents"].attributes["messaging.batch.message_count"] == 2
    assert (finished["S3.PutObject"].attributes["aws.s3.bucket"], finished["S3.PutObject"].attributes["aws.s3.key"]) \
        == (aws["images_bucket"], "uploads/traced")


def test_an_aws_request_carries_its_calls_span_as_its_x_ray_trace_header(aws, spans):
    from chalicelib.core.aws import client

    sent = _sent_headers("dynamodb")
    client("dynamodb").get_item(TableName=aws["table_name"], Key={"PK": {"S": "NONE"}, "SK": {"S": "NONE"}})
    (call,) = spans.get_finished_spans()
    (headers,) = sent
    trace_id = f"{call.context.trace_id:032x}"
    assert headers["X-Amzn-Trace-Id"] == \
        f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={call.context.span_id:016x};Sampled=1"


def test_a_refused_aws_call_is_an_error_span_naming_the_refusal(aws, spans):
    from botocore.exceptions import ClientError
    from opentelemetry.trace import StatusCode

    from chalicelib.core.aws import client

    with pytest.raises(ClientError):
        client("dynamodb").put_item(TableName=aws["table_name"], Item={"PK": {"S": "N"}, "SK": {"S": "N"}},
                                    ConditionExpression="attribute_exists(PK)")
    (refused,) = spans.get_finished_spans()
    assert refused.status.status_code is StatusCode.ERROR
    assert refused.attributes["error.type"] == "ConditionalCheckFailedException"
    assert refused.attributes["http.response.status_code"] == 400


def test_an_aws_call_that_fails_unanswered_is_an_error_span_with_its_exception(aws, spans):
    from opentelemetry.trace import StatusCode

    from chalicelib.core.aws import client

    def cut(**_):
        raise ConnectionAbortedError("the connection dropped")

    client("dynamodb").meta.events.register_first("before-send.dynamodb.GetItem", cut)
    with pytest.raises(ConnectionAbortedError):
        client("dynamodb").get_item(TableName=aws["table_name"], Key={"PK": {"S": "N"}, "SK": {"S": "N"}})
    (failed,) = spans.get_finished_spans()
    assert failed.name == "DynamoDB.GetItem" and failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "ConnectionAbortedError"
    assert [event.name for event in failed.events] == ["exception"]


def test_with_tracing_off_an_aws_call_makes_no_span_and_sends_no_trace_header(aws):
    from chalicelib.core.aws import client
    from chalicelib.core.observability import _tracing

    sent = _sent_headers("dynamodb")
    client("dynamodb").get_item(TableName=aws["table_name"], Key={"PK": {"S": "NONE"}, "SK": {"S": "NONE"}})
    assert _tracing() is None and "X-Amzn-Trace-Id" not in sent[0]


def test_tracing_on_imports_no_generic_aws_instrumentation():
    code = ("import sys, app\n"
            "from chalicelib.core.observability import _tracing\n"
            "from chalicelib.core.aws import client\n"
            "assert _tracing() is not None\n"
            "client('dynamodb')\n"
            "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.instrumentation', 'wrapt'))]\n"
            "assert not loaded, loaded\n")
    env = {"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", "TRACING": "true"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=False, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
