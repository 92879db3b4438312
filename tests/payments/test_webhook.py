"""The payment webhook: signed, recent, matching, and applied once per provider event."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.payments.signature import SignatureError, sign, verify
from tests.fakes import auth
from tests.shop import Bus, call, placed_order, stock_of

ANN = auth("ann")
SECRET = "local-webhook-secret"  # the documented local default


@pytest.fixture(autouse=True)
def bus(monkeypatch):
    captured = Bus()
    monkeypatch.setattr("chalicelib.core.outbox.publish", captured.publish)
    from chalicelib.payments.webhook import webhook_secret

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


def order_of(client, order):
    return call(client, "get", f"/orders/{order['id']}", headers=ANN).json


def review(client):
    from tests.fakes import ADMIN

    return call(client, "get", "/admin/payments/review", headers=ADMIN).json["items"]


def test_signed_success_marks_the_order_paid_and_lists_the_payment(client, bus):
    order, _ = placed_order(client, ANN)
    response = notify(client, payment(order))
    assert response.status_code == 200
    assert response.json == {"received": True, "duplicate": False, "outcome": "APPLIED", "orderId": order["id"],
                             "orderStatus": "PAID", "refundDue": False}
    paid = order_of(client, order)
    assert paid["status"] == "PAID" and paid["refundDue"] is False and paid["capturedAmount"] == order["subtotal"]
    assert [(p["id"], p["type"], p["outcome"]) for p in paid["payments"]] == [
        ("evt_1", "payment.succeeded", "APPLIED")]
    assert bus.of_type("OrderStatusChanged")[-1].actor == "payment-provider"
    assert bus.of_type("PaymentRecorded")[-1].data["outcome"] == "APPLIED"


def test_failed_payment_returns_the_stock(client):
    order, product_id = placed_order(client, ANN, quantity=3, stock=5)
    assert stock_of(client, product_id) == 2
    response = notify(client, payment(order, "payment.failed"))
    assert response.json["orderStatus"] == "PAYMENT_FAILED" and response.json["outcome"] == "APPLIED"
    assert stock_of(client, product_id) == 5


def test_the_same_provider_event_twice_changes_state_once(client):
    order, product_id = placed_order(client, ANN, quantity=1, stock=5)
    first = notify(client, payment(order, "payment.failed", event_id="evt_dup"))
    again = notify(client, payment(order, "payment.failed", event_id="evt_dup"))
    assert first.json["duplicate"] is False
    assert again.status_code == 200 and again.json == {**first.json, "duplicate": True}
    assert stock_of(client, product_id) == 5
    assert len(order_of(client, order)["payments"]) == 1


def test_a_second_charge_is_recorded_and_flagged_for_refund(client):
    order, _ = placed_order(client, ANN)
    notify(client, payment(order, event_id="evt_a"))
    again = notify(client, payment(order, event_id="evt_b"))
    assert again.status_code == 200
    assert (again.json["duplicate"], again.json["outcome"], again.json["refundDue"]) == (False, "REFUND_DUE", True)
    charged_twice = order_of(client, order)
    assert charged_twice["status"] == "PAID" and charged_twice["refundDue"] is True
    assert charged_twice["capturedAmount"] == 2 * order["subtotal"]
    assert [p["outcome"] for p in charged_twice["payments"]] == ["APPLIED", "REFUND_DUE"]


def test_a_failure_after_a_success_is_recorded_and_changes_nothing(client):
    order, _ = placed_order(client, ANN)
    notify(client, payment(order, event_id="evt_ok"))
    late = notify(client, payment(order, "payment.failed", event_id="evt_late"))
    assert late.status_code == 200 and late.json["outcome"] == "IGNORED" and late.json["orderStatus"] == "PAID"
    kept = order_of(client, order)
    assert kept["status"] == "PAID" and kept["refundDue"] is False
    assert [p["outcome"] for p in kept["payments"]] == ["APPLIED", "IGNORED"]


def test_a_success_after_a_failure_is_money_to_give_back(client):
    order, product_id = placed_order(client, ANN, quantity=1, stock=3)
    notify(client, payment(order, "payment.failed", event_id="evt_no"))
    late = notify(client, payment(order, event_id="evt_yes"))
    assert late.status_code == 200 and (late.json["outcome"], late.json["refundDue"]) == ("REFUND_DUE", True)
    failed = order_of(client, order)
    assert failed["status"] == "PAYMENT_FAILED" and failed["refundDue"] is True
    assert stock_of(client, product_id) == 3  # returned once, on the failure


def test_a_payment_for_a_cancelled_order_is_acknowledged_and_flagged(client, monkeypatch):
    from chalicelib.core import metrics

    counted = []
    monkeypatch.setattr(metrics, "count", lambda name, value=1: counted.append((name, value)))
    order, _ = placed_order(client, ANN)
    assert call(client, "post", f"/orders/{order['id']}/cancel", headers=ANN).json["refundDue"] is False
    late = notify(client, payment(order))
    assert late.status_code == 200 and late.json["outcome"] == "REFUND_DUE"
    cancelled = order_of(client, order)
    assert (cancelled["status"], cancelled["refundDue"]) == ("CANCELLED", True)
    assert ("MoneyOwedBack", order["subtotal"]) in counted


def test_amount_or_currency_mismatch_is_recorded_for_review_and_acknowledged(client):
    order, _ = placed_order(client, ANN)
    short = notify(client, payment(order, amount=order["subtotal"] - 1))
    wrong_currency = notify(client, payment(order, currency="USD", event_id="evt_2"))
    for response in (short, wrong_currency):
        assert response.status_code == 200 and response.json["outcome"] == "REVIEW"
    untouched = order_of(client, order)
    assert (untouched["status"], untouched["refundDue"], untouched["payments"]) == ("PENDING", False, [])
    listed = review(client)
    assert [(e["id"], e["orderId"]) for e in listed] == [("evt_2", order["id"]), ("evt_1", order["id"])]
    assert listed[0]["reason"] == f"expected {order['subtotal']} EUR, got {order['subtotal']} USD"


def test_an_unknown_order_is_recorded_for_review_and_acknowledged(client):
    response = notify(client, {"id": "evt_x", "type": "payment.succeeded", "orderId": "nope", "amount": 500,
                               "currency": "EUR"})
    assert response.status_code == 200
    assert response.json == {"received": True, "duplicate": False, "outcome": "REVIEW", "orderId": "nope",
                             "orderStatus": None, "refundDue": False}
    assert [(e["id"], e["reason"]) for e in review(client)] == [("evt_x", "unknown order")]
    assert notify(client, {"id": "evt_x", "type": "payment.succeeded", "orderId": "nope", "amount": 500,
                           "currency": "EUR"}).json["duplicate"] is True


def test_malformed_bodies_are_refused_and_recorded_nowhere(client):
    order, _ = placed_order(client, ANN)
    assert notify(client, b"{not json").status_code == 400
    assert notify(client, payment(order, type="payment.refunded")).status_code == 422
    assert notify(client, {**payment(order), "extra": 1}).status_code == 422
    assert review(client) == [] and order_of(client, order)["payments"] == []


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
    assert order_of(client, order)["status"] == "PENDING" and order_of(client, order)["payments"] == []
    assert review(client) == []


def test_an_unsigned_call_with_a_400_digit_timestamp_is_refused_with_401(client):
    """A timestamp too large for a float once made the tolerance check raise (500)."""
    order, _ = placed_order(client, ANN)
    response = notify(client, payment(order), header="t=" + "9" * 400 + ",v1=" + "0" * 64)
    assert response.status_code == 401 and response.json["error"]["code"] == "INVALID_SIGNATURE", response.body
    assert set(response.json) == {"error", "requestId"}
    assert order_of(client, order)["payments"] == [] and review(client) == []


def test_signature_headers_of_any_shape_are_refused_with_401(client):
    order, _ = placed_order(client, ANN)
    for header in [
        "t={now},v1=" + "\u00e9" * 64,  # not ASCII: hmac.compare_digest raised TypeError
        "t={now},v1=\udc80",  # a lone surrogate
        "t=\u0661\u0662\u0663,v1=" + "0" * 64,  # digits of another script, which int() takes
        "t=-{now},v1=" + "0" * 64, "t=+{now},v1=" + "0" * 64, "t= {now} ,v1=" + "0" * 64, "t={now}_0,v1=" + "0" * 64,
        "t=1e9,v1=" + "0" * 64, "t=" + "9" * 5000, "t={now},t={now},v1=" + "0" * 64, "\x00", ",,,", "=",
    ]:
        response = notify(client, payment(order), header=header.format(now=int(time.time())))
        assert response.status_code == 401 and response.json["error"]["code"] == "INVALID_SIGNATURE", (
            header, response.body)
    assert order_of(client, order)["payments"] == [] and review(client) == []


@given(header=st.one_of(st.text(max_size=1100), st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
                        st.builds(lambda t, v: f"t={t},v1={v}", st.text(max_size=500), st.text(max_size=80)),
                        st.builds(lambda t, v: f"t={t},v1={v}",
                                  st.one_of(st.integers(1_700_000_000 - 400, 1_700_000_000 + 400),
                                            st.integers(10**300, 10**600), st.integers(-10**600, 0)),
                                  st.text(alphabet="0123456789abcdef\u00e9\udc80", max_size=70))))
@settings(max_examples=300, deadline=None)
def test_verify_refuses_every_header_it_cannot_check_with_signature_error(header):
    try:
        verify(SECRET, header, b'{"id":"evt"}', now=1_700_000_000)
    except SignatureError:
        return
    pytest.fail(f"accepted {header!r}")


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
    from chalicelib.payments.webhook import webhook_secret

    reset_settings()
    webhook_secret.cache_clear()
    assert webhook_secret() == "from-make-run"


def test_the_secret_is_read_from_ssm_when_configured(aws, monkeypatch):
    import boto3

    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/shop/dev/webhook-secret", Value="s3cret-from-ssm", Type="SecureString")
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET_PARAMETER", "/shop/dev/webhook-secret")
    from chalicelib.core.settings import reset_settings
    from chalicelib.payments.webhook import webhook_secret

    reset_settings()
    webhook_secret.cache_clear()
    assert webhook_secret() == "s3cret-from-ssm"



def _refused_for_want_of_a_secret(caplog) -> None:
    import logging

    from chalicelib.core.errors import ServiceUnavailable
    from chalicelib.payments.webhook import verified_event

    raw = json.dumps({"id": "evt_1", "type": "payment.succeeded", "orderId": "o", "amount": 1,
                      "currency": "EUR"}).encode()
    with caplog.at_level(logging.ERROR), pytest.raises(ServiceUnavailable) as refused:
        verified_event(raw, sign(SECRET, raw))  # signed with the documented local default
    assert (refused.value.status, refused.value.code) == (503, "WEBHOOK_NOT_CONFIGURED")
    assert any("no secret configured" in record.getMessage() for record in caplog.records)


def test_a_deployed_stage_without_its_secret_parameter_refuses_webhooks_and_says_why(monkeypatch, caplog):
    from chalicelib.core.settings import reset_settings

    monkeypatch.setenv("STAGE", "prod")
    monkeypatch.delenv("PAYMENT_WEBHOOK_SECRET_PARAMETER", raising=False)
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET", SECRET)  # even when the plain default is set explicitly
    reset_settings()
    _refused_for_want_of_a_secret(caplog)


def test_a_missing_secret_parameter_refuses_webhooks_until_it_exists(aws, monkeypatch, caplog):
    import boto3

    from chalicelib.core.settings import reset_settings
    from chalicelib.payments.webhook import verified_event

    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET_PARAMETER", "/shop/dev/payment-webhook-secret")
    reset_settings()
    _refused_for_want_of_a_secret(caplog)
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/shop/dev/payment-webhook-secret", Value="s3cret-from-ssm", Type="SecureString")
    raw = json.dumps({"id": "evt_1", "type": "payment.succeeded", "orderId": "o", "amount": 1,
                      "currency": "EUR"}).encode()
    assert verified_event(raw, sign("s3cret-from-ssm", raw)).id == "evt_1"
