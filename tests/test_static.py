"""Static files: content-hashed script URLs are cached by the browser for good, other files revalidated."""

from __future__ import annotations

import httpx

from ui.components.terminal import script_url


async def test_a_content_hashed_script_is_cached_for_good(client: httpx.AsyncClient):
    hashed = await client.get(script_url("type_ahead.js"))
    assert hashed.status_code == 200 and "maestroKeys" in hashed.text
    assert hashed.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert "cache-control" not in (await client.get("/static/type_ahead.js")).headers  # no hash: asked again


async def test_only_success_is_cached_and_signing_in_still_applies(client: httpx.AsyncClient, anon: httpx.AsyncClient):
    assert "cache-control" not in (await client.get("/static/no-such-file.js?v=1")).headers
    refused = await anon.get(script_url("type_ahead.js"))
    assert refused.status_code == 401 and "immutable" not in refused.headers.get("cache-control", "")
