"""The docs match the code: every API route is documented in docs/api.md."""

from __future__ import annotations

from pathlib import Path

import httpx

DOCS = Path(__file__).resolve().parents[1] / "docs"


async def test_every_route_is_in_the_api_docs(client: httpx.AsyncClient):
    lines = (DOCS / "api.md").read_text().splitlines()
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    missing = []
    for path, operations in paths.items():
        short = path.removeprefix("/api/v1")
        for method in operations:
            # Documented = one line names both the method and the path (a table row or a heading).
            if not any(
                method.upper() in line and (f"{short}`" in line or line.rstrip().endswith(short) or f"{short} " in line)
                for line in lines
            ):
                missing.append(f"{method.upper()} {path}")
    assert not missing, "undocumented routes: " + ", ".join(missing)
