"""Names of raw event and exposure columns, the event vocabulary, and the prepared table's columns.

An events file has one row per event: ``timestamp`` (ISO-8601 text or epoch milliseconds),
``user_id``, ``event`` (view, click, add_to_cart, purchase), ``item_id`` and, optionally, ``revenue``
on purchases. Other layouts are read through an :class:`EventLayout`: a column rename and an
event-name mapping (the RetailRocket preset is one). An exposures file has ``user_id``,
``variant`` and ``exposed_at`` (the first exposure; one row per user).

The prepared table (one row per exposed user), column by column:

- ``user_id``, ``variant``; ``exposure_day`` (UTC date of ``exposed_at``, ISO text; for daily trends).
- Pre-exposure features, from events with ``exposed_at - lookback <= timestamp < exposed_at``:
  ``<event>_7d`` and ``<event>_<lookback>d`` counts per event type (``view_7d``, ``purchase_30d``...);
  ``days_since_last_event`` (days from the last such event to ``exposed_at``; the lookback when none);
  ``sessions_<lookback>d`` (runs of events split where the gap exceeds the session gap);
  ``mean_session_minutes_<lookback>d`` (first-to-last event per session, averaged; 0 when none);
  ``distinct_items_<lookback>d``; ``spend_<lookback>d`` (revenue of purchases).
- Outcomes, from events with ``exposed_at < timestamp <= exposed_at + window`` (an event at the
  exposure instant is neither before nor after it, so it is in no column):
  ``viewed``, ``clicked``, ``added_to_cart``, ``purchased`` (0/1), ``revenue`` (sum; 0.0 when none).
- Funnel stitching, after exposure, same item, previous event within the attribution tolerance:
  ``attributed_clicks`` (clicks preceded by a view), ``attributed_purchases`` (purchases preceded by
  a click or an add-to-cart: RetailRocket logs no clicks, and a cart add always follows one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

TIMESTAMP: Final = "timestamp"
USER: Final = "user_id"
EVENT: Final = "event"
ITEM: Final = "item_id"
REVENUE: Final = "revenue"
VARIANT: Final = "variant"
EXPOSED_AT: Final = "exposed_at"
EXPOSURE_DAY: Final = "exposure_day"

# Funnel order: the position is the event's code in the prepared batches (int8).
EVENTS: Final = ("view", "click", "add_to_cart", "purchase")
VIEW, CLICK, CART, PURCHASE = range(4)
# Outcome flag per event type, in funnel order (the funnel reads these columns).
OUTCOME_FLAGS: Final = ("viewed", "clicked", "added_to_cart", "purchased")
EXPOSURE_COLUMNS: Final = (USER, VARIANT, EXPOSED_AT)
SHORT_WINDOW_DAYS: Final = 7


class EventsError(ValueError):
    """Bad input file: names the file, the column and the rule (the CLI prints it as one line)."""

    def __init__(self, file: str, column: str, rule: str) -> None:
        super().__init__(f"{file}: column {column!r}: {rule}")
        self.file, self.column, self.rule = file, column, rule


@dataclass(frozen=True)
class EventLayout:
    """How a source events file maps onto the canonical columns and event names.

    ``columns`` maps canonical name → source column; ``events`` maps source event name → canonical
    name. Source names not in ``events`` must already be canonical, else the file is refused.
    """

    columns: dict[str, str] = field(default_factory=lambda: {c: c for c in (TIMESTAMP, USER, EVENT, ITEM)})
    events: dict[str, str] = field(default_factory=dict)
    revenue: str | None = REVENUE

    def __post_init__(self) -> None:
        for source, target in self.events.items():
            if target not in EVENTS:
                raise ValueError(
                    f"events: {source!r} maps to {target!r}, which is none of {', '.join(EVENTS)}"
                )
        missing = {TIMESTAMP, USER, EVENT, ITEM} - set(self.columns)
        if missing:
            raise ValueError(f"columns: no source column for {', '.join(sorted(missing))}")

    def with_events(self, extra: dict[str, str]) -> EventLayout:
        return EventLayout(dict(self.columns), {**self.events, **extra}, self.revenue)

    def code_of(self) -> dict[str, int]:
        """Every accepted source event name → its funnel code."""
        codes = {name: i for i, name in enumerate(EVENTS)}
        codes.update({source: EVENTS.index(target) for source, target in self.events.items()})
        return codes


# RetailRocket's events.csv: timestamp (ms), visitorid, event, itemid, transactionid. It has no click
# and no revenue; transactionid is not needed (a transaction row is the purchase).
RETAILROCKET = EventLayout(
    columns={TIMESTAMP: "timestamp", USER: "visitorid", EVENT: "event", ITEM: "itemid"},
    events={"view": "view", "addtocart": "add_to_cart", "transaction": "purchase"},
    revenue=None,
)
PRESETS: Final = {"retailrocket": RETAILROCKET}


def parse_event_map(items: list[str]) -> dict[str, str]:
    """``SOURCE=CANONICAL`` pairs, e.g. ``addtocart=add_to_cart``; raises ValueError naming the rule."""
    out: dict[str, str] = {}
    for item in items:
        for pair in (p.strip() for p in item.split(",") if p.strip()):
            source, sep, target = pair.partition("=")
            if not sep or not source or not target:
                raise ValueError(f"must be SOURCE=EVENT pairs, got {pair!r}")
            if target not in EVENTS:
                raise ValueError(f"{source!r} maps to {target!r}; the events are {', '.join(EVENTS)}")
            out[source] = target
    return out


def feature_names(lookback_days: int) -> list[str]:
    """Pre-exposure feature columns of the prepared table, in order."""
    lb = f"{lookback_days}d"
    counts = [f"{e}_{SHORT_WINDOW_DAYS}d" for e in EVENTS] + [f"{e}_{lb}" for e in EVENTS]
    return [
        *counts,
        "days_since_last_event",
        f"sessions_{lb}",
        f"mean_session_minutes_{lb}",
        f"distinct_items_{lb}",
        f"spend_{lb}",
    ]


def outcome_names() -> list[str]:
    """Post-exposure columns: a model must never use these as features."""
    return [*OUTCOME_FLAGS, REVENUE, "attributed_clicks", "attributed_purchases"]
