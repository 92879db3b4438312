"""Promotion wire models and the rules a code must pass to discount a basket."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.models import (
    MAX_AMOUNT,
    ApiModel,
    Currency,
    Money,
    PageQuery,
    SchemaHint,
    Text,
    Timestamp,
    utc_bound,
)

MAX_REDEMPTIONS = 1_000_000_000
CODE_PATTERN = r"^[A-Za-z0-9-]{3,32}$"

# Case-insensitive on the wire, stored and compared upper-case.
PromotionCode = Annotated[str, StringConstraints(pattern=CODE_PATTERN), AfterValidator(str.upper),
                          SchemaHint(minLength=3, maxLength=32)]
# An instant given as an ISO 8601 date-time (UTC if no zone), kept as the server writes timestamps.
Moment = Annotated[str, StringConstraints(max_length=40), AfterValidator(lambda v: utc_bound(v, end=False)),
                   SchemaHint(format="date-time", maxLength=40)]
Redemptions = Annotated[int, Field(ge=1, le=MAX_REDEMPTIONS)]

# Why a code cannot discount a basket now: what a basket holding it shows, and the checkout's 409. Applying a
# code answers every one of these alike (PROMOTION_NOT_APPLICABLE), so codes cannot be found by asking.
NOT_FOUND = "PROMOTION_NOT_FOUND"
INACTIVE = "PROMOTION_INACTIVE"
NOT_STARTED = "PROMOTION_NOT_STARTED"
EXPIRED = "PROMOTION_EXPIRED"
EXHAUSTED = "PROMOTION_EXHAUSTED"
ALREADY_USED = "PROMOTION_ALREADY_USED"
MINIMUM_NOT_MET = "PROMOTION_MINIMUM_NOT_MET"
CURRENCY_MISMATCH = "PROMOTION_CURRENCY_MISMATCH"
REFUSALS = {
    INACTIVE: "This promotion code is no longer active.",
    NOT_STARTED: "This promotion code is not valid yet.",
    EXPIRED: "This promotion code has expired.",
    EXHAUSTED: "This promotion code has been used as often as it may be.",
    ALREADY_USED: "You have already used this promotion code.",
    MINIMUM_NOT_MET: "The basket is below this promotion code's minimum.",
    CURRENCY_MISMATCH: "This promotion code is for another currency than the basket's.",
}


def _ordered_window(valid_from: str | None, valid_until: str | None) -> None:
    if valid_from and valid_until and valid_from >= valid_until:
        raise ValueError("validUntil must be after validFrom")


class PromotionCreate(ApiModel):
    """Exactly one of percentOff and amountOff; amountOff needs the currency it is in. With a currency,
    the code discounts only baskets in it (and minSubtotal is in it)."""

    code: PromotionCode
    description: Text(200) | SkipJsonSchema[None] = None
    percent_off: Annotated[int, Field(ge=1, le=100)] | SkipJsonSchema[None] = None
    amount_off: Annotated[int, Field(ge=1, le=MAX_AMOUNT)] | SkipJsonSchema[None] = None
    currency: Currency | SkipJsonSchema[None] = None
    valid_from: Moment | SkipJsonSchema[None] = None
    valid_until: Moment | SkipJsonSchema[None] = None
    max_redemptions: Redemptions | SkipJsonSchema[None] = None
    min_subtotal: Money | SkipJsonSchema[None] = None
    once_per_customer: bool

    @model_validator(mode="after")
    def _one_discount(self) -> "PromotionCreate":
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("give exactly one of percentOff or amountOff")
        if self.amount_off is not None and self.currency is None:
            raise ValueError("amountOff needs a currency")
        _ordered_window(self.valid_from, self.valid_until)
        return self


class PromotionPatch(ApiModel):
    """Deactivate (or reactivate), extend the window or the cap, reword. The discount itself never
    changes: baskets and checkouts already priced with it must not be surprised."""

    active: bool | SkipJsonSchema[None] = None
    description: Text(200) | SkipJsonSchema[None] = None
    valid_until: Moment | SkipJsonSchema[None] = None
    max_redemptions: Redemptions | SkipJsonSchema[None] = None
    # The version read: a stale one answers 409 (without it, the change applies to the promotion as it is).
    version: Annotated[int, Field(ge=1), SchemaHint(maximum=2**31 - 1)] | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _changes_something(self) -> "PromotionPatch":
        if not self.changes():
            raise ValueError("give at least one of active, description, validUntil, maxRedemptions")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: value for name, value in self.model_dump(exclude={"version"}).items() if value is not None}


class Promotion(ApiModel):
    code: str
    description: str | None = None
    percent_off: int | None = None
    amount_off: int | None = None
    currency: str | None = None
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    max_redemptions: int | None = None
    min_subtotal: int | None = None
    once_per_customer: bool
    active: bool = True
    redemptions: int = 0  # checkouts holding the code now (an order cancelled unpaid gives its one back)
    version: int = 1
    created_at: Timestamp
    updated_at: Timestamp

    def discount_on(self, subtotal: int) -> int:
        """The discount on `subtotal`, never more than it: percentages round down (floor) to the minor unit."""
        if self.percent_off is not None:
            return subtotal * self.percent_off // 100
        return min(self.amount_off or 0, subtotal)

    def refusal(self, *, at: str, subtotal: int, currency: str | None, used: bool) -> str | None:
        """Why the code cannot discount a basket of `subtotal` in `currency` at `at` for a customer who
        has (`used`) or has not redeemed it; None when it can. Checked in this order, so the answer
        names the promotion's own state before the basket's."""
        if not self.active:
            return INACTIVE
        if self.valid_from and at < self.valid_from:
            return NOT_STARTED
        if self.valid_until and at >= self.valid_until:
            return EXPIRED
        if self.max_redemptions is not None and self.redemptions >= self.max_redemptions:
            return EXHAUSTED
        if self.once_per_customer and used:
            return ALREADY_USED
        if self.currency and currency and currency != self.currency:
            return CURRENCY_MISMATCH
        if self.min_subtotal and subtotal < self.min_subtotal:
            return MINIMUM_NOT_MET
        return None


class PromotionListQuery(PageQuery):
    pass


class PromotionCodeIn(ApiModel):
    code: PromotionCode


class AppliedPromotion(ApiModel):
    """The basket's code and what it takes off now; `issue` says why it takes nothing (a 409 code)."""

    code: str
    discount: int
    issue: str | None = None


@dataclass(frozen=True)
class PromotionSeen:
    """A basket's code as read with the basket: the promotion (None: no such code) and whether the
    customer holds a redemption of it already."""

    code: str
    promotion: Promotion | None
    used: bool

    def judge(self, *, at: str, subtotal: int, currency: str | None) -> tuple[int, str | None]:
        """(discount, None) when the code discounts a basket of `subtotal` in `currency` at `at`;
        (0, why not) otherwise, `why` being PROMOTION_NOT_FOUND or a 409 code."""
        if self.promotion is None:
            return 0, NOT_FOUND
        why = self.promotion.refusal(at=at, subtotal=subtotal, currency=currency, used=self.used)
        return (0, why) if why else (self.promotion.discount_on(subtotal), None)

    def applied(self, *, at: str, subtotal: int, currency: str | None) -> AppliedPromotion:
        discount, why = self.judge(at=at, subtotal=subtotal, currency=currency)
        return AppliedPromotion(code=self.code, discount=discount, issue=why)
