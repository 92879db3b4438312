"""Returns in DynamoDB: `RETURN#<id>`, listed per order (GSI1) and per status for staff (GSI2)."""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core.dynamo import (
    Page,
    TransactionRejected,
    Update,
    condition_failed,
    ddb,
    every_item,
    from_item,
    key,
    model_from_item,
    query_page,
    table_name,
    to_item,
    transact_write,
)
from chalicelib.core.events import Envelope
from chalicelib.core.outbox import outbox_puts
from chalicelib.orders.repository import OrderNotAsRead, order_from_item
from chalicelib.returns.keys import RETURN_SK, order_returns_partition, return_pk, status_partition
from chalicelib.returns.models import Return
from chalicelib.users.personal_data import ERASED
from chalicelib.users.repository import AccountInactive, UserRepository


class ReturnDecided(Exception):
    """The return is no longer REQUESTED: received or rejected meanwhile."""


class ReturnExists(Exception):
    """A return with this id is recorded already (the same request key, sent again or concurrently)."""


def _order_not_as_read(rejected: TransactionRejected) -> OrderNotAsRead:
    """The order's item (first in the transaction) refused: the order as it was, to judge again from."""
    old = rejected.old(0)
    return OrderNotAsRead(order_from_item(old) if old else None)


def _return(item: dict[str, Any]) -> Return:
    return model_from_item(Return, item)


def _owner(item: dict[str, Any]) -> str:
    return item.get("user_id", "")


class ReturnRepository:
    def get(self, return_id: str) -> tuple[Return, str] | None:
        """The return and who asked for it."""
        found = self.get_stored(return_id)
        return (found[0], _owner(found[1])) if found else None

    def get_stored(self, return_id: str) -> tuple[Return, dict[str, Any]] | None:
        """The return and what it stored beside the wire fields (its buyer, its request's hash)."""
        item = ddb().get_item(TableName=table_name(), Key=key(return_pk(return_id), RETURN_SK), ConsistentRead=True).get("Item")
        if not item:
            return None
        plain = from_item(item)
        return _return(plain), plain

    def put_item(self, ret: Return, user_id: str, request_hash: str | None = None) -> dict[str, Any]:
        sort_key = f"{ret.created_at}#{ret.id}"
        item = {"PK": return_pk(ret.id), "SK": RETURN_SK, "type": "RETURN", **ret.model_dump(mode="json"),
                "user_id": user_id, "request_hash": request_hash, "GSI1PK": order_returns_partition(ret.order_id),
                "GSI1SK": sort_key, "GSI2PK": status_partition(ret.status), "GSI2SK": sort_key}
        return {"Put": {"TableName": table_name(), "Item": to_item(item),
                        "ConditionExpression": "attribute_not_exists(PK)"}}

    def decide_item(self, ret: Return, status: str, decided_at: str, *, refund_id: str | None = None,
                    rejection_reason: str | None = None) -> dict[str, Any]:
        """The transaction item moving a return out of REQUESTED, once (the condition refuses a second)."""
        update = Update().set_all({"status": status, "decided_at": decided_at,
                                   "GSI2PK": status_partition(status)})
        if refund_id:
            update.set("refund_id", refund_id)
        if rejection_reason:
            update.set("rejection_reason", rejection_reason)
        return {"Update": {"TableName": table_name(), "Key": key(return_pk(ret.id), RETURN_SK),
                           **update.request("#status = :requested", values={":requested": "REQUESTED"})}}

    def record(self, ret: Return, user_id: str, request_hash: str, reservation: dict[str, Any],
               events: list[Envelope]) -> None:
        """Write a new return with its order's `reservation` of the units and the `events` announcing it,
        while the customer's account is active. Raises OrderNotAsRead, ReturnExists (its id is taken: the
        same request key again) or AccountInactive."""
        try:
            transact_write([reservation, self.put_item(ret, user_id, request_hash), UserRepository.active(user_id),
                            *outbox_puts(events)])
        except TransactionRejected as rejected:
            if rejected.failed(1):
                raise ReturnExists() from None
            if rejected.failed(0):
                raise _order_not_as_read(rejected) from None
            if rejected.failed(2):
                raise AccountInactive(user_id) from None
            raise

    def receive(self, reservation: dict[str, Any], decided: dict[str, Any], restock: list[dict[str, Any]],
                events: list[Envelope]) -> None:
        """Receive a return with nothing left to refund: its order's `reservation` counting the units back,
        the return `decided`, the units `restock`ed, the `events` announcing it. Raises OrderNotAsRead or
        ReturnDecided."""
        try:
            transact_write([reservation, decided, *restock, *outbox_puts(events)])
        except TransactionRejected as rejected:
            if rejected.failed(0):
                raise _order_not_as_read(rejected) from None
            if rejected.failed(1):
                raise ReturnDecided() from None
            raise

    def reject(self, decided: dict[str, Any], release: dict[str, Any], events: list[Envelope]) -> None:
        """Reject a return: it is `decided`, its order's `release` frees its units, the `events` announce it.
        Raises ReturnDecided."""
        try:
            transact_write([decided, release, *outbox_puts(events)])
        except TransactionRejected as rejected:
            if rejected.failed(0):
                raise ReturnDecided() from None
            raise

    def forget_customer(self, order_id: str, user_id: str) -> None:
        """Erasure: the order's returns keep their lines, status and staff's decision; not the link to the
        customer, nor the reason they wrote (their own words, which may name them)."""
        for item in every_item(order_returns_partition(order_id), index="GSI1"):
            if item.get("user_id") != user_id:
                continue
            try:
                ddb().update_item(TableName=table_name(), Key=key(item["PK"], item["SK"]),
                                  **Update().set("user_id", ERASED).remove("reason").request(
                                      "user_id = :customer", values={":customer": user_id}))
            except ClientError as exc:
                if not condition_failed(exc):  # a repeat: forgotten already
                    raise

    def of_order(self, order_id: str, limit: int, cursor: str | None) -> Page:
        page = query_page(order_returns_partition(order_id), index="GSI1", limit=limit, cursor=cursor)
        page.items = [_return(item) for item in page.items]
        return page

    def with_status(self, status: str, limit: int, cursor: str | None) -> Page:
        page = query_page(status_partition(status), index="GSI2", limit=limit, cursor=cursor)
        page.items = [_return(item) for item in page.items]
        return page
