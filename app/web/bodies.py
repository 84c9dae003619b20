"""JSON request bodies are checked strictly: exactly the JSON the OpenAPI schema describes, nothing coerced."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

from app.models.decoding import decode_json


async def strict_json_body(request: Request[Any, Any, Any]) -> None:
    """Refuse a body that only Litestar's lenient conversion would accept (`"5"` for an int, `0` for a bool).

    Litestar converts request data with msgspec's `strict=False`, which suits query strings (all text) but would
    let a JSON body carry `"archived": 0` or `"position": "5"`, which the schema says are not allowed. Bodies are
    small (the import document, the one large body, is decoded by its own service), so decoding twice costs
    little; the handler then gets Litestar's value, which this check proved valid.
    """
    handler = request.route_handler
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None or handler.resolve_data_dto() is not None:
        return
    body = await request.body()
    if not body:
        return  # an absent body is Litestar's to judge (a default, or its own 400)
    try:
        decode_json(body, data.annotation)
    except msgspec.ValidationError as exc:
        raise ValidationException(
            detail=f"Validation failed for {request.method} {request.url.path}",
            extra=[{"message": str(exc), "key": "data", "source": "body"}],
        ) from exc
    except msgspec.DecodeError as exc:
        # Not JSON, or nested too deeply to decode (where Litestar's own decoding would fail with a 500).
        raise ValidationException(
            detail=f"Validation failed for {request.method} {request.url.path}",
            extra=[{"message": f"invalid JSON: {exc}", "key": "data", "source": "body"}],
        ) from exc
