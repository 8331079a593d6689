"""Funnel and daily-trend sections of the experiment analysis, from the request's counts.

Rules broken by the counts become 422s naming ``funnel[i].<field>`` or ``daily[i].<field>``.
"""

from __future__ import annotations

from typing import Any

from services.api.experiment_schemas import AnalyzeRequest
from shared.schema import SchemaError


def _funnel(body: AnalyzeRequest, control: str) -> dict[str, Any]:
    from shared.events.funnel import FunnelCounts, funnel

    assert body.funnel is not None
    counts = []
    for i, f in enumerate(body.funnel):
        try:
            counts.append(
                FunnelCounts(f.variant, f.users, (f.viewed, f.clicked, f.added_to_cart, f.purchased))
            )
        except ValueError as exc:
            head, _, rule = str(exc).partition(": ")
            raise SchemaError(f"funnel[{i}].{head.rpartition('.')[2]}", rule) from None
    names = [c.variant for c in counts]
    if len(set(names)) != len(names):
        raise SchemaError("funnel", "each variant must appear once")
    if control not in names:
        raise SchemaError("funnel", f"has no counts for the control {control!r}")
    return funnel(counts, control, body.alpha).to_dict()


def _daily(body: AnalyzeRequest, control: str) -> dict[str, Any]:
    from shared.events.daily import DayCell, daily

    assert body.daily is not None
    cells = []
    for i, d in enumerate(body.daily):
        if body.metric_type == "continuous" and d.total_squares is None:
            raise SchemaError(f"daily[{i}].total_squares", "required when metric_type is continuous")
        if body.metric_type == "binary" and not (d.total == round(d.total) and 0 <= d.total <= d.users):
            raise SchemaError(f"daily[{i}].total", "conversions must be a whole number in [0, users]")
        cells.append(DayCell(d.day, d.variant, d.users, d.total, d.total_squares or d.total))
    if len({(c.day, c.variant) for c in cells}) != len(cells):
        raise SchemaError("daily", "each (day, variant) must appear once")
    return daily(cells, control, body.metric, body.metric_type, body.alpha).to_dict()


def trend_sections(body: AnalyzeRequest, control: str) -> dict[str, Any]:
    """``funnel`` and ``daily`` keys: each null unless the request gave its counts."""
    return {
        "funnel": _funnel(body, control) if body.funnel is not None else None,
        "daily": _daily(body, control) if body.daily is not None else None,
    }
