"""Routes of returns: customers ask to send back what was delivered; staff receive or reject it."""
from __future__ import annotations

from chalicelib.composition import services
from chalicelib.core.http import body, caller, doc, page, query, respond
from chalicelib.core.models import PageQuery
from chalicelib.core.routing import Routes
from chalicelib.orders.models import IdempotencyKey
from chalicelib.returns.models import Rejection, Return, ReturnQuery, ReturnRequest

routes = Routes(__name__)


@routes.route("/orders/{order_id}/returns", methods=["POST"])
@doc("Ask to return units of my delivered order, within the return window", "user", body=ReturnRequest,
     returns=Return, status=201, errors=(404, 409),
     headers=(("Idempotency-Key", True, "8-128 letters, digits or -_:.; the same key and body answer the same return",
               IdempotencyKey),))
def request_return(order_id):
    from chalicelib.orders.routes import idempotency_key

    request = body(ReturnRequest)
    return respond(services().returns.request(caller(), order_id, idempotency_key(), request), status=201)


@routes.route("/orders/{order_id}/returns", methods=["GET"])
@doc("The returns of my order (staff: any order)", "user", query=PageQuery, returns=Return, paged=True,
     errors=(404,))
def list_order_returns(order_id):
    return page(services().returns.list_for_order(caller(), order_id, query(PageQuery)))


@routes.route("/admin/returns", methods=["GET"])
@doc("Returns by status (REQUESTED unless asked), oldest first", "admin", query=ReturnQuery, returns=Return,
     paged=True)
def admin_list_returns():
    return page(services().returns.list_by_status(query(ReturnQuery)))


@routes.route("/admin/returns/{return_id}/receive", methods=["POST"])
@doc("The parcel arrived: restock its units once and refund their value (discount spread in proportion)",
     "admin", returns=Return, errors=(404, 409))
def admin_receive_return(return_id):
    return respond(services().returns.receive(caller(), return_id))


@routes.route("/admin/returns/{return_id}/reject", methods=["POST"])
@doc("Refuse a return, saying why", "admin", body=Rejection, returns=Return, errors=(404, 409))
def admin_reject_return(return_id):
    return respond(services().returns.reject(caller(), return_id, body(Rejection)))
