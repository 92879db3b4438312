"""Returns: customers send back delivered units within the window, never more than they bought; staff receive
them (restocked once, their value refunded) or reject them, once."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.core.lines import Lines
from tests.fakes import ADMIN, auth
from tests.shop import call, pay, placed_order, stock_of

ANN, BOB = auth("ann"), auth("bob")
pytestmark = pytest.mark.usefixtures("bus")  # every event the app publishes is captured


def order_of(client, order):
    return call(client, "get", f"/orders/{order['id']}", headers=ADMIN).json


def move(client, order, *statuses):
    for status in statuses:
        response = call(client, "post", f"/admin/orders/{order['id']}/status", {"status": status}, ADMIN)
        assert response.status_code == 200, response.body


def delivered(client, **kwargs):
    order, product_id = placed_order(client, ANN, **kwargs)
    assert pay(client, order).json["outcome"] == "APPLIED"
    move(client, order, "SHIPPED", "DELIVERED")
    return order_of(client, order), product_id


def ask(client, order, lines, headers=ANN, reason="does not fit", key=None):
    return call(client, "post", f"/orders/{order['id']}/returns", {"lines": lines, "reason": reason},
                {**headers, "Idempotency-Key": key or uuid.uuid4().hex})


def receive(client, ret):
    return call(client, "post", f"/admin/returns/{ret['id']}/receive", headers=ADMIN)


# --- asking ---------------------------------------------------------------------------------------

def test_a_delivered_order_can_be_returned_and_the_return_is_listed(client):
    order, product_id = delivered(client, quantity=2)
    assert order["deliveredAt"] is not None
    response = ask(client, order, [{"productId": product_id, "quantity": 1}])
    assert response.status_code == 201, response.body
    ret = response.json
    assert (ret["orderId"], ret["status"], ret["lines"]) == (order["id"], "REQUESTED",
                                                             [{"productId": product_id, "variantId": product_id,
                                                               "quantity": 1}])
    assert {"id", "orderId", "lines", "status", "createdAt"} <= set(ret)
    mine = call(client, "get", f"/orders/{order['id']}/returns", headers=ANN)
    assert mine.status_code == 200 and [r["id"] for r in mine.json["items"]] == [ret["id"]]
    queue = call(client, "get", "/admin/returns?status=REQUESTED", headers=ADMIN).json
    assert [r["id"] for r in queue["items"]] == [ret["id"]] and queue["nextCursor"] is None


def test_an_order_not_delivered_cannot_be_returned(client):
    order, product_id = placed_order(client, ANN)
    response = ask(client, order, [{"productId": product_id, "quantity": 1}])
    assert response.status_code == 409 and response.json["error"]["code"] == "ORDER_NOT_DELIVERED"


def test_returns_close_after_the_window(client):
    from chalicelib.core import ids

    order, product_id = delivered(client)
    later = datetime.now(timezone.utc) + timedelta(days=31)
    ids.set_clock(lambda: later)
    try:
        response = ask(client, order, [{"productId": product_id, "quantity": 1}])
    finally:
        ids.set_clock(None)
    assert response.status_code == 409 and response.json["error"]["code"] == "RETURN_WINDOW_CLOSED"


def test_another_customers_order_is_not_found(client):
    order, product_id = delivered(client)
    assert ask(client, order, [{"productId": product_id, "quantity": 1}], headers=BOB).status_code == 404
    assert call(client, "get", f"/orders/{order['id']}/returns", headers=BOB).status_code == 404
    assert ask(client, {"id": "no-such-order"}, [{"productId": product_id, "quantity": 1}]).status_code == 404


def test_no_more_units_are_returned_than_were_bought(client):
    order, product_id = delivered(client, quantity=3)
    assert ask(client, order, [{"productId": product_id, "quantity": 2}]).status_code == 201
    over = ask(client, order, [{"productId": product_id, "quantity": 2}])
    assert over.status_code == 409 and over.json["error"]["code"] == "RETURN_EXCEEDS_ORDER"
    assert over.json["error"]["details"][0]["available"] == 1
    assert ask(client, order, [{"productId": product_id, "quantity": 1}]).status_code == 201
    unknown = ask(client, order, [{"productId": "not-bought", "quantity": 1}])
    assert unknown.status_code == 422 and unknown.json["error"]["details"][0]["issue"] == "not_in_order"


@pytest.mark.parametrize("payload,field", [
    ({"lines": [], "reason": "x"}, "lines"),
    ({"lines": [{"productId": "p", "quantity": 0}], "reason": "x"}, "lines.0.quantity"),
    ({"lines": [{"productId": "p", "quantity": 1}]}, "reason"),
    ({"lines": [{"productId": "p", "quantity": 1}], "reason": "x", "extra": True}, "extra"),
    ({"lines": [{"productId": "p", "quantity": 1, "price": 1}], "reason": "x"}, "lines.0.price"),
    ({"lines": [{"productId": "p", "quantity": 1}, {"productId": "p", "quantity": 1}], "reason": "x"}, "lines"),
])
def test_return_bodies_are_strict(client, payload, field):
    order, _ = delivered(client)
    response = call(client, "post", f"/orders/{order['id']}/returns", payload, {**ANN, "Idempotency-Key": "strict-body"})
    assert response.status_code == 422, response.body
    assert any(d["field"].startswith(field) or d["field"] == "body" for d in response.json["error"]["details"])


# --- staff --------------------------------------------------------------------------------------

def test_receiving_restocks_once_and_refunds_the_lines_value(client, bus):
    order, product_id = delivered(client, quantity=3, price=1000, stock=5)
    ret = ask(client, order, [{"productId": product_id, "quantity": 2}]).json
    assert stock_of(client, product_id) == 2
    received = receive(client, ret)
    assert received.status_code == 200, received.body
    assert received.json["status"] == "RECEIVED" and received.json["refundId"]
    assert stock_of(client, product_id) == 4
    requested = bus.of_type("RefundRequested")[-1]
    assert (requested.data["amount"], requested.data["returnId"]) == (2000, ret["id"])
    shown = order_of(client, order)
    assert [(r["id"], r["amount"]) for r in shown["refunds"]] == [(received.json["refundId"], 2000)]
    again = receive(client, ret)
    assert again.status_code == 409 and again.json["error"]["code"] == "RETURN_ALREADY_DECIDED"
    assert stock_of(client, product_id) == 4
    rejected = call(client, "post", f"/admin/returns/{ret['id']}/reject", {"reason": "late"}, ADMIN)
    assert rejected.status_code == 409
    assert [r["id"] for r in call(client, "get", "/admin/returns?status=RECEIVED", headers=ADMIN).json["items"]] == [
        ret["id"]]


def _order(lines, discount, **extra):
    from chalicelib.orders.models import OrderLine, StoredOrder

    items = [OrderLine(product_id=f"p{number}", name="P", unit_price=price, quantity=quantity,
                       line_total=price * quantity) for number, (price, quantity) in enumerate(lines)]
    subtotal = sum(line.line_total for line in items)
    return StoredOrder(id="o", user_id="u", status="DELIVERED", items=items, subtotal=subtotal, currency="EUR",
                       discount=discount, total=subtotal - discount, checkout_id="c",
                       created_at="2026-11-23T00:00:00.000Z", updated_at="2026-11-23T00:00:00.000Z", **extra)


def test_a_discounted_orders_return_refunds_its_share_of_the_discount():
    discounted = _order([(333, 3), (1001, 1)], discount=300)
    # the discount over the lines with remainders: 149.85 -> 150, 150.15 -> 150; the units of a line share it
    assert discounted.line_payments() == {"p0": 849, "p1": 851}
    assert discounted.value_back(Lines.from_stored({"p0": 1})) == 283
    assert discounted.value_back(Lines.from_stored({"p0": 3, "p1": 1})) == 1700  # everything: what was paid
    assert _order([(333, 3), (1001, 1)], discount=0).value_back(Lines.from_stored({"p0": 2, "p1": 1})) == 1667


@given(lines=st.lists(st.tuples(st.integers(1, 10**8), st.integers(1, 99)), min_size=1, max_size=6),
       share=st.fractions(0, 1), seed=st.randoms(use_true_random=False))
@settings(max_examples=200, deadline=None)
def test_returning_everything_in_parcels_of_any_size_refunds_exactly_what_was_paid(lines, share, seed):
    """Each parcel's share of the discount was rounded on its own: three parcels could lose up to a unit each."""
    from chalicelib.orders import keys

    subtotal = sum(price * quantity for price, quantity in lines)
    order = _order(lines, discount=int(subtotal * share))
    units = [f"p{number}" for number, (_, quantity) in enumerate(lines) for _ in range(quantity)]
    seed.shuffle(units)
    refunded, back = 0, {}
    while units:
        parcel: dict[str, int] = {}
        for product in units[:seed.randint(1, 4)]:
            parcel[product] = parcel.get(product, 0) + 1
        del units[:sum(parcel.values())]
        refunded += order.value_back(Lines.from_stored(parcel))
        for product, count in parcel.items():
            back[product] = back.get(product, 0) + count
        order = order.model_copy(update={"tallies": {keys.restocked_attribute(p): n for p, n in back.items()}})
        assert order.keeps() == order.total - refunded >= 0
    assert refunded == order.total


