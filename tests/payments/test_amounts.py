"""Money at every size: every total the checkout can produce is accepted by every inbound money model (the
provider's payment and refund confirmations, staff refunds, promotion amounts), and the checkout bounds the
order total explicitly (MAX_ORDER_TOTAL). Amounts are integers in the currency's minor unit."""
from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.core.models import MAX_AMOUNT, MAX_PRICE, shown
from tests.fakes import ADMIN, auth
from tests.shop import call, checkout, deliver, eventbridge_body, pay, product, put_in_basket, stock_of

ANN = auth("ann")


def _priced_in(client, currency):
    """Ann's basket is priced in `currency` (a basket starts in the shop's default currency)."""
    response = call(client, "put", "/basket/currency", {"currency": currency}, ANN)
    assert response.status_code == 200, response.body


def _placed(client, bus, *, price, quantity, currency):
    item = product(client, stock=quantity + 1, price=price, currency=currency)
    _priced_in(client, currency)
    put_in_basket(client, ANN, item["id"], quantity)
    accepted = checkout(client, ANN)
    assert accepted.status_code == 202, accepted.body
    assert deliver(client, [eventbridge_body(bus.of_type("CheckoutRequested")[-1])]) == {"batchItemFailures": []}
    return call(client, "get", f"/orders/{accepted.json['orderId']}", headers=ANN).json


@pytest.mark.parametrize("currency", ["IDR", "JPY", "BHD"])
def test_a_total_far_above_any_unit_price_is_paid_refunded_and_confirmed(client, bus, currency):
    """Three units of a car priced in IDR: 3 x 10**10 minor units. The payment and the refund's confirmation
    were refused (422) above 10**8, then the highest price: captured money recorded nowhere."""
    order = _placed(client, bus, price=10**10, quantity=3, currency=currency)
    assert order["total"] == 3 * 10**10
    paid = pay(client, order)
    assert paid.status_code == 200 and (paid.json["outcome"], paid.json["orderStatus"]) == ("APPLIED", "PAID"), \
        paid.body
    refund = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"amount": order["total"], "reason": "all"},
                  {**ADMIN, "Idempotency-Key": uuid.uuid4().hex})
    assert refund.status_code == 201 and refund.json["amount"] == order["total"], refund.body
    confirmed = pay(client, order, "refund.succeeded", refundId=refund.json["id"])
    assert confirmed.status_code == 200 and confirmed.json["outcome"] == "APPLIED", confirmed.body
    after = call(client, "get", f"/orders/{order['id']}", headers=ANN).json
    assert (after["capturedAmount"], after["refundedAmount"], after["refundDue"]) == (order["total"], order["total"],
                                                                                       False)


def test_every_inbound_money_model_accepts_every_total_the_checkout_may_produce():
    """The bound the checkout keeps (its setting's own upper bound) is accepted by every model that takes an
    amount from outside; a new one is found by its field's name."""
    from chalicelib.core.settings import Settings
    from chalicelib.payments.models import PaymentEvent, RefundRequest
    from chalicelib.promotions.models import PromotionCreate

    highest = next(m.le for m in Settings.model_fields["max_order_total"].metadata if hasattr(m, "le"))
    assert highest == MAX_AMOUNT
    fields = {(model, name) for model in (PaymentEvent, RefundRequest, PromotionCreate)
              for name in model.model_fields if name in ("amount", "amount_off", "min_subtotal")}
    assert len(fields) == 4
    base = {PaymentEvent: {"id": "evt", "type": "payment.succeeded", "orderId": "o", "currency": "IDR"},
            RefundRequest: {"reason": "r"},
            PromotionCreate: {"code": "BIG", "currency": "IDR", "oncePerCustomer": False, "percentOff": None}}
    for model, name in fields:
        data = {**base[model], model.model_fields[name].alias or name: highest}
        if model is PromotionCreate and name == "min_subtotal":
            data["percentOff"] = 10
        data = {k: v for k, v in data.items() if v is not None}
        model.model_validate(json.loads(json.dumps(data)), strict=True)  # raises if refused


def test_an_order_over_the_total_bound_is_refused_naming_the_setting_and_nothing_is_reserved(client, monkeypatch):
    from chalicelib.core.settings import reset_settings, settings

    monkeypatch.setenv("MAX_ORDER_TOTAL", "5000")
    reset_settings()
    assert settings().max_order_total == 5000  # read now: the stage's configuration says 100000000000
    item = product(client, stock=5, price=2000, currency="JPY")
    _priced_in(client, "JPY")
    put_in_basket(client, ANN, item["id"], 3)
    response = checkout(client, ANN)
    assert response.status_code == 409 and response.json["error"]["code"] == "ORDER_TOTAL_TOO_LARGE", response.body
    (detail,) = response.json["error"]["details"]
    assert (detail["total"], detail["maxOrderTotal"], detail["setting"]) == (6000, 5000, "MAX_ORDER_TOTAL")
    assert "5,000 JPY" in response.json["error"]["message"]
    assert stock_of(client, item["id"]) == 5 and len(call(client, "get", "/basket", headers=ANN).json["items"]) == 1
    put_in_basket(client, ANN, item["id"], 2)  # 4000: within the bound
    assert checkout(client, ANN).status_code == 202


def test_amounts_are_shown_in_their_currencys_minor_unit():
    assert [shown(123456, c) for c in ("EUR", "JPY", "BHD", "IDR")] == [
        "1,234.56 EUR", "123,456 JPY", "123.456 BHD", "1,234.56 IDR"]
    assert shown(-5, "EUR") == "-0.05 EUR"


def test_one_unit_at_the_highest_price_is_an_order_and_the_fullest_basket_of_it_sums_exactly(client, bus):
    """A unit may cost what an order may total; the fullest basket at that price is still an exact JSON
    integer, so the checkout refuses it by its setting (409), never by overflow."""
    from chalicelib.basket.models import MAX_LINES, MAX_QUANTITY
    from chalicelib.core.settings import Settings

    assert MAX_LINES * MAX_QUANTITY * MAX_PRICE <= MAX_AMOUNT
    assert Settings.model_fields["max_order_total"].default >= MAX_PRICE
    order = _placed(client, bus, price=MAX_PRICE, quantity=1, currency="IDR")
    assert order["total"] == MAX_PRICE
