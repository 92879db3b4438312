"""The order decides its own steps: pure methods returning what changes, judged here with no table at all."""
import pytest

from chalicelib.core.lines import Lines
from chalicelib.orders.models import (
    MAX_PAYMENTS_SHOWN,
    MAX_REFUNDS_SHOWN,
    IllegalTransition,
    OrderLine,
    OrderPayment,
    OrderRefund,
    RedemptionHeld,
    StoredOrder,
)

AT = "2026-12-07T12:00:00.000Z"


def units(**by_product: int) -> Lines:
    return Lines.from_stored(by_product)


def order(status="PENDING", **fields) -> StoredOrder:
    lines = [OrderLine(product_id="mug", name="Mug", unit_price=500, quantity=2, line_total=1000),
             OrderLine(product_id="pot", name="Pot", unit_price=1500, quantity=1, line_total=1500),
             OrderLine(product_id="mug", name="Mug", unit_price=500, quantity=1, line_total=500)]
    return StoredOrder(**{"id": "o1", "user_id": "u1", "status": status, "items": lines, "subtotal": 3000,
                          "discount": 500, "total": 2500, "currency": "EUR", "checkout_id": "c1", "version": 3,
                          "created_at": "2026-12-01T00:00:00.000Z", "updated_at": "2026-12-01T00:00:00.000Z",
                          **fields})


def payment(number=1, amount=2500) -> OrderPayment:
    return OrderPayment(id=f"evt_{number}", type="payment.succeeded", amount=amount, currency="EUR",
                        outcome="APPLIED", received_at=AT)


def event_types(change) -> list[str]:
    return [event.type for event in change.events]


def test_an_unpaid_order_cancelled_gives_back_its_stock_allowance_and_redemption_once():
    held = RedemptionHeld("SPRING", once_per_customer=True)
    pending = order(holds_allowance=True, redemption=held)
    change = pending.transition("CANCELLED", AT, actor="u1", reason="changed my mind")
    assert change.restock == units(mug=3, pot=1)  # every line, a product's lines together
    assert change.allowance_back and change.redemption_back == held
    assert not change.after.holds_allowance and change.after.redemption is None  # given back once
    assert change.refunds_owed is False  # off the payment-due list, owing nothing
    assert (change.after.status, change.after.version, change.after.updated_at) == ("CANCELLED", 4, AT)
    assert change.after.status_reason == "changed my mind" and not change.after.refund_due
    assert event_types(change) == ["OrderStatusChanged", "OrderCancelled"]
    # A second step from what the first made gives nothing back again.
    assert pending.holds_allowance and pending.redemption == held and pending.status == "PENDING"  # pure


def test_a_paid_order_keeps_its_stock_and_redemption_and_frees_the_allowance():
    held = RedemptionHeld("SPRING", once_per_customer=False)
    change = order(holds_allowance=True, redemption=held).transition(
        "PAID", AT, actor="payment-provider", reason="provider event evt_1", captured=2500, payment=payment())
    assert change.restock == Lines() and change.redemption_back is None and change.after.redemption == held
    assert change.allowance_back and not change.after.holds_allowance
    assert change.after.captured_amount == 2500 and not change.after.refund_due
    assert change.refunds_owed is False and change.payment_shown == payment()
    assert change.after.payments == [payment()] and event_types(change) == ["OrderStatusChanged"]


def test_a_paid_order_cancelled_owes_everything_back_and_is_listed_for_it():
    paid = order("PAID", captured_amount=2500)
    change = paid.transition("CANCELLED", AT, actor="staff")
    assert change.after.refund_due and change.after.captured_amount == 2500
    assert change.refunds_owed is True and change.restock == units(mug=3, pot=1)
    assert not change.allowance_back and change.redemption_back is None


def test_an_order_already_listed_as_owing_is_not_listed_again_and_leaves_the_list_once_settled():
    owing = order("PAID", captured_amount=5000, refund_due=True)  # paid twice
    assert owing.transition("SHIPPED", AT, actor="staff").refunds_owed is None
    settled = owing.model_copy(update={"refunds": [OrderRefund(id="r1", amount=2500, currency="EUR",
                                                              status="REQUESTED", created_at=AT)],
                                       "tallies": {"refund_reserved": 2500, "refund_count": 1}})
    change = settled.settle_refund("r1", 2500, succeeded=True, at=AT)
    assert not change.after.refund_due and change.refunds_owed is False
    assert change.refunded == 2500 and change.after.refunded_amount == 2500 and change.refund_settled == 0
    assert change.after.refunds[0].status == "SUCCEEDED" and change.after.status == "PAID"