def test_returning_everything_in_three_parcels_refunds_exactly_what_was_paid(client):
    """999 x 3 less 10%: 2698 paid, 899.33 a unit. Each parcel rounded down on its own refunded 2697."""
    assert call(client, "post", "/admin/promotions", {"code": "TENOFF", "percentOff": 10, "oncePerCustomer": False},
                ADMIN).status_code == 201
    order, product_id = placed_order(client, ANN, quantity=3, price=999, promotion="TENOFF")
    assert (order["subtotal"], order["discount"], order["total"]) == (2997, 299, 2698)
    assert pay(client, order).json["outcome"] == "APPLIED"
    move(client, order, "SHIPPED", "DELIVERED")
    amounts = []
    for _ in range(3):
        ret = ask(client, order, [{"productId": product_id, "quantity": 1}])
        assert ret.status_code == 201, ret.body
        received = receive(client, ret.json)
        assert received.status_code == 200, received.body
        amounts.append(next(r["amount"] for r in order_of(client, order)["refunds"]
                            if r["id"] == received.json["refundId"]))
    assert sum(amounts) == 2698 and sorted(amounts) == [899, 899, 900], amounts
    for refund_id in [r["id"] for r in order_of(client, order)["refunds"]]:
        amount = next(r["amount"] for r in order_of(client, order)["refunds"] if r["id"] == refund_id)
        assert pay(client, order, "refund.succeeded", refundId=refund_id, amount=amount).json["outcome"] == "APPLIED"
    after = order_of(client, order)
    assert (after["refundedAmount"], after["refundDue"]) == (2698, False)


