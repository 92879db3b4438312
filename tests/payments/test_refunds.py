"""Refunds: asked for by staff once per Idempotency-Key, never beyond what was captured, confirmed or refused
by the provider through the payment webhook."""
from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.payments.signature import sign
from tests.fakes import ADMIN, auth
from tests.shop import WEBHOOK_SECRET, call, pay, placed_order, stock_of, sweep

ANN = auth("ann")
pytestmark = pytest.mark.usefixtures("bus")  # every event the app publishes is captured


@pytest.fixture
def counted(monkeypatch):
    from chalicelib.core import metrics

    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(metrics, "count", lambda name, value=1: seen.append((name, value)))
    return seen


def refund(client, order, payload=None, key=None, headers=ADMIN):
    return call(client, "post", f"/admin/orders/{order['id']}/refunds",
                {"reason": "customer asked"} if payload is None else payload,
                {**headers, "Idempotency-Key": key or uuid.uuid4().hex})


def provider(client, order, refund_id, kind="refund.succeeded", amount=None, event_id=None, currency=None):
    body = {"id": event_id or f"evt_{uuid.uuid4().hex[:10]}", "type": kind, "orderId": order["id"],
            "refundId": refund_id, "amount": amount, "currency": currency or order["currency"]}
    raw = json.dumps(body).encode()
    response = client.http.post("/webhooks/payments", body=raw, headers={
        "Content-Type": "application/json", "X-Signature": sign(WEBHOOK_SECRET, raw)})
    response.json = json.loads(response.body) if response.body else None
    return response


def order_of(client, order):
    return call(client, "get", f"/orders/{order['id']}", headers=ADMIN).json


def paid_order(client, **kwargs):
    order, product_id = placed_order(client, ANN, **kwargs)
    assert pay(client, order).json["outcome"] == "APPLIED"
    return order_of(client, order), product_id


def delivered_order(client, **kwargs):
    order, product_id = paid_order(client, **kwargs)
    for status in ("SHIPPED", "DELIVERED"):
        assert call(client, "post", f"/admin/orders/{order['id']}/status", {"status": status}, ADMIN).status_code == 200
    return order_of(client, order), product_id


# --- asking -----------------------------------------------------------------------------------

def test_a_refund_defaults_to_everything_captured_and_is_requested(client, bus, counted):
    order, _ = paid_order(client, quantity=2, price=1500)
    response = refund(client, order)
    assert response.status_code == 201, response.body
    body = response.json
    assert set(body) == {"id", "orderId", "amount", "currency", "status", "reason", "createdAt"}
    assert (body["orderId"], body["amount"], body["currency"], body["status"], body["reason"]) == (
        order["id"], 3000, "EUR", "REQUESTED", "customer asked")
    requested = bus.of_type("RefundRequested")
    assert [e.data["refundId"] for e in requested] == [body["id"]] and requested[0].data["amount"] == 3000
    shown = order_of(client, order)
    assert shown["refundedAmount"] == 0
    assert [(r["id"], r["amount"], r["status"]) for r in shown["refunds"]] == [(body["id"], 3000, "REQUESTED")]
    assert ("RefundsRequested", 1) in counted
    listed = call(client, "get", f"/admin/orders/{order['id']}/refunds", headers=ADMIN)
    assert listed.status_code == 200 and listed.json == {"items": [body], "nextCursor": None}


def test_partial_refunds_add_up_to_the_captured_amount_and_no_further(client):
    order, _ = paid_order(client, price=1000)
    assert refund(client, order, {"amount": 300, "reason": "scratched"}).json["amount"] == 300
    too_much = refund(client, order, {"amount": 701, "reason": "more"})
    assert too_much.status_code == 409 and too_much.json["error"]["code"] == "REFUND_EXCEEDS_PAYMENT"
    assert too_much.json["error"]["details"][0]["refundable"] == 700
    assert refund(client, order).json["amount"] == 700  # the rest
    nothing = refund(client, order)
    assert nothing.status_code == 409 and nothing.json["error"]["code"] == "NOTHING_TO_REFUND"


def test_an_order_nothing_was_captured_for_has_nothing_to_refund(client):
    order, _ = placed_order(client, ANN)
    response = refund(client, order)
    assert response.status_code == 409 and response.json["error"]["code"] == "NOTHING_TO_REFUND"
    explicit = refund(client, order, {"amount": 1, "reason": "x"})
    assert explicit.status_code == 409 and explicit.json["error"]["code"] == "NOTHING_TO_REFUND"


