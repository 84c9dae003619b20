"""WebSocket close codes Maestro's sockets use, in one place for the server, the CLI and docs/events.md."""

from __future__ import annotations

# Standard codes (RFC 6455) the server sends itself.
POLICY_VIOLATION = 1008  # refused before accepting (no credentials, foreign Origin or Host)
INTERNAL_ERROR = 1011  # a stream failed on the server: reconnect and resume
SERVICE_RESTART = 1012  # the server is shutting down or restarting: reconnect with backoff

# Application codes (4000-4999): the HTTP status each one echoes, plus 4000.
SLOW_CONSUMER = 4008  # an event subscriber fell too far behind: resume with after=<last seq>
BAD_REQUEST = 4400  # bad stream parameters: fix the request, do not retry
FORBIDDEN = 4403  # a session token asked for something its session may not see
NO_TERMINAL = 4404  # no running terminal for that session on this instance
INPUT_OVERFLOW = 4413  # a terminal's program left more than 1 MiB of input unread: input refused, socket closed
