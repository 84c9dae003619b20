"""Events: the durable log (`log`), the live hub that fans it out (`hub`) and retention (`retention`).

Transports use this facade; services import the submodules they need.
"""

from app.services.events.hub import EventHub, Filter, Heartbeat, Reset, SlowConsumer, parse_types
from app.services.events.log import last_seq, read_events, recent_events

__all__ = [
    "EventHub",
    "Filter",
    "Heartbeat",
    "Reset",
    "SlowConsumer",
    "last_seq",
    "parse_types",
    "read_events",
    "recent_events",
]