def test_an_unknown_order_answers_404(client):
    response = refund(client, {"id": "no-such-order"})
    assert response.status_code == 404
    assert call(client, "get", "/admin/orders/no-such-order/refunds", headers=ADMIN).status_code == 404


def test_the_same_key_and_body_answer_the_same_refund_and_another_body_is_422(client, bus):
    order, _ = paid_order(client)
    first = refund(client, order, {"amount": 400, "reason": "dent"}, key="refund-key-1")
    again = refund(client, order, {"amount": 400, "reason": "dent"}, key="refund-key-1")
    assert first.status_code == again.status_code == 201 and again.json == first.json
    other = refund(client, order, {"amount": 500, "reason": "dent"}, key="refund-key-1")
    assert other.status_code == 422 and other.json["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(bus.of_type("RefundRequested")) == 1
    # Replaying the whole-amount default after it used everything up still answers the refund written.
    whole = refund(client, order, key="refund-key-2")
    assert refund(client, order, key="refund-key-2").json == whole.json


@pytest.mark.parametrize("payload,field", [
    ({"reason": "x", "extra": 1}, "extra"),
    ({"amount": 0, "reason": "x"}, "amount"),
    ({"amount": -5, "reason": "x"}, "amount"),
    ({"amount": "10", "reason": "x"}, "amount"),
    ({}, "reason"),
    ({"reason": ""}, "reason"),
    ({"reason": "x", "restock": [{"productId": "p", "quantity": 0}]}, "restock.0.quantity"),
    ({"reason": "x", "restock": [{"productId": "p", "quantity": 1, "price": 3}]}, "restock.0.price"),
])
def test_refund_bodies_are_strict(client, payload, field):
    order, _ = paid_order(client)
    response = refund(client, order, payload)
    assert response.status_code == 422, response.body
    assert any(d["field"].startswith(field) for d in response.json["error"]["details"]), response.body


def test_the_idempotency_key_is_required_and_well_formed(client):
    order, _ = paid_order(client)
    missing = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"reason": "x"}, ADMIN)
    assert missing.status_code == 400 and missing.json["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    bad = refund(client, order, key="short")
    assert bad.status_code == 400 and bad.json["error"]["code"] == "IDEMPOTENCY_KEY_INVALID"


def test_only_staff_may_refund_and_list_refunds(client):
    order, _ = paid_order(client)
    assert refund(client, order, headers=ANN).status_code == 403
    assert call(client, "get", f"/admin/orders/{order['id']}/refunds", headers=ANN).status_code == 403


# --- restocking -------------------------------------------------------------------------------

def test_restocking_puts_the_named_units_back_once(client):
    order, product_id = delivered_order(client, quantity=3, stock=5)
    assert stock_of(client, product_id) == 2
    first = refund(client, order, {"amount": 100, "reason": "two broken", "restock": [
        {"productId": product_id, "quantity": 2}]})
    assert first.status_code == 201, first.body
    assert stock_of(client, product_id) == 4
    over = refund(client, order, {"amount": 100, "reason": "again", "restock": [
        {"productId": product_id, "quantity": 2}]})
    assert over.status_code == 409 and over.json["error"]["code"] == "RESTOCK_EXCEEDS_ORDER"
    assert over.json["error"]["details"][0]["available"] == 1
    assert stock_of(client, product_id) == 4
    unknown = refund(client, order, {"reason": "x", "restock": [{"productId": "not-bought", "quantity": 1}]})
    assert unknown.status_code == 422 and unknown.json["error"]["details"][0]["issue"] == "not_in_order"


def test_units_not_out_of_the_warehouse_cannot_be_restocked(client):
    order, product_id = paid_order(client, quantity=1)
    response = refund(client, order, {"reason": "x", "restock": [{"productId": product_id, "quantity": 1}]})
    assert response.status_code == 409 and response.json["error"]["code"] == "RESTOCK_NOT_ALLOWED"


# --- the provider's answer --------------------------------------------------------------------

def test_a_confirmed_refund_of_a_cancelled_order_clears_the_refund_due(client, counted):
    order, _ = paid_order(client, price=1200)
    cancelled = call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN).json
    assert cancelled["refundDue"] is True
    asked = refund(client, order).json  # one call refunds what the cancelled order holds
    assert asked["amount"] == 1200
    confirmed = provider(client, order, asked["id"], amount=1200, event_id="evt_refund_ok")
    assert confirmed.status_code == 200
    assert confirmed.json == {"received": True, "duplicate": False, "outcome": "APPLIED", "orderId": order["id"],
                              "orderStatus": "CANCELLED", "refundDue": False}
    settled = order_of(client, order)
    assert (settled["refundedAmount"], settled["refundDue"]) == (1200, False)
    assert settled["refunds"][0]["status"] == "SUCCEEDED"
    listed = call(client, "get", f"/admin/orders/{order['id']}/refunds", headers=ADMIN).json["items"]
    assert listed[0]["status"] == "SUCCEEDED"
    repeat = provider(client, order, asked["id"], amount=1200, event_id="evt_refund_ok")
    assert repeat.status_code == 200 and repeat.json["duplicate"] is True
    assert order_of(client, order)["refundedAmount"] == 1200
    assert ("RefundsSucceeded", 1) in counted


