"""The sweeper: each step and each item on its own, within the invocation's time, with nothing lost."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes import ADMIN, auth
from tests.shop import Bus, call, placed_order, product, put_in_basket, sweep

ANN, BOB, CAT = auth("ann"), auth("bob"), auth("cat")
OVERDUE = "9999-01-01T00:00:00.000Z"


def order_of(client, order):
    return call(client, "get", f"/orders/{order['id']}", headers=ADMIN).json


def make_overdue(monkeypatch):
    monkeypatch.setattr("chalicelib.orders.service.iso", lambda moment=None: OVERDUE)


class CheckedBus(Bus):
    """The real publisher (it refuses what consumers would refuse, and puts on the emulated bus) that
    captures what it put; events whose id is in `refused` come back as the bus's partial failure."""

    def __init__(self):
        super().__init__()
        self.refused: set[str] = set()

    def publish(self, events):
        from chalicelib.core.events import PublishError, publish

        events = list(events)
        accepted = [event for event in events if event.id not in self.refused]
        publish(accepted)
        super().publish(accepted)
        if len(accepted) < len(events):
            raise PublishError([event for event in events if event.id in self.refused])


@pytest.fixture
def checked_bus(monkeypatch):
    bus = CheckedBus()
    monkeypatch.setattr("chalicelib.core.outbox.publish", bus.publish)
    monkeypatch.setattr("chalicelib.housekeeping.service.OUTBOX_GRACE", timedelta(0))
    return bus


@pytest.fixture
def counted(monkeypatch):
    from chalicelib.core import metrics

    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(metrics, "count", lambda name, value=1: seen.append((name, value)))
    return seen


def kept(*events):
    """Events written to the outbox a while ago, as a writer whose publishing failed leaves them."""
    from chalicelib.core.dynamo import transact
    from chalicelib.core.outbox import outbox_puts

    transact(outbox_puts(list(events)))


def a_while_ago() -> str:
    from chalicelib.core.ids import iso, now

    return iso(now() - timedelta(minutes=5))


def stored(event):
    from chalicelib.core.dynamo import ddb, from_item, key, table_name
    from chalicelib.core.outbox import record_key_of

    return from_item(ddb().get_item(TableName=table_name(), Key=key(*record_key_of(event)))["Item"])


def test_one_unpublishable_outbox_record_does_not_hold_back_the_rest(client, checked_bus, counted):
    from chalicelib.catalogue.events import ProductArchived
    from chalicelib.core.events import Envelope, envelope
    from chalicelib.core.outbox import unpublished

    invalid = Envelope(type="ProductArchived", data={"sku": "mug"}, occurredAt=a_while_ago())
    valid = envelope(ProductArchived(product_id="p1"), occurred_at=a_while_ago())
    kept(invalid, valid)

    report = sweep(client)
    assert (report["republished"], report["parkedEvents"], report["failures"]) == (1, 1, 0)
    assert [event.id for event in checked_bus.events] == [valid.id]
    assert unpublished(timedelta(0)) == []
    parked = stored(invalid)
    assert parked["GSI3PK"] == "OUTBOXPARKED" and "invalid ProductArchived data" in parked["outbox_parked"]
    assert Envelope.model_validate_json(parked["outbox_event"]) == invalid  # still there for a person to read
    assert "expiresAt" not in parked
    assert ("OutboxEventsParked", 1) in counted

    assert (sweep(client)["republished"], sweep(client)["parkedEvents"]) == (0, 0)  # parked once, for good


def test_an_unreadable_outbox_record_is_parked_too(client, checked_bus):
    from chalicelib.catalogue.events import ProductArchived
    from chalicelib.core.dynamo import ddb, table_name, to_item
    from chalicelib.core.events import envelope
    from chalicelib.core.outbox import PARTITION

    at = a_while_ago()
    ddb().put_item(TableName=table_name(), Item=to_item({
        "PK": "OUTBOX#garbled", "SK": "EVENT", "outbox_event": "{not an envelope", "GSI3PK": PARTITION,
        "GSI3SK": f"{at}#garbled"}))
    valid = envelope(ProductArchived(product_id="p1"), occurred_at=at)
    kept(valid)

    report = sweep(client)
    assert (report["republished"], report["parkedEvents"], report["failures"]) == (1, 1, 0)
    assert [event.id for event in checked_bus.events] == [valid.id]


