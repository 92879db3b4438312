"""Key design of baskets (see docs/access-patterns.md)."""
from __future__ import annotations

from chalicelib.users.keys import user_pk

BASKET_SK = "BASKET"
EXPIRY_PARTITION = "BASKETEXPIRY"

__all__ = ["user_pk", "BASKET_SK", "EXPIRY_PARTITION"]
