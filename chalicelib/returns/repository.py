"""Returns in DynamoDB: `RETURN#<id>`, listed per order (GSI1) and per status for staff (GSI2)."""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import dynamo
from chalicelib.core.dynamo import Page, Update, Write
from chalicelib.core.events import Envelope
from chalicelib.core.outbox import outbox_puts
from chalicelib.returns.keys import RETURN_SK, order_returns_partition, return_pk, status_partition
from chalicelib.returns.models import Return
from chalicelib.users.personal_data import ERASED
from chalicelib.users.repository import UserRepository


class ReturnDecided(Exception):
    """The return is no longer REQUESTED: received or rejected meanwhile."""


class ReturnExists(Exception):
    """A return with this id is recorded already (the same request key, sent again or concurrently)."""


def _return(item: dict[str, Any]) -> Return:
    return dynamo.model_from_item(Return, item)


def _owner(item: dict[str, Any]) -> str:
    return item.get("user_id", "")


class ReturnRepository:
    def get(self, return_id: str) -> tuple[Return, str] | None:
        """The return and who asked for it."""
        found = self.get_stored(return_id)
        return (found[0], _owner(found[1])) if found else None

    def get_stored(self, return_id: str) -> tuple[Return, dict[str, Any]] | None:
        """The return and what it stored beside the wire fields (its buyer, its request's hash)."""
        item = dynamo.get(return_pk(return_id), RETURN_SK, consistent=True)
        if not item:
            return None
        plain = dynamo.from_item(item)
        return _return(plain), plain

    def put_item(self, ret: Return, user_id: str, request_hash: str | None = None) -> Write:
        """The transaction item recording a new return (ReturnExists if its id is taken)."""
        sort_key = f"{ret.created_at}#{ret.id}"
        return dynamo.put({"PK": return_pk(ret.id), "SK": RETURN_SK, "type": "RETURN", **ret.model_dump(mode="json"),
                    "user_id": user_id, "request_hash": request_hash, "GSI1PK": order_returns_partition(ret.order_id),
                    "GSI1SK": sort_key, "GSI2PK": status_partition(ret.status), "GSI2SK": sort_key},
                          refused=ReturnExists)

    def decide_item(self, ret: Return, status: str, decided_at: str, *, refund_id: str | None = None,
                    rejection_reason: str | None = None) -> Write:
        """The transaction item moving a return out of REQUESTED, once (ReturnDecided refuses a second)."""
        change = Update().set_all({"status": status, "decided_at": decided_at, "GSI2PK": status_partition(status)})
        if refund_id:
            change.set("refund_id", refund_id)
        if rejection_reason:
            change.set("rejection_reason", rejection_reason)
        return dynamo.update(return_pk(ret.id), RETURN_SK, change, "#status = :requested",
                             values={":requested": "REQUESTED"}, refused=ReturnDecided)

    def record(self, ret: Return, user_id: str, request_hash: str, reservation: Write,
               events: list[Envelope]) -> None:
        """Write a new return with its order's `reservation` of the units and the `events` announcing it,
        while the customer's account is active. Raises ReturnExists (its id is taken: the same request key
        again), OrderNotAsRead or AccountInactive."""
        dynamo.transact([self.put_item(ret, user_id, request_hash), reservation, UserRepository.active(user_id),
                  *outbox_puts(events)])

    def receive(self, reservation: Write, decided: Write, restock: list[Write], events: list[Envelope]) -> None:
        """Receive a return with nothing left to refund: its order's `reservation` counting the units back,
        the return `decided`, the units `restock`ed, the `events` announcing it. Raises OrderNotAsRead or
        ReturnDecided."""
        dynamo.transact([reservation, decided, *restock, *outbox_puts(events)])

    def reject(self, decided: Write, release: Write, events: list[Envelope]) -> None:
        """Reject a return: it is `decided`, its order's `release` frees its units, the `events` announce it.
        Raises ReturnDecided."""
        dynamo.transact([decided, release, *outbox_puts(events)])

    def forget_customer(self, order_id: str, user_id: str) -> None:
        """Erasure: the order's returns keep their lines, status and staff's decision; not the link to the
        customer, nor the reason they wrote (their own words, which may name them)."""
        for item in dynamo.every_item(order_returns_partition(order_id), index="GSI1"):
            if item.get("user_id") != user_id:
                continue
            try:
                dynamo.ddb().update_item(TableName=dynamo.table_name(), Key=dynamo.key(item["PK"], item["SK"]),
                                         **Update().set("user_id", ERASED).remove("reason").request(
                                      "user_id = :customer", values={":customer": user_id}))
            except ClientError as exc:
                if not dynamo.condition_failed(exc):  # a repeat: forgotten already
                    raise

    def of_order(self, order_id: str, limit: int, cursor: str | None) -> Page:
        page = dynamo.query_page(order_returns_partition(order_id), index="GSI1", limit=limit, cursor=cursor)
        page.items = [_return(item) for item in page.items]
        return page

    def with_status(self, status: str, limit: int, cursor: str | None) -> Page:
        page = dynamo.query_page(status_partition(status), index="GSI2", limit=limit, cursor=cursor)
        page.items = [_return(item) for item in page.items]
        return page
