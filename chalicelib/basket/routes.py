"""Routes of the basket: mine, priced from the catalogue."""
from __future__ import annotations

from chalicelib.basket.models import BasketOut, QuantityChange
from chalicelib.composition import services
from chalicelib.core.http import body, caller, doc, respond
from chalicelib.core.routing import Routes
from chalicelib.promotions.models import PromotionCodeIn

routes = Routes(__name__)


@routes.route("/basket", methods=["GET"])
@doc("My basket, priced from the catalogue", "user", returns=BasketOut)
def get_basket():
    return respond(services().baskets.view(caller().user_id))


@routes.route("/basket/items/{product_id}", methods=["PUT"])
@doc("Set a line's quantity (0 removes it)", "user", body=QuantityChange, returns=BasketOut, errors=(409,))
def set_basket_item(product_id):
    return respond(services().baskets.set_quantity(caller().user_id, product_id, body(QuantityChange).quantity))


@routes.route("/basket/items/{product_id}", methods=["DELETE"])
@doc("Remove a line", "user", status=204)
def remove_basket_item(product_id):
    services().baskets.set_quantity(caller().user_id, product_id, 0)
    return respond(status=204)


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
