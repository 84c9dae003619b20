"""OpenAPI 3.1 document at /schema: msgspec's own schemas, every error and auth rule per operation, offline UI."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar._openapi.schema_generation.plugins import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, Schema, SecurityScheme
from litestar.routes import HTTPRoute

from app import __version__
from app.web.errors import ErrorBody

SCHEMA_REF = "#/components/schemas/{name}"
ERROR_CONTENT = {"application/json": {"schema": {"$ref": SCHEMA_REF.format(name="ErrorBody")}}}
BEARER = "BearerToken"
# What a 404 is about, by the path parameter that names it ({name} is named after its collection: profile, skill).
PATH_NOUNS = {"project_id": "project", "task_id": "task", "dependency_id": "dependency", "session_id": "session"}
BAD_REQUEST = (
    "A parameter or the body breaks the schema (extra: a list of {message, key, source}), or a value breaks a rule "
    "no schema can state, such as an id in the body that must exist (extra names the field)"
)


def openapi_config(structs: StructSchemas) -> OpenAPIConfig:
    """Document every route with bearer auth required unless a route says otherwise (finished by `Finisher`)."""
    favicon = "<link rel='icon' type='image/svg+xml' href='/static/favicon.svg'>"
    finisher = Finisher(structs)
    return OpenAPIConfig(
        title="Maestro API",
        version=__version__,
        description=(
            "Automation surface of Maestro. Every route except /api/v1/health needs "
            "`Authorization: Bearer <token>` (the token is in MAESTRO_HOME/token). Errors always have the "
            "shape `{status_code, detail, extra}`; each operation lists the ones it can answer."
        ),
        path="/schema",
        render_plugins=[
            _finished(SwaggerRenderPlugin, finisher)(
                path="/swagger",
                js_url="/static/swagger-ui/swagger-ui-bundle.js",
                css_url="/static/swagger-ui/swagger-ui.css",
                standalone_preset_js_url="/static/swagger-ui/swagger-ui-standalone-preset.js",
                favicon=favicon,
            ),
            _finished(JsonRenderPlugin, finisher)(),
            _finished(YamlRenderPlugin, finisher)(),
        ],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(type="http", scheme="bearer", description="The token from MAESTRO_HOME/token")
            }
        ),
        security=[{BEARER: []}],
    )


KEY_REUSED = "The Idempotency-Key was already used with a different request"


def conflict(description: str) -> dict[int, ResponseSpec]:
    """The 409 a route can answer, and why; every other error response is derived (see `Finisher`)."""
    return {409: ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)}


def not_found(description: str) -> dict[int, ResponseSpec]:
    """A 404 for something the path alone does not name (e.g. a project_id in the query)."""
    return {404: ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)}


class StructSchemas(StructSchemaPlugin):
    """Litestar's msgspec Struct plugin, remembering each Struct so the finisher can swap in msgspec's schema.

    Why: Litestar drops constraints on items and keys (`list[Annotated[str, Meta(...)]]`, dict keys) and never
    says `additionalProperties: false` for `forbid_unknown_fields`, so its schemas allow bodies msgspec refuses.
    msgspec's own JSON Schema describes exactly what its decoder accepts and its encoder produces.
    """

    def __init__(self) -> None:
        self.structs: dict[int, type] = {}  # id of the Schema Litestar registered -> its Struct

    def to_openapi_schema(self, field_definition: Any, schema_creator: Any) -> Schema:
        """Litestar's schema (kept for its component name), noted for replacement."""
        schema = super().to_openapi_schema(field_definition, schema_creator)
        self.structs[id(schema)] = field_definition.type_
        return schema


