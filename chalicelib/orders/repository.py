"""Checkouts and orders in DynamoDB: the checkout transaction, conditional order creation, transitions."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.catalogue.keys import PRODUCT_SK, product_pk
from chalicelib.core.dynamo import Page, condition_failed, ddb, from_item, key, query_page, table_name, to_attr, to_item
from chalicelib.core.events import Envelope
from chalicelib.core.outbox import outbox_fields, outbox_put
from chalicelib.orders import keys
from chalicelib.orders.models import RETURNS_STOCK, Order


@dataclass
class CheckoutRecord:
    checkout_id: str
    order_id: str
    user_id: str
    request_hash: str
    created_at: str


class CheckoutRejected(Exception):
    """The checkout transaction was cancelled; `reasons` holds one code per transaction item."""

    def __init__(self, reasons: list[str], old_items: list[dict[str, Any] | None]):
        self.reasons = reasons
        self.old_items = old_items


class OrderChanged(Exception):
    """The order is not in the state (or version) the transition expected."""

    def __init__(self, current: Order | None):
        self.current = current


class DuplicatePaymentEvent(Exception):
    pass


def _order(item: dict[str, Any]) -> Order:
    return Order.model_validate({k: v for k, v in item.items() if k in Order.model_fields})


def _cancellation(exc: ClientError) -> tuple[list[str], list[dict[str, Any] | None]]:
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise exc
    reasons = exc.response.get("CancellationReasons", [])
    return ([r.get("Code", "None") for r in reasons],
            [from_item(r["Item"]) if r.get("Item") else None for r in reasons])


class CheckoutRepository:
    def get(self, checkout_id: str) -> CheckoutRecord | None:
        item = ddb().get_item(TableName=table_name(), Key=key(keys.checkout_pk(checkout_id), keys.CHECKOUT_SK),
                              ProjectionExpression="checkout_id, order_id, user_id, request_hash, created_at"
                              ).get("Item")
        if not item:
            return None
        return CheckoutRecord(**from_item(item))

    def commit(self, *, checkout: dict[str, Any], event: Envelope, lines: list[tuple[str, int, int]],
               basket_clear: dict[str, Any]) -> None:
        """One transaction: reserve every line's stock at the price shown, record the checkout
        (with its CheckoutRequested event in the outbox) and empty the basket.

        `lines` holds (product id, quantity, unit price). Item order in the transaction:
        the lines first, then the checkout record, then the basket.
        """
        items: list[dict[str, Any]] = []
        for product_id, quantity, unit_price in lines:
            items.append({"Update": {
                "TableName": table_name(), "Key": key(product_pk(product_id), PRODUCT_SK),
                "UpdateExpression": "ADD stock :minus",
                # Never below zero, never for an archived product, never at a stale price.
                "ConditionExpression": "stock >= :qty AND #status = :active AND price = :price",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":minus": to_attr(-quantity), ":qty": to_attr(quantity),
                                              ":active": to_attr("ACTIVE"), ":price": to_attr(unit_price)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}})
        record = {"PK": keys.checkout_pk(checkout["checkout_id"]), "SK": keys.CHECKOUT_SK, "type": "CHECKOUT",
                  **checkout, **outbox_fields(event)}
        items.append({"Put": {"TableName": table_name(), "Item": to_item(record),
                              "ConditionExpression": "attribute_not_exists(PK)"}})
        items.append(basket_clear)
        try:
            ddb().transact_write_items(TransactItems=items)
        except ClientError as exc:
            raise CheckoutRejected(*_cancellation(exc)) from None


class OrderRepository:
    def get(self, order_id: str) -> Order | None:
        item = ddb().get_item(TableName=table_name(), Key=key(keys.order_pk(order_id), keys.ORDER_SK)).get("Item")
        return _order(from_item(item)) if item else None

    def create(self, order: Order) -> tuple[Order, bool]:
        """Put the order unless it exists. Returns (order as stored, created now?)."""
        item = {"PK": keys.order_pk(order.id), "SK": keys.ORDER_SK, "type": "ORDER",
                **order.model_dump(mode="json"),
                **keys.index_keys(order.user_id, order.status, order.created_at, order.id, order.payment_due_at)}
        try:
            ddb().put_item(TableName=table_name(), Item=to_item(item),
                           ConditionExpression="attribute_not_exists(PK)",
                           ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if condition_failed(exc):
                old = exc.response.get("Item")
                return (_order(from_item(old)) if old else order), False
            raise
        return order, True

    def of_user(self, user_id: str, since: str | None, until: str | None, status: str | None,
                limit: int, cursor: str | None) -> Page:
        """A user's orders, newest first, optionally within a date range and of one status."""
        between = (since or "0", (until or "9") + "\uffff") if (since or until) else None
        page = query_page(keys.user_orders_partition(user_id), index="GSI1", limit=limit, cursor=cursor,
                          forward=False, sort_between=between,
                          filter_expression="#st = :st" if status else None,
                          filter_names={"#st": "status"} if status else None,
                          filter_values={":st": status} if status else None)
        page.items = [_order(item) for item in page.items]
        return page

    def with_status(self, status: str, limit: int, cursor: str | None) -> Page:
        page = query_page(keys.status_partition(status), index="GSI2", limit=limit, cursor=cursor, forward=False)
        page.items = [_order(item) for item in page.items]
        return page

    def payment_overdue(self, before: str, limit: int) -> list[Order]:
        page = query_page(keys.PAYMENT_DUE, index="GSI3", limit=limit, sort_between=("0", before))
        return [_order(item) for item in page.items]

    def transition(self, order: Order, target: str, updated_at: str, events: list[Envelope], *,
                   refund_due: bool = False, reason: str | None = None,
                   payment_event_id: str | None = None) -> Order:
        """Move `order` (as read) to `target` in one transaction with its stock returns and events.

        Conditioned on the status and version that were read, so of two concurrent moves
        exactly one wins, and stock comes back exactly once.
        """
        names = {"#status": "status", "#version": "version"}
        values: dict[str, Any] = {":from": to_attr(order.status), ":v": to_attr(order.version),
                                  ":to": to_attr(target), ":one": to_attr(1), ":now": to_attr(updated_at),
                                  ":g2": to_attr(keys.status_partition(target))}
        sets = ["#status = :to", "updated_at = :now", "GSI2PK = :g2"]
        if refund_due:
            sets.append("refund_due = :true")
            values[":true"] = to_attr(True)
        if reason:
            sets.append("status_reason = :reason")
            values[":reason"] = to_attr(reason)
        update = f"SET {', '.join(sets)} ADD #version :one"
        if order.status == "PENDING":
            update += " REMOVE GSI3PK, GSI3SK"  # no longer awaiting payment
        items: list[dict[str, Any]] = [{"Update": {
            "TableName": table_name(), "Key": key(keys.order_pk(order.id), keys.ORDER_SK),
            "UpdateExpression": update, "ConditionExpression": "#status = :from AND #version = :v",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}]
        if target in RETURNS_STOCK:
            for line in order.items:
                items.append({"Update": {
                    "TableName": table_name(), "Key": key(product_pk(line.product_id), PRODUCT_SK),
                    "UpdateExpression": "ADD stock :qty",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": {":qty": to_attr(line.quantity)}}})
        if payment_event_id:
            items.append({"Put": {
                "TableName": table_name(),
                "Item": to_item({"PK": keys.payment_event_pk(payment_event_id), "SK": "PAYMENTEVENT",
                                 "type": "PAYMENTEVENT", "order_id": order.id, "status": target,
                                 "received_at": updated_at}),
                "ConditionExpression": "attribute_not_exists(PK)"}})
        items.extend(outbox_put(event) for event in events)
        try:
            ddb().transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons, old = _cancellation(exc)
            if payment_event_id and reasons[-1 - len(events)] == "ConditionalCheckFailed":
                raise DuplicatePaymentEvent(payment_event_id) from None
            if reasons[0] == "ConditionalCheckFailed":
                raise OrderChanged(_order(old[0]) if old[0] else None) from None
            raise
        return order.model_copy(update={"status": target, "updated_at": updated_at, "version": order.version + 1,
                                        "refund_due": order.refund_due or refund_due,
                                        "status_reason": reason or order.status_reason})

    def payment_event_seen(self, provider_event_id: str) -> bool:
        item = ddb().get_item(TableName=table_name(), Key=key(keys.payment_event_pk(provider_event_id),
                                                              "PAYMENTEVENT")).get("Item")
        return item is not None

    def anonymise(self, order: Order, updated_at: str) -> None:
        """Keep the order for the books, without the person: no address, no link to the user."""
        ddb().update_item(
            TableName=table_name(), Key=key(keys.order_pk(order.id), keys.ORDER_SK),
            UpdateExpression="SET user_id = :anon, updated_at = :now, shipping_country = :country "
                             "REMOVE shipping_address, GSI1PK, GSI1SK",
            ExpressionAttributeValues={":anon": to_attr("erased"), ":now": to_attr(updated_at),
                                       ":country": to_attr(order.shipping_address.country
                                                           if order.shipping_address else "")})


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
