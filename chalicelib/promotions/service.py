"""Promotion rules: what staff may change, and whether a code discounts a basket now.

Every change is written with the event that announces it (the outbox), so the audit trail misses none.
"""
from __future__ import annotations

import re

from chalicelib.core.attempts import Attempts, Limit
from chalicelib.core.dynamo import Page
from chalicelib.core.errors import Conflict, NotFound, same_version, still_changing
from chalicelib.core.events import envelope
from chalicelib.core.ids import iso
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.outbox import announce
from chalicelib.promotions.events import PromotionCreated, PromotionUpdated
from chalicelib.promotions.models import (
    CODE_PATTERN,
    REFUSALS,
    Promotion,
    PromotionCreate,
    PromotionListQuery,
    PromotionPatch,
)
from chalicelib.promotions.repository import PromotionChanged, PromotionExists, PromotionRepository

_CHANGE_ATTEMPTS = 5


# Codes a customer tries that do not apply: ten an hour are free, then each waits 1 s, 2 s, 4 s... (at most an
# hour). Enough for typos; far too few to find a code by asking.
PROMOTION_GUESSES = Limit("promotion-code", free=10, max_wait=3600, reset_after=3600)


def guesses_of(user_id: str) -> Attempts:
    return Attempts([(PROMOTION_GUESSES, user_id)])


def not_applicable() -> Conflict:
    """The one answer for a code that does not discount the basket, whether it exists or not (an answer per
    reason would tell which codes exist); the basket shows why a code it holds stopped applying."""
    return Conflict("This promotion code cannot be applied to your basket.", [
        {"field": "code", "issue": "not_applicable", "message": "unknown, or not valid for this basket now"}],
        code="PROMOTION_NOT_APPLICABLE")


def not_found(code: str) -> NotFound:
    return NotFound(f"Promotion code {code} was not found.", code="PROMOTION_NOT_FOUND")


def refused(reason: str) -> Conflict:
    """The 409 answering why a code cannot discount a basket now."""
    return Conflict(REFUSALS[reason], [{"field": "code", "issue": reason.removeprefix("PROMOTION_").lower(),
                                        "message": REFUSALS[reason]}], code=reason)


def normalised(code: str) -> str | None:
    """A code as stored (upper-case), or None if it cannot be one (so it is not found)."""
    return code.upper() if re.fullmatch(CODE_PATTERN, code or "") else None


class PromotionService:
    def __init__(self, promotions: PromotionRepository):
        self.promotions = promotions

    def create(self, new: PromotionCreate, actor: str) -> Promotion:
        moment = iso()
        promotion = Promotion(**new.model_dump(), active=True, redemptions=0, version=1,
                              created_at=moment, updated_at=moment)
        data = promotion.model_dump(include=set(PromotionCreated.model_fields))
        events = [envelope(PromotionCreated(**data), actor=actor)]
        try:
            self.promotions.create(promotion, events)
        except PromotionExists:
            raise Conflict(f"Promotion code {promotion.code} exists already.", code="PROMOTION_EXISTS") from None
        announce(events)
        return promotion

    def list(self, query: PromotionListQuery) -> Page:
        return self.promotions.list(query.limit, query.cursor)

    def get(self, code: str) -> Promotion:
        stored = normalised(code)
        promotion = self.promotions.get(stored) if stored else None
        if promotion is None:
            raise not_found(code)
        return promotion

    def update(self, code: str, patch: PromotionPatch, actor: str) -> Promotion:
        changes = patch.changes()

        def write(current: Promotion) -> Promotion:
            same_version(current.version, patch.version, "promotion")
            edited = current.model_copy(update={**changes, "version": current.version + 1, "updated_at": iso()})
            if edited.valid_from and edited.valid_until and edited.valid_until <= edited.valid_from:
                raise Conflict("validUntil must be after validFrom.", [{"field": "validUntil", "issue": "before_start",
                                                                        "message": "must be after validFrom"}],
                               code="PROMOTION_WINDOW_INVALID")
            if edited.max_redemptions is not None and edited.max_redemptions < current.redemptions:
                raise Conflict(f"The code has been redeemed {current.redemptions} times already.",
                               [{"field": "maxRedemptions", "issue": "below_redemptions",
                                 "message": f"at least {current.redemptions}"}], code="PROMOTION_CAP_TOO_LOW")
            dumped = edited.model_dump(mode="json", by_alias=True)
            changed = {alias: dumped[alias] for alias in (Promotion.model_fields[k].alias or k for k in changes)}
            events = [envelope(PromotionUpdated(code=current.code, version=edited.version, changes=changed),
                               actor=actor)]
            self.promotions.save(current, edited, events)
            announce(events)
            return edited

        return read_then_write(lambda: self.get(code), write, lost=PromotionChanged, attempts=_CHANGE_ATTEMPTS,
                               gave_up=still_changing("The promotion"))