def test_money_still_held_after_everything_came_back_keeps_the_refund_due(client, monkeypatch):
    """Charged twice, delivered, all of it returned and its value refunded: the second charge is still held.
    What the shop may keep is the value of the goods it did not take back; returns reduce it."""
    order, product_id = delivered(client, quantity=2, price=1500)
    assert pay(client, order).json["refundDue"] is True  # charged twice
    ret = ask(client, order, [{"productId": product_id, "quantity": 2}]).json
    received = receive(client, ret)
    assert received.status_code == 200 and received.json["refundId"], received.body
    confirmed = pay(client, order, "refund.succeeded", refundId=received.json["refundId"], amount=3000)
    assert confirmed.json["outcome"] == "APPLIED" and confirmed.json["refundDue"] is True, confirmed.body
    after = order_of(client, order)
    assert (after["capturedAmount"], after["refundedAmount"], after["refundDue"]) == (6000, 3000, True)
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.orders.repository import OrderRepository

    owed = OrderRepository(ProductRepository()).refund_due_since("9", 10).items  # the refunds-owed index, which the alarm reads
    assert [o.id for o in owed] == [order["id"]]


def test_a_return_received_while_the_shop_holds_nothing_more_flags_the_refund_until_it_is_confirmed(client):
    """Receiving takes the goods back: until their refund is confirmed, the shop holds money for goods it no
    longer keeps, and the order is in the refunds-owed index from that moment."""
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.orders.repository import OrderRepository

    order, product_id = delivered(client, quantity=2, price=1500)
    assert order["refundDue"] is False
    ret = ask(client, order, [{"productId": product_id, "quantity": 1}]).json
    received = receive(client, ret)
    assert order_of(client, order)["refundDue"] is True
    assert [o.id for o in OrderRepository(ProductRepository()).refund_due_since("9", 10).items] == [order["id"]]
    assert pay(client, order, "refund.succeeded", refundId=received.json["refundId"],
               amount=1500).json["refundDue"] is False
    assert order_of(client, order)["refundDue"] is False and OrderRepository(ProductRepository()).refund_due_since("9", 10).items == []


