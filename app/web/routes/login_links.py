"""POST /api/v1/login-links: a single-use URL that signs a browser in (used by `maestro open`)."""

from __future__ import annotations

from litestar import Request, post
from litestar.di import NamedDependency

from app.models.auth import LoginLink
from app.web.security import AccessPolicy


@post("/login-links", tags=["auth"], summary="Create a browser login link", status_code=201)
async def create_login_link(request: Request, policy: NamedDependency[AccessPolicy]) -> LoginLink:
    """Issue a one-time `/?token=` link for this server; the real token never appears in it."""
    token, ttl = policy.issue_login_token()
    base = str(request.base_url).rstrip("/")
    return LoginLink(url=f"{base}/?token={token}", expires_in=ttl)


ROUTES = [create_login_link]
