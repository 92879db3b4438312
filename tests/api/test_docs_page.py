"""The docs page: Swagger UI served by the API itself, its own scripts only, assets cached by digest."""
from __future__ import annotations

import hashlib
import re

YEAR = "public, max-age=31536000, immutable"


def _assets_of(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(docs/[^"]+)"', html)


def test_the_page_loads_only_its_own_digest_named_assets_under_a_strict_policy(client):
    page = client.http.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy and "unsafe" not in policy
    assert page.headers["Cache-Control"] == "no-cache"  # small, and it names the current assets
    html = page.body.decode()
    assert "://" not in html  # nothing from a CDN, and the stage prefix is kept by relative URLs
    assert re.findall(r"<script[^>]*>", html) == [f'<script src="{_assets_of(html)[1]}">']  # no inline code
    assert [url.split("?")[0] for url in _assets_of(html)] == ["docs/swagger-ui.css", "docs/swagger-ui.js"]
    assert all(re.search(r"\?v=[0-9a-f]{16}$", url) for url in _assets_of(html))


def test_assets_are_text_cached_for_a_year(client):
    script = client.http.get("/docs/swagger-ui.js")
    assert script.status_code == 200 and script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.headers["Cache-Control"] == YEAR and script.headers["X-Content-Type-Options"] == "nosniff"
    text = script.body.decode()
    assert "SwaggerUIBundle" in text and "preauthorizeApiKey" in text  # the bundle, then the page's setup
    style = client.http.get("/docs/swagger-ui.css")
    assert style.status_code == 200 and style.headers["Content-Type"] == "text/css; charset=utf-8"
    assert style.headers["Cache-Control"] == YEAR and ".swagger-ui" in style.body.decode()


def test_an_asset_url_names_its_content():
    from chalicelib.api.docs_page import asset

    for name in ("swagger-ui.js", "swagger-ui.css"):
        _, text, digest = asset(name)
        assert digest == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_the_vendored_swagger_ui_is_the_pinned_subset_with_its_licence():
    from tools.swagger_ui import FILES, TARGET, VERSION

    assert (TARGET / "VERSION").read_text().strip() == VERSION
    assert sorted(path.name for path in TARGET.iterdir()) == sorted([*FILES, "VERSION"])
    assert "Apache License" in (TARGET / "LICENSE").read_text()