def test_rejecting_frees_the_units_for_another_return(client):
    order, product_id = delivered(client, quantity=1)
    ret = ask(client, order, [{"productId": product_id, "quantity": 1}]).json
    assert ask(client, order, [{"productId": product_id, "quantity": 1}]).status_code == 409
    rejected = call(client, "post", f"/admin/returns/{ret['id']}/reject", {"reason": "worn"}, ADMIN)
    assert rejected.status_code == 200 and rejected.json["status"] == "REJECTED"
    assert rejected.json["rejectionReason"] == "worn"
    assert receive(client, ret).status_code == 409
    assert ask(client, order, [{"productId": product_id, "quantity": 1}]).status_code == 201


def test_unknown_returns_answer_404_and_customers_may_not_decide(client):
    assert call(client, "post", "/admin/returns/nope/receive", headers=ADMIN).status_code == 404
    assert call(client, "post", "/admin/returns/nope/reject", {"reason": "x"}, ADMIN).status_code == 404
    assert call(client, "post", "/admin/returns/nope/receive", headers=ANN).status_code == 403
    assert call(client, "get", "/admin/returns", headers=ANN).status_code == 403
    bad = call(client, "get", "/admin/returns?status=LOST", headers=ADMIN)
    assert bad.status_code == 400


# --- races --------------------------------------------------------------------------------------

def test_two_returns_at_once_beyond_what_was_bought_one_wins(client, monkeypatch):
    """The competitor's return is written between this request's read of the order and its write."""
    from chalicelib.orders.repository import OrderRepository

    order, product_id = delivered(client, quantity=2)
    lines = [{"productId": product_id, "quantity": 2}]
    original, state = OrderRepository.return_reservation, {}

    def competitor_first(self, *args, **kwargs):
        if not state:
            state["running"] = True
            state["response"] = ask(client, order, lines)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(OrderRepository, "return_reservation", competitor_first)
    second = ask(client, order, lines)
    assert state["response"].status_code == 201
    assert second.status_code == 409 and second.json["error"]["code"] == "RETURN_EXCEEDS_ORDER"


def test_receiving_twice_at_once_restocks_once(client, between, bus):
    from chalicelib.payments.repository import RefundRepository

    order, product_id = delivered(client, quantity=2, stock=4)
    ret = ask(client, order, [{"productId": product_id, "quantity": 2}]).json
    first = {}
    between(RefundRepository, "commit", lambda: first.update(response=receive(client, ret)))
    second = receive(client, ret)
    assert sorted([first["response"].status_code, second.status_code]) == [200, 409]
    assert stock_of(client, product_id) == 4
    assert len(bus.of_type("RefundRequested")) == 1


