"""The sweeper: republish the outbox, cancel unpaid orders, expire abandoned baskets.

Every step reads an index (never a scan) and every write is conditional, so two sweeps
running at once do each thing once.
"""
from __future__ import annotations

from datetime import timedelta

from chalicelib.basket.repository import BasketRepository
from chalicelib.core.ids import iso, now
from chalicelib.core.logs import get_logger
from chalicelib.core.outbox import publish_and_mark, unpublished
from chalicelib.orders.service import OrderService

# A writer publishes right after committing; give it this long before stepping in.
OUTBOX_GRACE = timedelta(minutes=1)
_BATCH = 100


def sweep(orders: OrderService | None = None, baskets: BasketRepository | None = None) -> dict[str, int]:
    orders = orders or OrderService()
    baskets = baskets or BasketRepository()
    report = {"republished": publish_and_mark(unpublished(OUTBOX_GRACE, _BATCH)),
              "cancelledUnpaid": orders.cancel_overdue(_BATCH),
              "expiredBaskets": _expire_baskets(baskets)}
    get_logger("housekeeping").info("sweep done", extra=report)
    return report


def _expire_baskets(baskets: BasketRepository) -> int:
    expired, _cursor = baskets.expired(iso(now()), _BATCH)
    # Conditional on the version seen: a basket touched since is no longer abandoned.
    return sum(1 for user_id, version in expired if baskets.delete_if_unchanged(user_id, version))
