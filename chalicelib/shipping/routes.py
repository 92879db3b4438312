"""Routes of shipping methods staff define (shoppers choose one through the basket's routes)."""
from __future__ import annotations

from chalicelib.composition import services
from chalicelib.core.http import body, caller, doc, page, query, respond
from chalicelib.core.models import PageQuery
from chalicelib.core.routing import Routes
from chalicelib.shipping.models import ShippingMethod, ShippingMethodCreate, ShippingMethodPatch

routes = Routes(__name__)


@routes.route("/admin/shipping-methods", methods=["POST"])
@doc("Create a shipping method: the zones it serves (a country serves each of its regions) and its rate in each "
     "currency, free over a threshold if set", "admin", body=ShippingMethodCreate, returns=ShippingMethod,
     status=201)
def create_shipping_method():
    return respond(services().shipping.create(body(ShippingMethodCreate), actor=caller().user_id), status=201)


@routes.route("/admin/shipping-methods", methods=["GET"])
@doc("Shipping methods, oldest first", "admin", query=PageQuery, returns=ShippingMethod, paged=True)
def list_shipping_methods():
    return page(services().shipping.list(query(PageQuery)))


@routes.route("/admin/shipping-methods/{method_id}", methods=["PATCH"])
@doc("Change a shipping method, or withdraw it (active: false)", "admin", body=ShippingMethodPatch,
     returns=ShippingMethod, errors=(404, 409))
def update_shipping_method(method_id):
    return respond(services().shipping.update(method_id, body(ShippingMethodPatch), actor=caller().user_id))
