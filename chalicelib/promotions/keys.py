"""Key design of promotions and their redemptions (see docs/access-patterns.md)."""
from __future__ import annotations

from chalicelib.users.keys import user_pk

PROMOTION_SK = "PROMOTION"
ALL_PROMOTIONS = "PROMOTIONS"  # GSI2 partition: every promotion, by code


def promotion_pk(code: str) -> str:
    return f"PROMOTION#{code}"


def promotion_key(code: str) -> tuple[str, str]:
    return promotion_pk(code), PROMOTION_SK


def redeemed_key(user_id: str, code: str) -> tuple[str, str]:
    """The marker of a once-per-customer code the customer redeemed: in their own partition."""
    return user_pk(user_id), f"REDEEMED#{code}"


def listing_keys(code: str) -> dict[str, str]:
    return {"GSI2PK": ALL_PROMOTIONS, "GSI2SK": code}