def test_a_refused_refund_is_refundable_again_and_owed_still():
    asked = order("CANCELLED", captured_amount=2500, refund_due=True,
                  refunds=[OrderRefund(id="r1", amount=2500, currency="EUR", status="REQUESTED", created_at=AT)],
                  tallies={"refund_reserved": 2500, "refund_count": 1})
    change = asked.settle_refund("r1", 2500, succeeded=False, at=AT)
    assert change.refund_released == 2500 and change.after.tally("refund_reserved") == 0
    assert change.after.refund_due and change.refunds_owed is None and change.after.refunds[0].status == "FAILED"


def test_a_refund_not_on_the_orders_list_is_settled_all_the_same():
    change = order("CANCELLED", captured_amount=2500, refund_due=True).settle_refund("r99", 2500, True, AT)
    assert change.refund_settled is None and change.refunded == 2500 and not change.after.refund_due


def test_delivery_dates_the_return_window_and_no_other_step_does():
    assert order("SHIPPED").transition("DELIVERED", AT, actor="staff").after.delivered_at == AT
    assert order("PAID").transition("SHIPPED", AT, actor="staff").after.delivered_at is None


@pytest.mark.parametrize("current,target", [("DELIVERED", "CANCELLED"), ("SHIPPED", "PAID"),
                                            ("CANCELLED", "PENDING"), ("PENDING", "SHIPPED")])
def test_a_step_the_state_machine_lacks_is_refused(current, target):
    with pytest.raises(IllegalTransition):
        order(current).transition(target, AT, actor="staff")


def test_a_verdict_that_moves_nothing_is_only_noted_and_the_list_stops_at_its_cap():
    full = order("PAID", captured_amount=2500, payments=[payment(n) for n in range(MAX_PAYMENTS_SHOWN)])
    change = full.transition("PAID", AT, actor="payment-provider", captured=2500, payment=payment(99))
    assert not change.moving and change.events == () and change.payment_shown is None
    assert change.after.captured_amount == 5000 and change.after.refund_due and change.refunds_owed is True
    assert len(change.after.payments) == MAX_PAYMENTS_SHOWN and change.after.status_reason is None


def test_a_refund_reservation_judges_what_is_owed_with_the_units_taken_back():
    shipped = order("SHIPPED", captured_amount=2500)
    refund = OrderRefund(id="r1", amount=1250, currency="EUR", status="REQUESTED", created_at=AT)
    reservation = shipped.reserve_refund(refund, units(pot=1), AT)
    assert reservation.refund_due and reservation.listed and reservation.refunds_seen == 0
    assert not shipped.reserve_refund(refund, Lines(), AT).refund_due  # goods kept: the payment is kept
    crowded = shipped.model_copy(update={"tallies": {"refund_count": MAX_REFUNDS_SHOWN}})
    assert not crowded.reserve_refund(refund, Lines(), AT).listed
    assert not shipped.reserve_refund(None, units(pot=1), AT).listed


def test_a_return_of_an_order_delivered_before_the_moment_was_kept_is_dated_from_its_last_change():
    undated = order("DELIVERED", updated_at="2026-12-05T00:00:00.000Z")
    reservation = undated.reserve_return(units(mug=1), "2026-11-20T00:00:00.000Z")
    assert reservation.dated_now and reservation.delivered_at == "2026-12-05T00:00:00.000Z"
    dated = order("DELIVERED", delivered_at=AT).reserve_return(units(mug=1), "2026-11-20T00:00:00.000Z")
    assert not dated.dated_now and dated.delivered_at == AT


def test_what_the_shop_keeps_never_leaves_the_wire_or_the_export():
    stored = order(holds_allowance=True, redemption=RedemptionHeld("SPRING", True), tallies={"refund_count": 1})
    dumped = stored.model_dump(mode="json", by_alias=True)
    assert not {"holdsAllowance", "tallies", "redemption", "holds_allowance"} & set(dumped)


def test_the_checkout_record_gives_back_the_very_event_it_was_made_with():
    from chalicelib.orders.events import CheckoutRequested

    requested = CheckoutRequested(checkout_id="c1", order_id="o1", user_id="u1", items=order().items, subtotal=3000,
                                  currency="EUR", created_at=AT, holds_allowance=True, discount=500, total=2500,
                                  promotion_code="SPRING", promotion_once_per_customer=True)
    record = {**requested.record(), "request_hash": "h", "correlation_id": "x", "shipping_address": {"city": "Y"}}
    assert record["items"][0]["productId"] == "mug"  # lines as the record always kept them
    assert CheckoutRequested.from_record(record) == requested
    older = {name: value for name, value in record.items()  # before promotions and the allowance
             if name not in ("discount", "total", "promotion_code", "promotion_once_per_customer", "holds_allowance")}
    made_again = CheckoutRequested.from_record(older)
    assert (made_again.total, made_again.discount, made_again.holds_allowance) == (3000, 0, False)
