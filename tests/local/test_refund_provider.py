"""The local stand-in for the provider confirms each refund the shop asks for with a signed webhook."""
from __future__ import annotations

import json
import time

from local.refund_provider import PATTERN, RefundProvider, confirmation, enabled, post_webhook
from tests.fakes import http_receiver


def test_it_is_off_unless_turned_on_for_the_generic_provider():
    generic = {"PAYMENT_PROVIDER": "generic"}
    assert not enabled(generic) and not enabled({**generic, "LOCAL_AUTO_CONFIRM_REFUNDS": "off"})
    assert enabled({**generic, "LOCAL_AUTO_CONFIRM_REFUNDS": "on"})
    assert enabled({**generic, "LOCAL_AUTO_CONFIRM_REFUNDS": "true"})


def test_with_stripe_refunds_are_left_to_the_payment_provider_function():
    """Stripe (the default) pays refunds back through the payment_provider function: a stand-in confirming them too
    would settle each refund twice over."""
    assert not enabled({"LOCAL_AUTO_CONFIRM_REFUNDS": "on"})
    assert not enabled({"PAYMENT_PROVIDER": "stripe", "LOCAL_AUTO_CONFIRM_REFUNDS": "on"})


def test_each_refund_requested_on_the_bus_is_confirmed_once_acknowledged(stack, client_for):
    from chalicelib.core.events import envelope
    from chalicelib.payments.events import RefundRequested

    sent, answers = [], [503, 200]
    provider = RefundProvider(sqs=client_for("sqs"), events=client_for("events"), bus_name=stack.summary()[
        "event_bus_name"], api_url="http://api", secret="s3cret", prefix="test-provider",
        send=lambda url, secret, body: (sent.append((url, secret, body)), answers.pop(0))[1])
    event = envelope(RefundRequested(order_id="o1", user_id="u1", refund_id="r1", amount=250, currency="EUR",
                                     reason="dent"))
    client_for("events").put_events(Entries=[{"Source": "shop", "DetailType": "RefundRequested",
                                              "Detail": event.model_dump_json(),
                                              "EventBusName": stack.summary()["event_bus_name"]}])
    deadline = time.monotonic() + 30
    while len(sent) < 2 and time.monotonic() < deadline:  # refused once (503): offered again
        provider.run_once()
    assert [body for _, _, body in sent] == [confirmation(json.loads(event.model_dump_json()))] * 2
    assert sent[0][:2] == ("http://api", "s3cret")
    assert sent[0][2] == {"id": "evt_local_refund_r1", "type": "refund.succeeded", "orderId": "o1",
                          "refundId": "r1", "amount": 250, "currency": "EUR"}
    assert PATTERN["detail-type"] == ["RefundRequested"]


def test_the_webhook_call_is_signed_as_the_provider_signs(monkeypatch):
    from chalicelib.payments.signature import verify

    with http_receiver() as (url, received):
        status = post_webhook(url, "s3cret", {"id": "evt", "type": "x"})
    (path, headers, raw), = received
    verify("s3cret", headers["X-Signature"], raw)  # raises if not
    assert status == 200 and (path, json.loads(raw)) == ("/webhooks/payments", {"id": "evt", "type": "x"})
