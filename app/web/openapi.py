"""OpenAPI 3.1 document at /schema with Swagger UI served from local files (works offline)."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from app import __version__


def openapi_config() -> OpenAPIConfig:
    """Document every route with bearer auth required unless a route says otherwise."""
    favicon = "<link rel='icon' type='image/svg+xml' href='/static/favicon.svg'>"
    return OpenAPIConfig(
        title="Maestro API",
        version=__version__,
        description=(
            "Automation surface of Maestro. Every route except /api/v1/health needs "
            "`Authorization: Bearer <token>` (the token is in MAESTRO_HOME/token). Errors always have the "
            "shape `{status_code, detail, extra}`."
        ),
        path="/schema",
        render_plugins=[
            SwaggerRenderPlugin(
                path="/swagger",
                js_url="/static/swagger-ui/swagger-ui-bundle.js",
                css_url="/static/swagger-ui/swagger-ui.css",
                standalone_preset_js_url="/static/swagger-ui/swagger-ui-standalone-preset.js",
                favicon=favicon,
            ),
            JsonRenderPlugin(),
            YamlRenderPlugin(),
        ],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(
                    type="http", scheme="bearer", description="The token from MAESTRO_HOME/token"
                )
            }
        ),
        security=[{"BearerToken": []}],
    )
