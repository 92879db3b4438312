"""Routes of the API about itself: its health, its OpenAPI document and a browsable page of it."""
from __future__ import annotations

from chalicelib.core.http import doc
from chalicelib.core.routing import Routes

routes = Routes(__name__)


@routes.route("/openapi.json", methods=["GET"])
@doc("This document", "public", raw_response={"type": "object"})
def openapi_document():
    from chalicelib.api.docs_page import openapi_spec

    return openapi_spec(routes.current_app)


@routes.route("/docs", methods=["GET"])
@doc("Browsable API documentation with \"Try it out\" (Swagger UI, self-hosted)", "public",
     raw_response={"type": "string", "contentMediaType": "text/html"})
def api_docs():
    from chalicelib.api.docs_page import docs_page

    return docs_page()


@routes.route("/docs/swagger-ui.js", methods=["GET"])
@doc("The docs page's script (cached for a year; its URL changes with its content)", "public",
     raw_response={"type": "string", "contentMediaType": "text/javascript"})
def api_docs_script():
    from chalicelib.api.docs_page import asset_response

    return asset_response("swagger-ui.js")


@routes.route("/docs/swagger-ui.css", methods=["GET"])
@doc("The docs page's stylesheet (cached for a year; its URL changes with its content)", "public",
     raw_response={"type": "string", "contentMediaType": "text/css"})
def api_docs_stylesheet():
    from chalicelib.api.docs_page import asset_response

    return asset_response("swagger-ui.css")


@routes.route("/health", methods=["GET"])
@doc("Health: is the table reachable?", "public", raw_response={"type": "object"}, errors=(503,))
def health():
    from chalicelib.core.health import check_health

    return check_health()
