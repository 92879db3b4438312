"""The shop's Lambda functions: the API (one blueprint per domain) and the seven event handlers.

Every route lives beside the service it calls (`chalicelib/<domain>/routes.py`) and declares
once who may call it; the middleware enforces that. Services are imported on first use; in Lambda a
domain's routes are registered when a request first needs one of its paths (chalicelib/core/routing.py).
"""
import os

from chalice import Chalice, Rate

from chalicelib.core.http import http_middleware, register_account_check
from chalicelib.core.observability import observe
from chalicelib.core.routing import Domains
from chalicelib.core.snapstart import register as register_restore_hooks

app = Chalice(app_name="shop")
register_restore_hooks()  # a snapshotted version refreshes what its snapshot must not share (SnapStart)
app.register_middleware(observe, "all")
# Each domain's routes (its `routes` blueprint, app.register_blueprint) and the paths they serve (the longest
# prefix wins). In Lambda a domain is registered when a request first needs one of its paths, elsewhere at once.
domains = Domains(app)
domains.add("chalicelib.api.routes", "/health", "/openapi.json", "/docs")
domains.add("chalicelib.users.routes", "/auth", "/me", "/admin/users")
domains.add("chalicelib.catalogue.routes", "/products")
domains.add("chalicelib.basket.routes", "/basket")
domains.add("chalicelib.orders.routes", "/orders", "/basket/checkout", "/admin/orders")
domains.add("chalicelib.payments.routes", "/webhooks", "/orders/{order_id}/payment", "/admin/orders/{order_id}/refunds",
            "/admin/payments")
domains.add("chalicelib.promotions.routes", "/admin/promotions")
domains.add("chalicelib.returns.routes", "/orders/{order_id}/returns", "/admin/returns")
domains.add("chalicelib.notifications.routes", "/me/notifications")
domains.add("chalicelib.audit.routes", "/admin/audit")
domains.add("chalicelib.tax.routes", "/admin/tax-rates")
domains.add("chalicelib.shipping.routes", "/admin/shipping-methods")
app.register_middleware(http_middleware(app), "http")


def refuse_inactive_accounts(who, allows_erased=False):
    """Before every user and admin route: a suspended or erased account's token is still valid."""
    from chalicelib.composition import services

    services().users.refuse_inactive(who, allows_erased=allows_erased)


register_account_check(refuse_inactive_accounts)


# --- asynchronous handlers (their names are the deployed functions': see .chalice/config.json) ---

# Stage-specific names arrive through .chalice/config.json before this module is imported.
ORDERS_QUEUE = os.environ.get("ORDERS_QUEUE_NAME", "shop-local-orders")
AUDIT_QUEUE = os.environ.get("AUDIT_QUEUE_NAME", "shop-local-audit")
ERASURES_QUEUE = os.environ.get("ERASURES_QUEUE_NAME", "shop-local-erasures")
IMAGES_QUEUE = os.environ.get("IMAGES_QUEUE_NAME", "shop-local-images")
NOTIFY_QUEUE = os.environ.get("NOTIFY_QUEUE_NAME", "shop-local-notify")
PAYMENTS_QUEUE = os.environ.get("PAYMENTS_QUEUE_NAME", "shop-local-payments")


@app.on_sqs_message(queue=ORDERS_QUEUE, batch_size=10, name="create_orders")
def on_checkout_requested(event):
    from chalicelib.composition import services
    from chalicelib.orders.pipeline import create_orders

    return create_orders((record.to_dict() for record in event), services().orders)


@app.on_sqs_message(queue=AUDIT_QUEUE, batch_size=10, name="record_audit")
def on_audited_event(event):
    from chalicelib.composition import services
    from chalicelib.core.messages import each_event

    return each_event((record.to_dict() for record in event), services().audit.record, "audit")


# One erasure per invocation: each gets the whole timeout, and continues itself when that is not enough.
@app.on_sqs_message(queue=ERASURES_QUEUE, batch_size=1, name="erase_users")
def on_user_erased(event):
    from chalicelib.composition import services
    from chalicelib.users.erasure import erase_users

    return erase_users((record.to_dict() for record in event), services().users, queue_name=ERASURES_QUEUE,
                       remaining_ms=getattr(event.context, "get_remaining_time_in_millis", None))


# S3 announces each upload on the default bus; a rule there feeds this queue (see docs/decisions.md).
@app.on_sqs_message(queue=IMAGES_QUEUE, batch_size=10, name="validate_images")
def on_image_uploaded(event):
    from chalicelib.catalogue.images import validate_uploads
    from chalicelib.composition import services

    return validate_uploads((record.to_dict() for record in event), services().images)


# A rule on the shop's own bus feeds this queue (the merge template's NotifyRule, NOTIFIED_EVENTS): Chalice's
# on_cw_event knows only the default bus, so every consumer of the shop's bus reads a queue (docs/decisions.md).
@app.on_sqs_message(queue=NOTIFY_QUEUE, batch_size=10, name="notify")
def on_notified_event(event):
    from chalicelib.composition import services
    from chalicelib.core.messages import each_event

    return each_event((record.to_dict() for record in event), services().notifications.handle, "notify")


# The payment provider's side of what the shop decided (the merge template's PaymentsRule): a refund asked for is
# paid back through the provider, an order cancelled unpaid cancels its payment. Only this function and the API
# read the provider's keys.
@app.on_sqs_message(queue=PAYMENTS_QUEUE, batch_size=10, name="payment_provider")
def on_payment_work(event):
    from chalicelib.composition import services
    from chalicelib.core.messages import each_event

    return each_event((record.to_dict() for record in event), services().provider_work.handle, "payments")


@app.schedule(Rate(1, unit=Rate.MINUTES), name="housekeeping")
def housekeeping(event):
    from chalicelib.composition import services
    from chalicelib.housekeeping.service import sweep

    root = services()
    return sweep(root.orders, root.basket_records,
                 remaining_ms=getattr(event.context, "get_remaining_time_in_millis", None), products=root.products)
