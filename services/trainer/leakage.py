"""Leakage guard: features that are the outcome in disguise, named before any model is fitted.

Two signs, each cheap and free of tuning to one data set:
- a name that reads like an outcome or a post-treatment measurement (conversion, spend, revenue,
  visit, click, purchase, ...) and not like a history of one ("days_since_purchase",
  "avg_order_value" are pre-treatment): such a column is usually recorded after the treatment and
  would let the model "predict" the outcome from its own consequence;
- a value range that determines the outcome: a binary outcome that is 1 for every one of at least
  ``MIN_ROWS`` users sharing a feature value (or 0 for all of them when the outcome is common), where
  chance alone would make that all but impossible (probability below 1e-9 at the base rate); for a
  continuous outcome, a rank correlation of 0.98 or more. Hillstrom's ``conversion`` and ``spend``
  imply a visit, for instance: every converted user visited.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

OUTCOME_WORDS = (
    "conversion", "converted", "convert", "spend", "spent", "revenue", "sales", "purchase", "purchased",
    "bought", "order", "orders", "visit", "visited", "click", "clicked", "outcome", "response", "target",
    "label", "redeem", "redeemed", "churn", "churned", "paid", "payment", "post", "after",
)  # fmt: skip
# Words that make an outcome-like name a pre-treatment history: "days_since_purchase", "avg_order_value".
HISTORY_WORDS = (
    "since", "last", "prev", "previous", "prior", "past", "avg", "average", "mean", "median", "history",
    "historical", "lifetime", "before", "pre", "days", "weeks", "months", "ago", "count", "num", "total",
    "n", "per", "rate", "frequency", "recency", "7d", "14d", "30d", "60d", "90d", "365d", "1y",
)  # fmt: skip
MIN_ROWS = 30
CHANCE = 1e-9
RANK_CORRELATION = 0.98


@dataclass(frozen=True)
class LeakWarning:
    column: str
    reason: str

    def message(self) -> str:
        return f"possible leakage: feature {self.column!r} {self.reason}; exclude it (--exclude {self.column}) if it is recorded after treatment"


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", name.lower()) if t}


def _name_leak(name: str, outcome: str) -> str | None:
    tokens = _tokens(name)
    hits = sorted(tokens & set(OUTCOME_WORDS))
    if hits and not tokens & set(HISTORY_WORDS):
        return f"is named like an outcome or post-treatment measurement ({', '.join(hits)})"
    if _tokens(outcome) and _tokens(outcome) <= _tokens(name):
        return f"is named like the outcome {outcome!r}"
    return None


def _groups(values: pd.Series) -> pd.Series:
    """Category or value per row; numeric columns with many values fall into 20 quantile bins plus 'zero'."""
    if not pd.api.types.is_numeric_dtype(values) or values.nunique() <= 20:
        return values.astype(str)
    bins = pd.qcut(values, 20, labels=False, duplicates="drop").astype("float64")
    return bins.where(values != 0, -1.0).astype(str)


def _binary_leak(values: pd.Series, y: np.ndarray) -> str | None:
    base = float(y.mean())
    if base in (0.0, 1.0):
        return None
    stats = pd.DataFrame({"g": _groups(values).to_numpy(), "y": y}).groupby("g")["y"].agg(["mean", "size"])
    for group, row in stats.iterrows():
        n = int(row["size"])
        if n < MIN_ROWS:
            continue
        for rate, p in ((1.0, base), (0.0, 1.0 - base)):
            # n users all at `rate` by chance has probability p**n; only far-off groups are flagged.
            if row["mean"] == rate and n * math.log(p) < math.log(CHANCE):
                return f"determines the outcome: all {n} users with value {group} have outcome {int(rate)}"
    return None


def _continuous_leak(values: pd.Series, y: np.ndarray) -> str | None:
    if not pd.api.types.is_numeric_dtype(values):
        return None
    rho = pd.Series(values.to_numpy(dtype=np.float64)).corr(pd.Series(y), method="spearman")
    if np.isfinite(rho) and abs(rho) >= RANK_CORRELATION:
        return f"has rank correlation {rho:.3f} with the outcome"
    return None


def find_leaks(
    frame: pd.DataFrame, features: list[str], outcome: str, outcome_kind: str, max_rows: int = 200_000
) -> list[LeakWarning]:
    """Warnings for features that look like the outcome (a seeded row sample bounds the cost)."""
    sample = frame if len(frame) <= max_rows else frame.sample(max_rows, random_state=0)
    y = sample[outcome].to_numpy(dtype=np.float64)
    out = []
    for col in features:
        reason = _name_leak(col, outcome)
        if reason is None:
            check = _binary_leak if outcome_kind == "binary" else _continuous_leak
            reason = check(sample[col], y)
        if reason is not None:
            out.append(LeakWarning(col, reason))
    return out