class Finisher:
    """Completes the document Litestar generates, once, when it is first served (building it takes ~0.5 s).

    Component schemas become msgspec's; every operation gets the errors it can answer and its security.
    """

    def __init__(self, structs: StructSchemas) -> None:
        self.structs = structs
        self._finished: dict[str, Any] | None = None

    def __call__(self, app: Litestar, document: dict[str, Any]) -> dict[str, Any]:
        """The finished document (Litestar hands every render plugin the same cached dict)."""
        if document is not self._finished:
            self._use_msgspec_schemas(app, document)
            for route in app.routes:
                operations = document["paths"].get(route.path_format) if isinstance(route, HTTPRoute) else None
                for handler in route.route_handlers if operations else ():
                    for method in handler.http_methods:
                        if (operation := operations.get(method.lower())) is not None:
                            document_errors(operation, handler, route.path_format)
                            _optional_body(operation, handler)
            self._finished = document
        return document

    def _use_msgspec_schemas(self, app: Litestar, document: dict[str, Any]) -> None:
        """Replace every Struct's component schema with msgspec's, under the same component name."""
        registered = (app.openapi_schema.components.schemas or {}).items()  # built and cached by Litestar already
        named = {name: self.structs.structs[id(s)] for name, s in registered if id(s) in self.structs.structs}
        refs, schemas = msgspec.json.schema_components([*named.values(), ErrorBody], ref_template=SCHEMA_REF)
        for (name, struct), ref in zip(named.items(), refs, strict=False):
            if ref["$ref"] != SCHEMA_REF.format(name=name):  # both name a component after its class: a clash is a bug
                raise RuntimeError(f"OpenAPI component {name} of {struct!r} is named {ref['$ref']} by msgspec")
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.update(schemas)
        document["components"]["schemas"] = dict(sorted(components.items()))


def document_errors(operation: dict[str, Any], handler: HTTPRouteHandler, path: str) -> None:
    """Add the error responses this operation can give, derived from what it takes and from the gate's rules.

    Every route: 403 (Host not allowed; the gate checks it before anything else). Routes needing the token: 401,
    429 (too many failed attempts from the address, checked before the token), and 403 also for a refused
    Origin or a session token the route does not allow. Parameters or a body: 400. Path parameters: 404 (not
    for PUT, which creates what its path names). A body: 413 and 415. An Idempotency-Key header: 409 (the key
    was used with a different request), added to the route's own 409 if it declares one; otherwise 409 only where
    the route declares it.
    """
    public = bool(handler.opt.get("public"))
    params = operation.get("parameters", [])
    body = operation.get("requestBody")
    errors = {403: "Host not allowed" if public else "Host or Origin not allowed, or not for this session token"}
    if params or body:
        errors[400] = BAD_REQUEST
    named = [p["name"] for p in params if p.get("in") == "path"]
    if named and "PUT" not in handler.http_methods:
        nouns = [PATH_NOUNS.get(name) or path.split("/{")[0].rsplit("/", 1)[-1].removesuffix("s") for name in named]
        errors[404] = f"No {' or '.join(dict.fromkeys(nouns))} found by the path"
    if body:
        errors[413] = f"Request body larger than {handler.resolve_request_max_body_size()} bytes"
        errors[415] = "Request bodies must be JSON (Content-Type: application/json)"
    responses = operation.setdefault("responses", {})
    if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in params):
        declared = responses.get("409", {}).get("description")
        errors[409] = f"{declared}; or: {KEY_REUSED}" if declared else KEY_REUSED
    if public:
        operation["security"] = []
    else:
        errors[401] = "Missing or invalid token"
        errors[429] = "Too many failed authentication attempts from this address; wait a minute"
    for status, description in errors.items():
        # Litestar's own 400 has a schema of its own: ours is the one error shape, like every other error.
        if str(status) not in responses or status in (400, 409):
            responses[str(status)] = error_response(status, description)
    operation["responses"] = dict(sorted(responses.items()))


def error_response(status: int, description: str) -> dict[str, Any]:
    """An error in the one shape, with the headers the gate sends along with it."""
    response: dict[str, Any] = {"description": description, "content": ERROR_CONTENT}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": _header('Always `Bearer realm="maestro"`')}
    if status == 429:
        response["headers"] = {"Retry-After": _header("Seconds to wait before trying again")}
    return response


def _header(description: str) -> dict[str, Any]:
    return {"schema": {"type": "string"}, "description": description, "required": True}


def _optional_body(operation: dict[str, Any], handler: HTTPRouteHandler) -> None:
    """Litestar marks every request body required; one whose `data` parameter has a default may be left out."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if "requestBody" in operation and data is not None and data.has_default:
        operation["requestBody"]["required"] = False


def _finished(plugin: type[OpenAPIRenderPlugin], finisher: Finisher) -> Any:
    """`plugin`, rendering the finished document."""

    class Finished(plugin):  # type: ignore[valid-type, misc]
        def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
            return super().render(request, finisher(request.app, openapi_schema))

    Finished.__name__ = f"Finished{plugin.__name__}"
    return Finished
