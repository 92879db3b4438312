"""The payment webhook: signed, recent, matching, and applied once per provider event."""
from __future__ import annotations

import json
import time

import pytest

from chalicelib.payments.signature import SignatureError, sign, verify
from tests.fakes import auth
from tests.shop import Bus, call, placed_order, stock_of

ANN = auth("ann")
SECRET = "local-webhook-secret"  # the documented local default


@pytest.fixture(autouse=True)
def bus(monkeypatch):
    captured = Bus()
    monkeypatch.setattr("chalicelib.core.outbox.publish", captured.publish)
    from chalicelib.payments.service import webhook_secret

    webhook_secret.cache_clear()
    yield captured
    webhook_secret.cache_clear()


def notify(client, payload, *, secret=SECRET, timestamp=None, header=None):
    raw = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    signature = header if header is not None else sign(secret, raw, timestamp)
    response = client.http.post("/webhooks/payments", body=raw,
                                headers={"Content-Type": "application/json", "X-Signature": signature})
    response.json = json.loads(response.body) if response.body else None
    return response


def payment(order, kind="payment.succeeded", event_id="evt_1", **overrides):
    return {"id": event_id, "type": kind, "orderId": order["id"], "amount": order["subtotal"],
            "currency": order["currency"], **overrides}


def test_signed_success_marks_the_order_paid(client, bus):
    order, _ = placed_order(client, ANN)
    response = notify(client, payment(order))
    assert response.status_code == 200
    assert response.json == {"received": True, "duplicate": False, "orderId": order["id"], "orderStatus": "PAID"}
    assert call(client, "get", f"/orders/{order['id']}", headers=ANN).json["status"] == "PAID"
    assert bus.of_type("OrderStatusChanged")[-1].actor == "payment-provider"


def test_failed_payment_returns_the_stock(client):
    order, product_id = placed_order(client, ANN, quantity=3, stock=5)
    assert stock_of(client, product_id) == 2
    response = notify(client, payment(order, "payment.failed"))
    assert response.json["orderStatus"] == "PAYMENT_FAILED"
    assert stock_of(client, product_id) == 5


def test_the_same_provider_event_twice_changes_state_once(client):
    order, product_id = placed_order(client, ANN, quantity=1, stock=5)
    assert notify(client, payment(order, "payment.failed", event_id="evt_dup")).json["duplicate"] is False
    again = notify(client, payment(order, "payment.failed", event_id="evt_dup"))
    assert again.status_code == 200 and again.json["duplicate"] is True
    assert stock_of(client, product_id) == 5


def test_a_second_success_under_a_new_id_is_harmless(client):
    order, _ = placed_order(client, ANN)
    notify(client, payment(order, event_id="evt_a"))
    again = notify(client, payment(order, event_id="evt_b"))
    assert again.status_code == 200 and again.json["duplicate"] is True


def test_a_late_failure_after_success_is_refused(client):
    order, _ = placed_order(client, ANN)
    notify(client, payment(order, event_id="evt_ok"))
    late = notify(client, payment(order, "payment.failed", event_id="evt_late"))
    assert late.status_code == 409
    assert call(client, "get", f"/orders/{order['id']}", headers=ANN).json["status"] == "PAID"


@pytest.mark.parametrize("tamper", ["wrong-secret", "old", "future", "garbage", "missing", "body-changed"])
def test_unsigned_or_tampered_notifications_are_refused(client, tamper):
    order, _ = placed_order(client, ANN)
    body = payment(order)
    raw = json.dumps(body).encode()
    kwargs = {
        "wrong-secret": {"secret": "guessed"},
        "old": {"timestamp": int(time.time()) - 301},
        "future": {"timestamp": int(time.time()) + 301},
        "garbage": {"header": "t=abc,v1=zz"},
        "missing": {"header": ""},
        "body-changed": {"header": sign(SECRET, json.dumps({**body, "amount": 1}).encode())},
    }[tamper]
    response = notify(client, raw, **kwargs)
    assert response.status_code == 401 and response.json["error"]["code"] == "INVALID_SIGNATURE"
    assert call(client, "get", f"/orders/{order['id']}", headers=ANN).json["status"] == "PENDING"


def test_amount_or_currency_mismatch_is_refused(client):
    order, _ = placed_order(client, ANN)
    assert notify(client, payment(order, amount=order["subtotal"] - 1)).status_code == 409
    assert notify(client, payment(order, currency="USD", event_id="evt_2")).status_code == 409
    assert call(client, "get", f"/orders/{order['id']}", headers=ANN).json["status"] == "PENDING"


def test_unknown_order_and_bad_bodies(client):
    order, _ = placed_order(client, ANN)
    assert notify(client, payment(order, orderId="nope")).status_code == 404
    assert notify(client, b"{not json").status_code == 400
    assert notify(client, payment(order, type="payment.refunded")).status_code == 422
    assert notify(client, {**payment(order), "extra": 1}).status_code == 422


def test_signature_accepts_a_rotated_secret_list():
    raw = b'{"a":1}'
    now = 1_700_000_000
    old = sign("old-secret", raw, now).split("v1=")[1]
    new = sign("new-secret", raw, now)
    verify("new-secret", f"{new},v1={old}", raw, now=now)
    with pytest.raises(SignatureError):
        verify("other", f"{new},v1={old}", raw, now=now)


def test_the_secret_comes_from_the_environment_override(client, monkeypatch):
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET", "from-make-run")
    from chalicelib.core.settings import reset_settings
    from chalicelib.payments.service import webhook_secret

    reset_settings()
    webhook_secret.cache_clear()
    assert webhook_secret() == "from-make-run"


def test_the_secret_is_read_from_ssm_when_configured(aws, monkeypatch):
    import boto3

    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/shop/dev/webhook-secret", Value="s3cret-from-ssm", Type="SecureString")
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET_PARAMETER", "/shop/dev/webhook-secret")
    from chalicelib.core.settings import reset_settings
    from chalicelib.payments.service import webhook_secret

    reset_settings()
    webhook_secret.cache_clear()
    assert webhook_secret() == "s3cret-from-ssm"
