"""Routes of the basket: mine, priced from the catalogue."""
from __future__ import annotations

from chalicelib.basket.models import BasketAddress, BasketCurrency, BasketOut, QuantityChange
from chalicelib.composition import services
from chalicelib.core.http import body, body_shaped, caller, doc, respond
from chalicelib.core.routing import Routes
from chalicelib.promotions.models import PromotionCodeIn
from chalicelib.shipping.models import ShippingChoice, ShippingOptions

routes = Routes(__name__)


@routes.route("/basket", methods=["GET"])
@doc("My basket, priced from the catalogue", "user", returns=BasketOut)
def get_basket():
    return respond(services().baskets.view(caller().user_id))


@routes.route("/basket/items/{variant_id}", methods=["PUT"])
@doc("Set a line's quantity (0 removes it); a product of one variant may be named by its own id", "user",
     body=QuantityChange, returns=BasketOut, errors=(400, 409))
def set_basket_item(variant_id):
    return respond(services().baskets.set_quantity(caller().user_id, variant_id, body(QuantityChange).quantity))


@routes.route("/basket/items/{variant_id}", methods=["DELETE"])
@doc("Remove a line", "user", status=204)
def remove_basket_item(variant_id):
    services().baskets.set_quantity(caller().user_id, variant_id, 0)
    return respond(status=204)


@routes.route("/basket/currency", methods=["PUT"])
@doc("Price my basket in another currency (409 PRICE_NOT_AVAILABLE naming the items without a price in it)", "user",
     body=BasketCurrency, returns=BasketOut, errors=(409,))
def set_basket_currency():
    return respond(services().baskets.set_currency(caller().user_id, body(BasketCurrency).currency))


@routes.route("/basket/shipping-address", methods=["PUT"])
@doc("Ship my basket to an address, or to a saved one (`{\"addressId\"}`): its tax is reckoned there (409 "
     "DESTINATION_NOT_SERVED where no shipping method delivers in the basket's currency)", "user",
     body=BasketAddress, returns=BasketOut, errors=(409, 422))
def set_basket_shipping_address():
    return respond(services().baskets.set_shipping_address(caller().user_id, body_shaped(BasketAddress.shape_of)))


@routes.route("/basket/shipping-methods", methods=["GET"])
@doc("The shipping methods my basket may use (serving its address, priced in its currency), at what each costs it, "
     "cheapest first",
     "user", returns=ShippingOptions)
def list_basket_shipping_methods():
    return respond(services().baskets.shipping_options(caller().user_id))


@routes.route("/basket/shipping-method", methods=["PUT"])
@doc("Ship my basket with a method (409 SHIPPING_METHOD_NOT_AVAILABLE unless GET /basket/shipping-methods lists "
     "it; 409 SHIPPING_ADDRESS_REQUIRED before an address)", "user", body=ShippingChoice, returns=BasketOut,
     errors=(409,))
def set_basket_shipping_method():
    return respond(services().baskets.set_shipping_method(caller().user_id, body(ShippingChoice).id))


@routes.route("/basket", methods=["DELETE"])
@doc("Empty my basket", "user", status=204)
def clear_basket():
    services().baskets.clear(caller().user_id)
    return respond(status=204)


@routes.route("/basket/promotion", methods=["PUT"])
@doc("Apply a promotion code to my basket (409 for any code that does not apply, unknown or not; too many "
     "such codes and the customer waits: 429)", "user", body=PromotionCodeIn, returns=BasketOut, errors=(409, 429))
def apply_basket_promotion():
    return respond(services().baskets.apply_promotion(caller().user_id, body(PromotionCodeIn).code))


@routes.route("/basket/promotion", methods=["DELETE"])
@doc("Take the promotion code off my basket", "user", status=204)
def remove_basket_promotion():
    services().baskets.remove_promotion(caller().user_id)
    return respond(status=204)
