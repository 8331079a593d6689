"""Raw clickstream → experiment table (`uplift prepare`), synthetic clickstream, funnel and daily trends."""

from shared.events.prepare import PrepareOptions, PrepareSummary, prepare
from shared.events.schema import PRESETS, RETAILROCKET, EventLayout, EventsError

__all__ = [
    "PRESETS",
    "RETAILROCKET",
    "EventLayout",
    "EventsError",
    "PrepareOptions",
    "PrepareSummary",
    "prepare",
]
