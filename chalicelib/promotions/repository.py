"""Promotions in DynamoDB: one item per code, listed through GSI2; redemptions counted on it inside
other domains' transactions (the checkout takes one, an order leaving PENDING unpaid gives it back)."""
from __future__ import annotations

from typing import Any

from chalicelib.core import dynamo
from chalicelib.core.events import Envelope
from chalicelib.core.outbox import outbox_puts
from chalicelib.promotions import keys
from chalicelib.promotions.models import (
    ALREADY_USED,
    EXHAUSTED,
    EXPIRED,
    INACTIVE,
    NOT_STARTED,
    Promotion,
    PromotionSeen,
)


class PromotionExists(Exception):
    pass


class PromotionChanged(Exception):
    """The promotion changed between the read and the write (another editor, or a checkout past the new cap)."""


class RedemptionRefused(Exception):
    """A checkout's redemption was refused: `why` is the 409 code (PROMOTION_EXHAUSTED, PROMOTION_ALREADY_USED...),
    None when the code is gone."""

    def __init__(self, why: str | None):
        super().__init__(why or "unknown promotion")
        self.why = why


def promotion_of(item: dict[str, Any]) -> Promotion:
    return dynamo.model_from_item(Promotion, item)


class PromotionRepository:
    def get(self, code: str) -> Promotion | None:
        item = dynamo.get(*keys.promotion_key(code))
        return promotion_of(dynamo.from_item(item)) if item else None

    @staticmethod
    def seen_keys(code: str, user_id: str) -> list[tuple[str, str]]:
        """What to read, with a basket's products, to judge its code: the promotion and the customer's marker."""
        return [keys.promotion_key(code), keys.redeemed_key(user_id, code)]

    @staticmethod
    def seen_from(code: str, user_id: str, items: dict[tuple[str, str], dict[str, Any]]) -> PromotionSeen:
        """The code as `seen_keys` read it (`items`: those found, by key)."""
        item = items.get(keys.promotion_key(code))
        return PromotionSeen(code=code, promotion=promotion_of(item) if item else None,
                             used=keys.redeemed_key(user_id, code) in items)

    def list(self, limit: int, cursor: str | None) -> dynamo.Page:
        page = dynamo.query_page(keys.ALL_PROMOTIONS, index="GSI2", limit=limit, cursor=cursor)
        page.items = [promotion_of(item) for item in page.items]
        return page

    def create(self, promotion: Promotion, events: list[Envelope]) -> None:
        item = {"PK": keys.promotion_pk(promotion.code), "SK": keys.PROMOTION_SK, "type": "PROMOTION",
                **promotion.model_dump(), **keys.listing_keys(promotion.code)}
        dynamo.transact([dynamo.put(item, refused=PromotionExists(promotion.code)), *outbox_puts(events)])

    def save(self, seen: Promotion, saved: Promotion, events: list[Envelope]) -> None:
        """Write what changed from `seen` to `saved` with `events`, conditioned on the version read and,
        for a cap, on the redemptions not being past it already (checkouts count without a new version)."""
        old, new = seen.model_dump(), saved.model_dump()
        change = dynamo.Update().set_all({name: value for name, value in new.items()
                                          if value != old[name] and name not in ("code", "redemptions")})
        condition, names, values = "#version = :seen_version", {"#version": "version"}, {":seen_version": seen.version}
        if saved.max_redemptions is not None:
            condition += " AND #redemptions <= :cap"
            names["#redemptions"] = "redemptions"
            values[":cap"] = saved.max_redemptions
        written = dynamo.update(*keys.promotion_key(seen.code), change, condition, names=names, values=values,
                                refused=PromotionChanged(seen.code))
        try:
            dynamo.transact([written, *outbox_puts(events)])
        except dynamo.TransactionContended:
            raise PromotionChanged(seen.code) from None

    # --- redemptions in other domains' transactions ------------------------------------

    def redeem_in_transaction(self, code: str, at: str) -> dynamo.Write:
        """The transaction item counting one redemption: refused (RedemptionRefused, saying why from the promotion
        as it was) unless the code is active, within its window at `at` and under its cap."""
        return dynamo.update(*keys.promotion_key(code), dynamo.Update().add("redemptions", 1),
                             "#active = :yes AND (attribute_not_exists(#valid_from) OR #valid_from <= :at) AND "
                             "(attribute_not_exists(#valid_until) OR #valid_until > :at) AND "
                             "(attribute_not_exists(#max_redemptions) OR #redemptions < #max_redemptions)",
                             names={"#active": "active", "#valid_from": "valid_from", "#valid_until": "valid_until",
                             "#max_redemptions": "max_redemptions"},
                             values={":yes": True, ":at": at},
                             refused=lambda found: RedemptionRefused(self.redemption_refusal(found, at)))

    @staticmethod
    def redemption_refusal(as_was: dynamo.Found, at: str) -> str | None:
        """Why `redeem_in_transaction` was refused, from the promotion as the transaction found it:
        None when it is gone (unknown), else the 409 code."""
        if as_was is None:
            return None
        if not as_was.get("active"):
            return INACTIVE
        if as_was.get("valid_from") and at < as_was["valid_from"]:
            return NOT_STARTED
        if as_was.get("valid_until") and at >= as_was["valid_until"]:
            return EXPIRED
        return EXHAUSTED

    @staticmethod
    def mark_redeemed_in_transaction(user_id: str, code: str, order_id: str, at: str) -> dynamo.Write:
        """The transaction item recording that `user_id` redeemed a once-per-customer code: refused
        (RedemptionRefused: PROMOTION_ALREADY_USED) if they already hold it."""
        pk, sk = keys.redeemed_key(user_id, code)
        return dynamo.put({"PK": pk, "SK": sk, "type": "REDEMPTION", "code": code, "order_id": order_id,
                           "redeemed_at": at}, refused=RedemptionRefused(ALREADY_USED))

    @staticmethod
    def give_back_in_transaction(code: str, user_id: str, once_per_customer: bool) -> list[dynamo.Write]:
        """The transaction items returning one redemption of `code` (and the customer's marker): for an
        order leaving PENDING unpaid, in the transaction that moves it, so it happens once."""
        items = [dynamo.update(*keys.promotion_key(code), dynamo.Update().add("redemptions", -1))]
        if once_per_customer:
            items.append(dynamo.delete(*keys.redeemed_key(user_id, code)))
        return items
