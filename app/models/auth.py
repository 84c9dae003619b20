"""Models for browser login links."""

from __future__ import annotations

import msgspec


class LoginLink(msgspec.Struct, kw_only=True):
    """A URL that signs a browser in once; it expires after `expires_in` seconds."""

    url: str
    expires_in: float
