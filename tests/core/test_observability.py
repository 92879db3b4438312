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

    ProductRepository().adjust_stock(mug["id"], -1, "2026-01-01T00:00:00.000Z")
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