def test_a_refund_of_money_charged_twice_leaves_the_paid_order_keeping_its_payment(client):
    order, _ = paid_order(client, price=800)
    assert pay(client, order).json["refundDue"] is True  # charged twice
    asked = refund(client, order, {"amount": 800, "reason": "charged twice"}).json
    provider(client, order, asked["id"], amount=800)
    settled = order_of(client, order)
    assert (settled["status"], settled["capturedAmount"], settled["refundedAmount"], settled["refundDue"]) == (
        "PAID", 1600, 800, False)


def test_a_failed_refund_frees_its_amount_for_another_request(client, counted):
    order, _ = paid_order(client, price=900)
    asked = refund(client, order).json
    assert refund(client, order).json["error"]["code"] == "NOTHING_TO_REFUND"
    failed = provider(client, order, asked["id"], "refund.failed", amount=900)
    assert failed.status_code == 200 and failed.json["outcome"] == "APPLIED"
    shown = order_of(client, order)
    assert (shown["refundedAmount"], shown["refunds"][0]["status"]) == (0, "FAILED")
    assert ("RefundsFailed", 1) in counted
    retry = refund(client, order)
    assert retry.status_code == 201 and retry.json["amount"] == 900


def test_an_unknown_refund_or_a_mismatch_is_recorded_for_review(client):
    order, _ = paid_order(client, price=700)
    asked = refund(client, order).json
    unknown = provider(client, order, "no-such-refund", amount=700, event_id="evt_unknown")
    short = provider(client, order, asked["id"], amount=699, event_id="evt_short")
    other_currency = provider(client, order, asked["id"], amount=700, currency="USD", event_id="evt_usd")
    for response in (unknown, short, other_currency):
        assert response.status_code == 200 and response.json["outcome"] == "REVIEW", response.body
    review = call(client, "get", "/admin/payments/review", headers=ADMIN).json["items"]
    assert {e["id"]: e["reason"] for e in review} == {
        "evt_unknown": "unknown refund", "evt_short": "expected 700 EUR, got 699 EUR",
        "evt_usd": "expected 700 EUR, got 700 USD"}
    assert order_of(client, order)["refunds"][0]["status"] == "REQUESTED"


def test_the_same_verdict_again_on_a_settled_refund_is_recorded_and_ignored(client):
    order, _ = paid_order(client, price=700)
    asked = refund(client, order).json
    provider(client, order, asked["id"], amount=700)
    again = provider(client, order, asked["id"], "refund.succeeded", amount=700)
    assert again.status_code == 200 and again.json["outcome"] == "IGNORED"
    assert order_of(client, order)["refundedAmount"] == 700


