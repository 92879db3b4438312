"""Business metrics leave each invocation as one embedded-metric-format line."""
from __future__ import annotations

import json

from tests.fakes import auth
from tests.shop import checkout, product, put_in_basket


def emf_lines(output: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def test_checkout_emits_a_checkouts_metric(client, capsys):
    mug = product(client, stock=3)
    put_in_basket(client, auth("ann"), mug["id"], 1)
    capsys.readouterr()
    checkout(client, auth("ann"))
    metrics = emf_lines(capsys.readouterr().out)
    assert len(metrics) == 1
    names = [m["Name"] for m in metrics[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert names == ["CheckoutsAccepted"] and metrics[0]["CheckoutsAccepted"] == [1.0]
    assert metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Shop"


def test_stock_rejections_are_counted(client, capsys):
    mug = product(client, stock=1)
    put_in_basket(client, auth("ann"), mug["id"], 1)
    from chalicelib.catalogue.repository import ProductRepository

    ProductRepository().adjust_stock(mug["id"], -1)
    capsys.readouterr()
    assert checkout(client, auth("ann")).status_code == 409
    metrics = emf_lines(capsys.readouterr().out)
    assert metrics and "StockRejections" in metrics[0]


def test_requests_that_count_nothing_print_no_metrics(client, capsys):
    client.http.get("/health")
    assert emf_lines(capsys.readouterr().out) == []


def test_tracing_is_off_unless_the_stage_turns_it_on(client):
    from chalicelib.core.observability import _tracing

    client.http.get("/health")
    assert _tracing() is None


def test_every_answer_logs_one_line_joining_the_gateways_request_id_to_the_correlation_id(client, capsys):
    capsys.readouterr()
    response = client.http.get("/products/nope", headers={"X-Correlation-Id": "corr-12345678"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (answered,) = [line for line in lines if line.get("message") == "answered"]
    assert answered["correlationId"] == "corr-12345678"
    assert answered["requestId"] == json.loads(response.body)["requestId"]
    assert (answered["method"], answered["route"], answered["status"]) == ("GET", "/products/{product_id}", 404)


def test_a_request_that_counts_nothing_never_imports_powertools():
    """A cold start pays for what its request uses: log lines come from the standard library's logging, and
    Powertools (its package imports a tracer and JMESPath helpers too) only once something is counted."""
    from tests.core.processes import run_fresh

    event = {"resource": "/orders/{order_id}", "path": "/orders/o1", "httpMethod": "GET", "headers": {},
             "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
             "pathParameters": {"order_id": "o1"}, "stageVariables": None, "body": None, "isBase64Encoded": False,
             "requestContext": {"resourcePath": "/orders/{order_id}", "httpMethod": "GET", "stage": "api",
                                "requestId": "cold-request", "identity": {"sourceIp": "127.0.0.1"}}}
    code = ("import sys, types, app\n"
            f"answer = app.app({event!r}, types.SimpleNamespace(aws_request_id='cold-request', function_name='f',"
            " memory_limit_in_mb=512, get_remaining_time_in_millis=lambda: 10_000))\n"
            "assert answer['statusCode'] == 401, answer\n"
            "assert not [m for m in sys.modules if m.startswith('aws_lambda_powertools')]\n"
            "from chalicelib.core import metrics\n"
            "metrics.count('Counted')\n"
            "assert 'aws_lambda_powertools' in sys.modules\n")
    (answered,) = [json.loads(line) for line in run_fresh(code).splitlines() if '"answered"' in line]
    assert answered["status"] == 401 and answered["requestId"] == "cold-request"


def test_a_log_line_is_one_json_object_with_its_location_extras_exception_and_trace(monkeypatch):
    import decimal
    import logging
    import re
    import sys

    from chalicelib.core.logs import JsonFormatter

    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-6740f000-0123456789abcdef01234567;Parent=53995c3f42cd8ad8")
    try:
        raise ValueError("refused")
    except ValueError:
        record = logging.LogRecord("shop.orders", logging.ERROR, __file__, 7, "order %s refused", ("o1",),
                                   sys.exc_info(), func="decide")
    record.__dict__.update(orderId="o1", amount=decimal.Decimal("1.50"), absent=None)
    line = json.loads(JsonFormatter().format(record))
    assert {key: line[key] for key in ("level", "location", "message", "service", "orderId", "amount")} == {
        "level": "ERROR", "location": "decide:7", "message": "order o1 refused", "service": "shop",
        "orderId": "o1", "amount": "1.50"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\+0000", line["timestamp"])
    assert "absent" not in line and line["xray_trace_id"] == "1-6740f000-0123456789abcdef01234567"
    assert line["exception_name"] == "ValueError" and line["exception"].endswith("ValueError: refused")
    assert line["stack_trace"]["type"] == "ValueError" and line["stack_trace"]["frames"][0]["line"] > 0
    record = logging.LogRecord("shop", logging.INFO, __file__, 9, '{"kind": "json"}', (), None)
    assert json.loads(JsonFormatter().format(record))["message"] == {"kind": "json"}