def test_a_return_rejected_while_it_is_received_is_answered_as_decided(client, between, bus):
    from chalicelib.payments.repository import RefundRepository

    order, product_id = delivered(client, quantity=2, stock=4)
    ret = ask(client, order, [{"productId": product_id, "quantity": 2}]).json
    rejected = {}
    between(RefundRepository, "commit", lambda: rejected.update(response=call(
        client, "post", f"/admin/returns/{ret['id']}/reject", {"reason": "worn"}, ADMIN)))
    received = receive(client, ret)
    assert rejected["response"].status_code == 200
    assert received.status_code == 409 and received.json["error"]["code"] == "RETURN_ALREADY_DECIDED"
    assert stock_of(client, product_id) == 2 and bus.of_type("RefundRequested") == []


def test_receiving_twice_at_once_with_nothing_left_to_refund_restocks_once(client, between, bus):
    from chalicelib.returns.repository import ReturnRepository

    order, product_id = delivered(client, quantity=2, stock=4)
    refunded = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"reason": "goodwill"},
                    {**ADMIN, "Idempotency-Key": "refund-everything"})
    assert refunded.status_code == 201, refunded.body
    ret = ask(client, order, [{"productId": product_id, "quantity": 2}]).json
    first = {}
    between(ReturnRepository, "receive", lambda: first.update(response=receive(client, ret)))
    second = receive(client, ret)
    assert sorted([first["response"].status_code, second.status_code]) == [200, 409]
    assert [r.json["refundId"] for r in (first["response"], second) if r.status_code == 200] == [None]
    assert stock_of(client, product_id) == 4
    assert len(bus.of_type("RefundRequested")) == 1  # the goodwill refund's only


def test_a_refund_confirmed_between_a_receipts_read_and_write_leaves_the_refund_due_as_the_money_says(
        client, between):
    """Charged twice; staff refund the second charge; while a full return is received, the provider confirms
    that refund. The receipt judged what is owed on the order it read: it is judged again, not written stale."""
    from chalicelib.orders.repository import OrderRepository

    order, product_id = delivered(client, quantity=1, price=2000)
    assert pay(client, order).json["refundDue"] is True
    duplicate = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"amount": 2000, "reason": "twice"},
                     {**ADMIN, "Idempotency-Key": "refund-the-duplicate"}).json
    ret = ask(client, order, [{"productId": product_id, "quantity": 1}]).json
    confirmed = {}
    between(OrderRepository, "refund_reservation", lambda: confirmed.update(response=pay(
        client, order, "refund.succeeded", refundId=duplicate["id"], amount=2000)))
    received = receive(client, ret)
    assert confirmed["response"].json["outcome"] == "APPLIED" and received.status_code == 200, received.body
    shown = order_of(client, order)
    # 4000 held, 2000 paid back, the goods all back: 2000 still owed (the return's refund, on its way)
    assert (shown["capturedAmount"], shown["refundedAmount"], shown["refundDue"]) == (4000, 2000, True)
    assert pay(client, order, "refund.succeeded", refundId=received.json["refundId"],
               amount=2000).json["refundDue"] is False


# --- requests once per key, ids of their own, events -----------------------------------------------

