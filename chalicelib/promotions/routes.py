"""Routes of promotions: the codes staff define (shoppers apply them through the basket's routes)."""
from __future__ import annotations

from chalicelib.composition import services
from chalicelib.core.http import body, caller, doc, page, query, respond
from chalicelib.core.routing import Routes
from chalicelib.promotions.models import Promotion, PromotionCreate, PromotionListQuery, PromotionPatch

routes = Routes(__name__)


@routes.route("/admin/promotions", methods=["POST"])
@doc("Create a promotion code", "admin", body=PromotionCreate, returns=Promotion, status=201, errors=(409,))
def create_promotion():
    return respond(services().promotions.create(body(PromotionCreate), actor=caller().user_id), status=201)


@routes.route("/admin/promotions", methods=["GET"])
@doc("Promotion codes, by code", "admin", query=PromotionListQuery, returns=Promotion, paged=True)
def list_promotions():
    return page(services().promotions.list(query(PromotionListQuery)))


@routes.route("/admin/promotions/{code}", methods=["PATCH"])
@doc("Deactivate, reactivate or extend a promotion code", "admin", body=PromotionPatch, returns=Promotion,
     errors=(409,))
def update_promotion(code):
    return respond(services().promotions.update(code, body(PromotionPatch), actor=caller().user_id))