def test_an_event_the_bus_refuses_waits_for_the_next_tick(client, checked_bus):
    from chalicelib.catalogue.events import ProductArchived
    from chalicelib.core.events import envelope
    from chalicelib.core.outbox import unpublished

    first = envelope(ProductArchived(product_id="p1"), occurred_at=a_while_ago())
    second = envelope(ProductArchived(product_id="p2"), occurred_at=a_while_ago())
    kept(first, second)
    checked_bus.refused.add(first.id)

    report = sweep(client)
    assert (report["republished"], report["parkedEvents"], report["failures"]) == (1, 0, 0)
    assert [event.id for _, _, event in unpublished(timedelta(0))] == [first.id]

    checked_bus.refused.clear()
    assert sweep(client)["republished"] == 1
    assert unpublished(timedelta(0)) == []
    assert [event.id for event in checked_bus.events] == [second.id, first.id]


def test_basket_expiry_checks_the_time_left_before_each_basket(client, bus, monkeypatch):
    from chalicelib.basket.repository import BasketRepository
    from chalicelib.composition import Services
    from chalicelib.housekeeping.service import sweep as run_sweep

    mug = product(client)
    for who in (ANN, BOB, CAT):
        put_in_basket(client, who, mug["id"], 1)
    monkeypatch.setattr("chalicelib.housekeeping.service.now", lambda: datetime(9999, 1, 1, tzinfo=UTC))
    expired = []
    original = BasketRepository.delete_if_unchanged

    def delete_if_unchanged(self, user_id, version):  # the first basket takes the last of the time
        expired.append(user_id)
        return original(self, user_id, version)

    monkeypatch.setattr(BasketRepository, "delete_if_unchanged", delete_if_unchanged)
    shop = Services()
    assert run_sweep(shop.orders, shop.basket_records, remaining_ms=lambda: 0 if expired else 60_000)[
        "expiredBaskets"] == 1
    assert run_sweep(shop.orders, shop.basket_records, remaining_ms=lambda: 60_000)["expiredBaskets"] == 2


def test_abandoned_baskets_expire(client, bus, monkeypatch):
    mug = product(client)
    put_in_basket(client, ANN, mug["id"], 1)
    assert sweep(client)["expiredBaskets"] == 0
    monkeypatch.setattr("chalicelib.housekeeping.service.now", lambda: datetime(9999, 1, 1, tzinfo=UTC))
    assert sweep(client)["expiredBaskets"] == 1
    assert call(client, "get", "/basket", headers=ANN).json["items"] == []


# --- the sweep as a whole -------------------------------------------------------------------

def test_one_failing_order_never_stops_the_sweep(client, bus, monkeypatch):
    from chalicelib.orders.service import OrderService

    first, _ = placed_order(client, ANN)
    second, _ = placed_order(client, ANN)
    third, _ = placed_order(client, ANN)
    make_overdue(monkeypatch)
    original = OrderService.expire

    def expire(self, order):
        if order.id == second["id"]:
            raise RuntimeError("this one breaks")
        return original(self, order)

    monkeypatch.setattr(OrderService, "expire", expire)
    report = sweep(client)
    assert (report["cancelledUnpaid"], report["failures"]) == (2, 1)
    assert [order_of(client, o)["status"] for o in (first, second, third)] == ["CANCELLED", "PENDING", "CANCELLED"]


def test_a_failing_step_never_stops_the_others(client, bus, monkeypatch):
    placed_order(client, ANN)
    make_overdue(monkeypatch)

    def broken(*args, **kwargs):
        raise RuntimeError("the outbox index is unreachable")

    monkeypatch.setattr("chalicelib.housekeeping.service.republish_waiting", broken)
    report = sweep(client)
    assert (report["failures"], report["cancelledUnpaid"]) == (1, 1)


def test_the_sweep_starts_no_work_it_has_no_time_for(aws, bus, monkeypatch):
    from chalicelib.composition import Services
    from chalicelib.housekeeping.service import sweep as run_sweep

    shop = Services()
    assert run_sweep(shop.orders, shop.basket_records, remaining_ms=lambda: 500, products=shop.products) == {
        "republished": 0, "parkedEvents": 0, "stockMoved": 0, "cancelledUnpaid": 0, "expiredBaskets": 0,
        "refundsOverdue": 0, "failures": 0}
