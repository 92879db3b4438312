"""One correlation id follows a request through every event, handler, record and log line."""
from __future__ import annotations

import json
import re

import pytest

from tests.fakes import ADMIN, auth, token_for
from tests.shop import ADDRESS, Bus, call, deliver, eventbridge_body, product, put_in_basket, ship_basket, sqs_event

ANN = auth("ann", email="ann.secret@example.com")


def test_correlation_id_survives_http_bus_queue_handler_and_audit(client, monkeypatch, capsys):
    bus = Bus()
    for where in ("chalicelib.core.outbox.publish", "chalicelib.orders.pipeline.publish",
                  "chalicelib.core.events.publish"):
        monkeypatch.setattr(where, bus.publish)
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    ship_basket(client, ANN)
    response = call(client, "post", "/basket/checkout", {"shippingAddress": ADDRESS},
                    {**ANN, "Idempotency-Key": "corr-key-0001", "X-Correlation-Id": "trace-checkout-1"})
    assert response.headers["X-Correlation-Id"] == "trace-checkout-1"
    requested = bus.of_type("CheckoutRequested")[0]
    assert requested.correlationId == "trace-checkout-1"

    deliver(client, [eventbridge_body(requested)])  # a different Lambda invocation, no HTTP request
    created = bus.of_type("OrderCreated")[0]
    assert created.correlationId == "trace-checkout-1"

    client.lambda_.invoke("record_audit", sqs_event(client, [eventbridge_body(requested), eventbridge_body(created)],
                                                    queue="shop-local-audit"))
    trail = call(client, "get", "/admin/audit", headers=ADMIN).json["items"]
    assert {r["correlationId"] for r in trail} == {"trace-checkout-1"}

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    pipeline_lines = [line for line in lines if line.get("logger") == "shop.orders.pipeline"]
    assert pipeline_lines and all(line["correlationId"] == "trace-checkout-1" for line in pipeline_lines)


def test_log_lines_are_json_with_ids_and_hold_no_tokens_or_emails(client, monkeypatch, capsys):
    from chalicelib.catalogue.repository import ProductRepository

    def broken(self, product_id):
        raise RuntimeError("boom")

    monkeypatch.setattr(ProductRepository, "get", broken)
    headers = {"Authorization": token_for("ann", email="ann.secret@example.com"), "X-Correlation-Id": "c-42"}
    client.http.get("/products/x", headers=headers)
    call(client, "post", "/auth/login", {"email": "ann.secret@example.com", "password": "Wrong1pass"})
    output = capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert lines, "expected log lines"
    errors = [line for line in lines if line.get("level") == "ERROR"]
    assert errors and all(line["correlationId"] == "c-42" and line["requestId"] for line in errors)
    assert "ann.secret@example.com" not in output
    assert headers["Authorization"] not in output


@pytest.mark.parametrize("given", ["trace-1\n", "trace-1\r\nSet-Cookie: x=1", "\u00e9t\u00e9", "x" * 129, ""])
def test_a_correlation_id_that_is_not_one_safe_token_is_replaced_by_the_request_id(client, given):
    response = client.http.get("/health", headers={"X-Correlation-Id": given})
    assert response.status_code == 200
    echoed = response.headers["X-Correlation-Id"]
    assert echoed != given and re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", echoed), echoed
