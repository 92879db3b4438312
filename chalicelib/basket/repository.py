"""Baskets in DynamoDB: one item per user holding {productId: quantity}, guarded by a version."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.basket import keys
from chalicelib.core import dynamo, shards
from chalicelib.core.dynamo import TransactionContended, Write
from chalicelib.core.lines import Lines
from chalicelib.users.repository import UserRepository


@dataclass
class StoredBasket:
    user_id: str
    lines: Lines = field(default_factory=Lines)
    currency: str | None = None  # what every line is priced in (None: the shop's default)
    version: int = 0  # 0: not stored yet
    updated_at: str | None = None
    promotion_code: str | None = None  # applied by the shopper; priced (and checked) on every read
    shipping_address: dict[str, Any] | None = None  # a PostalAddress as on the wire
    shipping_method_id: str | None = None


class BasketChanged(Exception):
    """Someone else (another tab, a checkout) changed the basket since it was read."""


class BasketRepository:
    def get(self, user_id: str) -> StoredBasket:
        item = dynamo.get(keys.user_pk(user_id), keys.BASKET_SK)
        if not item:
            return StoredBasket(user_id=user_id)
        data = dynamo.from_item(item)
        return StoredBasket(user_id=user_id, lines=Lines.from_stored(data.get("lines")),
                            currency=data.get("currency"), version=data["version"], updated_at=data.get("updated_at"),
                            promotion_code=data.get("promotion_code"), shipping_address=data.get("shipping_address"),
                            shipping_method_id=data.get("shipping_method_id"))

    def save(self, basket: StoredBasket, updated_at: str, expires_at: int, expires_at_iso: str) -> None:
        """Write the basket if it is still at the version that was read (optimistic locking) and its owner's
        account is active (AccountInactive otherwise: a suspended or erased account writes nothing)."""
        item = {"PK": keys.user_pk(basket.user_id), "SK": keys.BASKET_SK, "type": "BASKET",
                "user_id": basket.user_id, "lines": basket.lines.stored(),
                "currency": basket.currency, "version": basket.version + 1,
                "promotion_code": basket.promotion_code,
                "shipping_address": basket.shipping_address, "shipping_method_id": basket.shipping_method_id,
                "updated_at": updated_at, "expiresAt": expires_at,
                # Indexed by expiry so housekeeping can find abandoned baskets without a scan.
                "GSI3PK": keys.expiry_shard(basket.user_id), "GSI3SK": f"{expires_at_iso}#{basket.user_id}"}
        if basket.version:
            written = dynamo.put(item, "version = :v", values={":v": basket.version}, refused=BasketChanged)
        else:
            written = dynamo.put(item, refused=BasketChanged)
        self._write_for(basket.user_id, written)
        basket.version += 1
        basket.updated_at = updated_at

    @staticmethod
    def _write_for(user_id: str, write: Write) -> None:
        """One write on the basket, with the check that its owner's account is active, in one transaction."""
        try:
            dynamo.transact([UserRepository.active(user_id), write])
        except TransactionContended:
            raise BasketChanged() from None

    def delete(self, user_id: str) -> None:
        """Erasure's: the basket goes, whatever the account's state."""
        dynamo.ddb().delete_item(TableName=dynamo.table_name(), Key=dynamo.key(keys.user_pk(user_id), keys.BASKET_SK))

    def empty(self, user_id: str) -> None:
        """The owner empties their basket (AccountInactive unless their account is active)."""
        self._write_for(user_id, dynamo.delete(keys.user_pk(user_id), keys.BASKET_SK))

    def delete_if_unchanged(self, user_id: str, version: int) -> bool:
        unchanged = dynamo.delete(keys.user_pk(user_id), keys.BASKET_SK, "version = :v", values={":v": version})
        return dynamo.applied(unchanged)

    def clear_in_transaction(self, user_id: str, version: int) -> Write:
        """The transaction item that empties the basket exactly as it was read (BasketChanged if it changed)."""
        return dynamo.delete(keys.user_pk(user_id), keys.BASKET_SK, "version = :v", values={":v": version},
                             refused=BasketChanged)

    def expired(self, before_iso: str, limit: int, cursor: str | None = None):
        """Baskets whose expiry passed (TTL may take up to two days to remove them)."""
        page = shards.query_page(keys.EXPIRY_PARTITION, keys.EXPIRY_SHARDS, index="GSI3", limit=limit, cursor=cursor,
                                 sort_between=("0", before_iso))
        return [(item["user_id"], item["version"]) for item in page.items], page.next_cursor
