"""The sweeper: republish the outbox, cancel unpaid orders, expire abandoned baskets, count refunds overdue.

Every step reads an index (never a scan) and every write is conditional on what was read, so
two sweeps running at once do each thing once, and an order paid after the sweeper read it is
left paid. Steps and items are isolated: one failure is logged, counted and skipped, and the
rest proceeds. The sweep stops starting new work when the invocation's time runs low; the
next tick carries on.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from chalicelib.basket.repository import BasketRepository
from chalicelib.catalogue.repository import ProductRepository
from chalicelib.core import metrics
from chalicelib.core.ids import iso, now
from chalicelib.core.logs import get_logger
from chalicelib.core.outbox import republish as republish_waiting
from chalicelib.orders.service import OrderService

# A writer publishes right after committing; give it this long before stepping in.
OUTBOX_GRACE = timedelta(minutes=1)
_BATCH = 100
# Stop starting new work this long before the invocation would be cut off (one item takes milliseconds).
SAFETY_MARGIN_SECONDS = 1.0
# An order owed a refund for longer than this is counted (RefundsDueOverADay) until it is refunded.
REFUND_REMINDER_AFTER = timedelta(days=1)
_MOST_COUNTED = 1000  # pages of the reminder's count, bounded: past this, the metric says "at least"


def sweep(orders: OrderService, baskets: BasketRepository,
          remaining_ms: Callable[[], int] | None = None, products: ProductRepository | None = None) -> dict[str, int]:
    """One scheduled run. `remaining_ms` is the invocation's clock (Lambda's context); `products` (the shop's)
    evens out the stock of variants spread over several stock items."""
    started = time.monotonic()

    def time_left() -> float:
        if remaining_ms is not None:
            return remaining_ms() / 1000 - SAFETY_MARGIN_SECONDS
        return 600 - (time.monotonic() - started)  # no invocation clock: a generous bound all the same

    report = {"republished": 0, "parkedEvents": 0, "stockMoved": 0, "cancelledUnpaid": 0, "expiredBaskets": 0,
              "refundsOverdue": 0, "failures": 0}
    log = get_logger("housekeeping")

    def step(name: str, run: Callable[[], None]) -> None:
        if time_left() <= 0:
            log.warning("sweep step skipped: out of time", extra={"step": name})
            return
        try:
            run()
        except Exception:
            report["failures"] += 1
            log.exception("sweep step failed", extra={"step": name})

    def republish() -> None:
        for _round in range(10):  # bounded: a lagging index may hand back what was just published
            if time_left() <= 0:
                return
            done = republish_waiting(OUTBOX_GRACE, _BATCH)  # a record no consumer would take is parked
            report["republished"] += done.published
            report["parkedEvents"] += done.parked
            if done.read < _BATCH or done.published + done.parked == 0:  # drained, or the bus refuses: next tick
                return

    def one(count: str, run: Callable[..., int], args: tuple, failed: str, **about: str) -> None:
        """One item of a step, isolated: what `run(*args)` did counted under `count`, its failure logged and
        counted."""
        try:
            report[count] += run(*args)
        except Exception:
            report["failures"] += 1
            log.exception(failed, extra=about)

    def even_stock() -> None:
        # Restocks without a copy of their product land on a variant's first stock item, and buyers empty some
        # items before others: moved back to even here, each variant in a transaction of its own.
        for product_id, variant_id in products.sharded_variants():
            if time_left() <= 0:
                return
            one("stockMoved", products.even_out, (product_id, variant_id),
                "a variant's stock could not be evened out", variantId=variant_id)

    def cancel_unpaid() -> None:
        result = orders.expire_overdue(limit=_BATCH, time_left=time_left)
        report["cancelledUnpaid"] += result["cancelled"]
        report["failures"] += result["failed"]

    def expire_baskets() -> None:
        cursor, before = None, iso(now())
        while time_left() > 0:
            expired, cursor = baskets.expired(before, _BATCH, cursor)
            for user_id, version in expired:
                if time_left() <= 0:  # the rest of the page waits for the next tick
                    return
                # Conditional on the version seen: a basket touched since is no longer abandoned.
                one("expiredBaskets", baskets.delete_if_unchanged, (user_id, version),
                    "an abandoned basket could not be expired", userId=user_id)
            if not cursor:
                return

    def count_refunds_overdue() -> None:
        cursor, before = None, iso(now() - REFUND_REMINDER_AFTER)
        while time_left() > 0 and report["refundsOverdue"] < _MOST_COUNTED:
            page = orders.orders.refund_due_since(before, _BATCH, cursor)
            # The index lags the table: count only what the order still says.
            report["refundsOverdue"] += sum(1 for order in page.items if order.refund_due)
            cursor = page.next_cursor
            if not cursor:
                break
        if report["refundsOverdue"]:
            metrics.count("RefundsDueOverADay", report["refundsOverdue"])

    step("republish", republish)
    if products is not None:
        step("even_stock", even_stock)
    step("cancel_unpaid", cancel_unpaid)
    step("expire_baskets", expire_baskets)
    step("count_refunds_overdue", count_refunds_overdue)
    if report["failures"]:
        metrics.count("SweepFailures", report["failures"])
    log.info("sweep done", extra=report)
    return report
