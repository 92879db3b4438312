"""Routes of checkout and orders: mine, and the state machine staff drive."""
from __future__ import annotations

from chalicelib.composition import services
from chalicelib.core.errors import BadRequest
from chalicelib.core.http import body, caller, doc, header, page, query, respond
from chalicelib.core.routing import Routes
from chalicelib.orders.models import (
    AdminOrderQuery,
    CheckoutAccepted,
    CheckoutRequest,
    IdempotencyKey,
    Order,
    OrderListQuery,
    StatusChange,
)
from chalicelib.orders.shipments import Shipment, ShipmentRequest

routes = Routes(__name__)


def idempotency_key() -> IdempotencyKey:
    """The request's Idempotency-Key header: 400 when it is missing or malformed."""
    from pydantic import TypeAdapter, ValidationError

    key = header("Idempotency-Key")
    if not key:
        raise BadRequest("The Idempotency-Key header is required.", code="IDEMPOTENCY_KEY_REQUIRED")
    try:
        return TypeAdapter(IdempotencyKey).validate_python(key)
    except ValidationError:
        raise BadRequest("The Idempotency-Key header must be 8-128 letters, digits or -_:.",
                         code="IDEMPOTENCY_KEY_INVALID") from None


@routes.route("/basket/checkout", methods=["POST"])
@doc("Check out the basket: stock reserved, order created asynchronously", "user",
     body=CheckoutRequest, returns=CheckoutAccepted, status=202, errors=(409, 503),
     headers=(("Idempotency-Key", True, "8-128 letters, digits or -_:.; the same key and body answer the same result",
               IdempotencyKey),))
def checkout():
    request = body(CheckoutRequest)
    return respond(services().checkouts.checkout(caller(), idempotency_key(), request), status=202)


@routes.route("/orders", methods=["GET"])
@doc("My orders, newest first", "user", query=OrderListQuery, returns=Order, paged=True)
def list_orders():
    return page(services().orders.list_own(caller(), query(OrderListQuery)))


@routes.route("/orders/{order_id}", methods=["GET"])
@doc("One of my orders (staff: any order)", "user", returns=Order)
def get_order(order_id):
    return respond(services().orders.get_for(caller(), order_id))


@routes.route("/orders/{order_id}/cancel", methods=["POST"])
@doc("Cancel my order while it is not shipped", "user", returns=Order, errors=(409,))
def cancel_order(order_id):
    return respond(services().orders.cancel_own(caller(), order_id))


@routes.route("/admin/orders", methods=["GET"])
@doc("Orders by status", "admin", query=AdminOrderQuery, returns=Order, paged=True)
def admin_list_orders():
    return page(services().orders.list_by_status(query(AdminOrderQuery)))


@routes.route("/admin/orders/{order_id}/status", methods=["POST"])
@doc("Move an order through the state machine: SHIPPED ships every unit not yet shipped in one shipment (no "
     "carrier or tracking), DELIVERED delivers every shipment; only a shipment makes an order PARTIALLY_SHIPPED",
     "admin", body=StatusChange, returns=Order, errors=(409,))
def admin_set_order_status(order_id):
    return respond(services().orders.set_status(caller(), order_id, body(StatusChange)))


@routes.route("/admin/orders/{order_id}/shipments", methods=["POST"])
@doc("Ship units of a paid order (every unit not yet shipped unless `lines` says which) with a carrier and its "
     "tracking; the order is PARTIALLY_SHIPPED until every unit has shipped, then SHIPPED", "admin",
     body=ShipmentRequest, returns=Shipment, status=201, errors=(404, 409),
     headers=(("Idempotency-Key", True, "8-128 letters, digits or -_:.; the same key and body answer the same shipment",
               IdempotencyKey),))
def admin_ship_order(order_id):
    request = body(ShipmentRequest)
    return respond(services().orders.ship(caller(), order_id, idempotency_key(), request), status=201)


@routes.route("/admin/orders/{order_id}/shipments/{shipment_id}/delivered", methods=["POST"])
@doc("The carrier delivered a shipment; the order is DELIVERED once every unit has shipped and every shipment "
     "is delivered (its return window opens then)", "admin", returns=Shipment, errors=(404, 409))
def admin_shipment_delivered(order_id, shipment_id):
    return respond(services().orders.deliver(caller(), order_id, shipment_id))
