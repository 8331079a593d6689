"""The funnel and daily-trend sections `uplift analyze` adds when its file is a prepared table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from shared.events.daily import MetricType, daily, daily_cells
from shared.events.funnel import STEPS, funnel, funnel_counts
from shared.events.schema import EXPOSURE_DAY


def _columns(data: Path) -> list[str]:
    if data.name.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        return list(pq.read_schema(data).names)
    return list(pd.read_csv(data, nrows=0).columns)


def _read(data: Path, columns: list[str]) -> pd.DataFrame:
    if data.name.lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(data, columns=columns)
    return pd.read_csv(data, usecols=columns)


def trend_sections(
    data: Path, variant: str, metric: str, control: str, metric_type: str, alpha: float
) -> tuple[dict[str, Any], str]:
    """JSON keys ``funnel`` and ``daily`` (null when the file lacks their columns) and their Markdown."""
    have = set(_columns(data))
    has_funnel = set(STEPS) <= have
    has_daily = EXPOSURE_DAY in have
    if not (has_funnel or has_daily):
        return {"funnel": None, "daily": None}, ""
    wanted = [variant, metric, *(STEPS if has_funnel else ()), *([EXPOSURE_DAY] if has_daily else [])]
    frame = _read(data, list(dict.fromkeys(wanted)))
    out: dict[str, Any] = {"funnel": None, "daily": None}
    parts = []
    if has_funnel:
        rep = funnel(funnel_counts(frame, variant), control=control, alpha=alpha)
        out["funnel"] = rep.to_dict()
        parts.append(rep.to_markdown())
    if has_daily:
        kind: MetricType = "binary" if metric_type == "binary" else "continuous"
        trend = daily(daily_cells(frame, metric, variant), control, metric, kind, alpha)
        out["daily"] = trend.to_dict()
        parts.append(trend.to_markdown())
    return out, "\n" + "\n".join(parts)