@pytest.mark.parametrize("first,then", [("refund.succeeded", "refund.failed"), ("refund.failed", "refund.succeeded")])
def test_a_verdict_contradicting_a_settled_refund_is_recorded_for_review(client, first, then):
    """A failure after a success (or the reverse) was ignored: money may have left twice, or never."""
    order, _ = paid_order(client, price=700)
    asked = refund(client, order).json
    provider(client, order, asked["id"], first, amount=700)
    settled = order_of(client, order)
    late = provider(client, order, asked["id"], then, amount=700, event_id="evt_contradiction")
    assert late.status_code == 200 and late.json["outcome"] == "REVIEW", late.body
    review = call(client, "get", "/admin/payments/review", headers=ADMIN).json["items"]
    status = "SUCCEEDED" if first == "refund.succeeded" else "FAILED"
    assert [(e["id"], e["reason"]) for e in review] == [
        ("evt_contradiction", f"refund was {status} already; this verdict says {'FAILED' if status == 'SUCCEEDED' else 'SUCCEEDED'}")]
    after = order_of(client, order)
    assert (after["refundedAmount"], after["refunds"], after["version"]) == (
        settled["refundedAmount"], settled["refunds"], settled["version"])


def test_refund_events_name_their_refund_and_payment_events_do_not(client):
    order, _ = paid_order(client)
    raw_refund = {"id": "evt_r", "type": "refund.succeeded", "orderId": order["id"], "amount": 1, "currency": "EUR"}
    raw_payment = {"id": "evt_p", "type": "payment.succeeded", "orderId": order["id"], "refundId": "r",
                   "amount": 1, "currency": "EUR"}
    for body in (raw_refund, raw_payment):
        raw = json.dumps(body).encode()
        response = client.http.post("/webhooks/payments", body=raw, headers={
            "Content-Type": "application/json", "X-Signature": sign(WEBHOOK_SECRET, raw)})
        assert response.status_code == 422


# --- races --------------------------------------------------------------------------------------

def test_two_staff_refunding_everything_at_the_same_moment_refund_it_once(client, bus, between):
    from chalicelib.payments.repository import RefundRepository

    order, _ = paid_order(client, price=2500)
    first = {}
    between(RefundRepository, "commit", lambda: first.update(response=refund(client, order)))
    second = refund(client, order)
    answers = sorted([first["response"].status_code, second.status_code])
    assert answers == [201, 409], (first["response"].body, second.body)
    assert second.json["error"]["code"] == "NOTHING_TO_REFUND"
    assert [r["amount"] for r in order_of(client, order)["refunds"]] == [2500]
    assert len(bus.of_type("RefundRequested")) == 1


def test_two_staff_restocking_the_last_units_at_once_restock_them_once(client, between):
    from chalicelib.payments.repository import RefundRepository

    order, product_id = delivered_order(client, quantity=2, stock=2)
    lines = [{"productId": product_id, "quantity": 2}]
    first = {}
    between(RefundRepository, "commit", lambda: first.update(
        response=refund(client, order, {"amount": 10, "reason": "back", "restock": lines})))
    second = refund(client, order, {"amount": 10, "reason": "back", "restock": lines})
    assert first["response"].status_code == 201
    assert second.status_code == 409 and second.json["error"]["code"] == "RESTOCK_EXCEEDS_ORDER"
    assert stock_of(client, product_id) == 2


def test_a_confirmation_racing_a_transition_is_applied_once(client, between):
    from chalicelib.orders.repository import OrderRepository

    order, _ = delivered_order(client, price=600)
    asked = refund(client, order, {"amount": 200, "reason": "late"}).json
    between(OrderRepository, "save", lambda: provider(client, order, asked["id"], amount=200, event_id="evt_a"))
    second = provider(client, order, asked["id"], amount=200, event_id="evt_b")
    assert second.status_code == 200 and second.json["outcome"] == "IGNORED"
    assert order_of(client, order)["refundedAmount"] == 200


# --- the sweep's reminder -----------------------------------------------------------------------

def test_the_sweep_counts_orders_owed_a_refund_for_more_than_a_day(client, counted, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from chalicelib.core import ids

    order, _ = paid_order(client)
    call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN)
    settled, _ = paid_order(client)
    call(client, "post", f"/orders/{settled['id']}/cancel", headers=ANN)
    provider(client, settled, refund(client, settled).json["id"], amount=settled["subtotal"])
    sweep(client)
    assert not [c for c in counted if c[0] == "RefundsDueOverADay"]
    later = datetime.now(timezone.utc) + timedelta(days=1, minutes=1)
    ids.set_clock(lambda: later)
    try:
        sweep(client)
    finally:
        ids.set_clock(None)
    assert ("RefundsDueOverADay", 1) in counted
