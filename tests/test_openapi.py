"""The OpenAPI document and its docs page: accurate, versioned under /api/v1, usable offline."""

from __future__ import annotations

import re

import httpx


async def test_openapi_document_describes_the_api(client: httpx.AsyncClient):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] == "Maestro API"
    assert all(path.startswith("/api/v1/") for path in doc["paths"])
    assert doc["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The token from MAESTRO_HOME/token",
    }
    assert doc["security"] == [{"BearerToken": []}]
    health = doc["paths"]["/api/v1/health"]["get"]
    assert health["security"] == []  # public: no token needed
    ready = doc["paths"]["/api/v1/ready"]["get"]
    assert {"200", "503"} <= set(ready["responses"])
    assert "security" not in ready  # inherits the global bearer requirement


async def test_swagger_page_loads_only_local_assets(client: httpx.AsyncClient):
    page = await client.get("/schema/swagger")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100
