"""Routes of the API about itself: its health, its OpenAPI document and a browsable page of it."""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.core.http import doc

routes = Blueprint(__name__)


@routes.route("/openapi.json", methods=["GET"])
@doc("This document", "public", raw_response={"type": "object"})
def openapi_document():
    from chalicelib.api.docs_page import openapi_spec

    return openapi_spec(routes.current_app)


@routes.route("/docs", methods=["GET"])
@doc("Browsable API documentation (works offline)", "public", raw_response={"type": "string"})
def api_docs():
    from chalicelib.api.docs_page import docs_page

    return Response(body=docs_page(), status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@routes.route("/health", methods=["GET"])
@doc("Health: is the table reachable?", "public", raw_response={"type": "object"}, errors=(503,))
def health():
    from chalicelib.core.health import check_health

    return check_health()
