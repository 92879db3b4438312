"""Key design of baskets (see docs/access-patterns.md)."""
from __future__ import annotations

from chalicelib.core.shards import sharded
from chalicelib.users.keys import user_pk

BASKET_SK = "BASKET"
EXPIRY_PARTITION = "BASKETEXPIRY"
# Every basket write moves the basket in the expiry index: spread over shards by its owner.
EXPIRY_SHARDS = 64


def expiry_shard(user_id: str) -> str:
    return sharded(EXPIRY_PARTITION, user_id, EXPIRY_SHARDS)


__all__ = ["user_pk", "BASKET_SK", "EXPIRY_PARTITION", "EXPIRY_SHARDS", "expiry_shard"]
