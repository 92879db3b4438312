"""Serving the API's own description: the OpenAPI document and its docs page (Swagger UI, self-hosted)."""
from __future__ import annotations

import functools
import hashlib
import pathlib
from typing import Any

from chalice import Response


@functools.lru_cache(maxsize=1)
def _spec_of(app_id: int, app: Any) -> dict[str, Any]:
    from chalicelib.core.openapi import build

    return build(app)


def openapi_spec(app: Any) -> dict[str, Any]:
    """Built once per container, on the first request that asks for it."""
    return _spec_of(id(app), app)


# Swagger UI, vendored from swagger-ui-dist (Apache-2.0; tools/swagger_ui.py pins the version), is
# served by this function: text, so API Gateway needs no binary media types. Each asset URL carries
# its content's digest, so browsers keep it for a year and a new deployment's assets are fetched anew.
_HERE = pathlib.Path(__file__).resolve().parent
_VENDORED = _HERE / "swagger_ui"
ASSETS = {  # the name under /docs/ -> (content type, files served one after the other)
    "swagger-ui.css": ("text/css; charset=utf-8", (_VENDORED / "swagger-ui.css",)),
    "swagger-ui.js": ("text/javascript; charset=utf-8", (_VENDORED / "swagger-ui-bundle.js", _HERE / "docs.js")),
}
# Only this API's own scripts, styles and calls; Swagger UI draws its icons from data: URIs.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                           "frame-ancestors 'none'")
_HTML_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
                 "Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
                 "Referrer-Policy": "no-referrer"}


@functools.cache
def asset(name: str) -> tuple[str, str, str]:
    """(content type, text, digest) of a page asset, read once per container, on first request."""
    content_type, files = ASSETS[name]
    text = "\n".join(path.read_text(encoding="utf-8") for path in files)
    return content_type, text, hashlib.sha256(text.encode()).hexdigest()[:16]


def asset_response(name: str) -> Response:
    content_type, text, _ = asset(name)
    return Response(body=text, status_code=200, headers={
        "Content-Type": content_type, "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff"})


@functools.lru_cache(maxsize=1)
def _page() -> str:
    # Relative URLs: the page is /docs locally and /<stage>/docs behind API Gateway.
    css, js = (f"docs/{name}?v={asset(name)[2]}" for name in ("swagger-ui.css", "swagger-ui.js"))
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Shop API</title>\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<link rel="stylesheet" href="{css}"></head>\n'
            f'<body><div id="swagger-ui" data-openapi="openapi.json"></div><script src="{js}"></script></body></html>\n')


def docs_page() -> Response:
    return Response(body=_page(), status_code=200, headers=dict(_HTML_HEADERS))