def test_the_same_key_and_body_answer_the_same_return_and_another_body_is_422(client, bus):
    order, product_id = delivered(client, quantity=3)
    lines = [{"productId": product_id, "quantity": 1}]
    first = ask(client, order, lines, key="return-key-1")
    again = ask(client, order, lines, key="return-key-1")
    assert first.status_code == again.status_code == 201 and again.json == first.json
    other = ask(client, order, [{"productId": product_id, "quantity": 2}], key="return-key-1")
    assert other.status_code == 422 and other.json["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(call(client, "get", f"/orders/{order['id']}/returns", headers=ANN).json["items"]) == 1
    assert len(bus.of_type("ReturnRequested")) == 1
    assert ask(client, order, lines, key="return-key-2").json["id"] != first.json["id"]  # another return
    assert ask(client, order, lines, headers=BOB, key="return-key-1").status_code == 404  # not Bob's key to replay


def test_a_retry_of_a_return_that_took_the_last_units_answers_that_return(client):
    """The retry's own check finds every unit being returned already: it is the first request, answered as it was."""
    order, product_id = delivered(client, quantity=1)
    lines = [{"productId": product_id, "quantity": 1}]
    first = ask(client, order, lines, key="last-unit-key")
    assert ask(client, order, lines, key="last-unit-key").json == first.json


def test_a_return_request_needs_a_well_formed_idempotency_key(client):
    order, product_id = delivered(client)
    for key, code in ((None, "IDEMPOTENCY_KEY_REQUIRED"), ("short", "IDEMPOTENCY_KEY_INVALID"),
                      ("spaces are not allowed", "IDEMPOTENCY_KEY_INVALID")):
        headers = {**ANN, **({"Idempotency-Key": key} if key else {})}
        response = call(client, "post", f"/orders/{order['id']}/returns",
                        {"lines": [{"productId": product_id, "quantity": 1}], "reason": "x"}, headers)
        assert response.status_code == 400 and response.json["error"]["code"] == code, response.body
    assert call(client, "get", f"/orders/{order['id']}/returns", headers=ANN).json["items"] == []


def test_a_staff_refund_key_that_spells_a_returns_refund_id_does_not_block_the_return(client):
    """A received return's refund id was derived as a staff refund keyed `return:<return id>` would be: such a
    refund made the return's receipt fail, for good, as decided already."""
    order, product_id = delivered(client, quantity=2, price=1000)
    ret = ask(client, order, [{"productId": product_id, "quantity": 1}]).json
    staff = call(client, "post", f"/admin/orders/{order['id']}/refunds", {"amount": 100, "reason": "goodwill"},
                 {**ADMIN, "Idempotency-Key": f"return:{ret['id']}"})
    assert staff.status_code == 201, staff.body
    received = receive(client, ret)
    assert received.status_code == 200 and received.json["refundId"] not in (None, staff.json["id"]), received.body
    assert sorted(r["amount"] for r in order_of(client, order)["refunds"]) == [100, 1000]


def test_returns_are_announced_and_audited_like_refunds(client, bus):
    order, product_id = delivered(client, quantity=3, price=1000)
    kept = ask(client, order, [{"productId": product_id, "quantity": 2}]).json
    refused = ask(client, order, [{"productId": product_id, "quantity": 1}]).json
    received = receive(client, kept).json
    assert call(client, "post", f"/admin/returns/{refused['id']}/reject", {"reason": "worn"},
                ADMIN).status_code == 200
    requested = bus.of_type("ReturnRequested")
    assert sorted(e.data["returnId"] for e in requested) == sorted([kept["id"], refused["id"]])
    assert all(e.actor == "ann" and "reason" not in e.data for e in requested)  # the customer's words stay home
    (got,) = bus.of_type("ReturnReceived")
    assert (got.data["returnId"], got.data["refundId"], got.data["amount"], got.data["currency"], got.actor) == (
        kept["id"], received["refundId"], 2000, "EUR", "admin-1")
    (no,) = bus.of_type("ReturnRejected")
    assert (no.data["returnId"], no.data["lines"], no.actor) == (refused["id"], [{"productId": product_id,
                                                                                  "variantId": product_id,
                                                                                  "quantity": 1}], "admin-1")
    from tests.shop import eventbridge_body as body, sqs_event

    kinds = ("ReturnRequested", "ReturnReceived", "ReturnRejected", "RefundRequested")
    events = [e for e in bus.events if e.type in kinds]
    assert client.lambda_.invoke("record_audit", sqs_event(client, [body(e) for e in events],
                                                           queue="shop-local-audit")).payload == {
        "batchItemFailures": []}
    trail = call(client, "get", f"/admin/audit?entityType=ORDER&entityId={order['id']}", headers=ADMIN).json["items"]
    assert sorted(r["action"] for r in trail) == sorted(
        ["ReturnRequested", "ReturnRequested", "ReturnReceived", "ReturnRejected", "RefundRequested"])
