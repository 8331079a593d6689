"""The target list for a user file: who to treat, with which arm, what it is expected to bring.

A CSV of users (the model's feature columns, an optional id column) becomes a CSV, best expected
profit first, of: user, recommended arm (the best treatment arm, so three-arm models name theirs),
expected effect of that arm with its interval, expected profit (effect × value − cost) and whether
the budgeted policy treats the user. The effects of all rows are computed first (the budget needs
the global order); the intervals, the costly part, are computed chunk by chunk while the answer is
streamed, so memory stays bounded by the row limit and the first bytes leave early.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from shared.policy import best_arm, budget_mask
from shared.schema import SchemaError

if TYPE_CHECKING:
    import pandas as pd

    from shared.bundle import ModelBundle

# Bounds of one request: a CSV this size scores in seconds; bigger lists belong to `uplift score`.
MAX_ROWS = 100_000
CHUNK_ROWS = 5_000
COLUMNS = [
    "user",
    "recommended_arm",
    "expected_effect",
    "effect_low",
    "effect_high",
    "expected_profit",
    "segment",
    "target",
]


@dataclass(frozen=True)
class TargetRequest:
    value: float
    cost: float
    budget: float | None
    level: float
    id_column: str | None


def read_users(body: bytes) -> pd.DataFrame:
    """The uploaded CSV as a frame; an unreadable, empty or oversized file names the rule broken."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body), nrows=MAX_ROWS + 1)
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        raise SchemaError("file", f"not a readable CSV ({exc})") from exc
    if frame.empty:
        raise SchemaError("file", "has no user rows")
    if len(frame) > MAX_ROWS:
        raise SchemaError("file", f"at most {MAX_ROWS:,} users per request; use `uplift score` for more")
    return frame


@dataclass(frozen=True)
class Scored:
    """Every user's best arm, effect and profit, ordered best first; intervals come when streamed."""

    bundle: ModelBundle
    X: np.ndarray
    effects: np.ndarray
    ids: np.ndarray
    arm_idx: np.ndarray
    effect: np.ndarray
    profit: np.ndarray
    target: np.ndarray
    segments: np.ndarray
    order: np.ndarray
    level: float


def score_users(bundle: ModelBundle, frame: pd.DataFrame, req: TargetRequest) -> Scored:
    """All the checks and the cheap scoring, before any byte is sent: bad input is a 422, not a cut stream."""
    ids = _ids(frame, req.id_column)
    X, _ = bundle.schema.encode_frame(frame[[c for c in bundle.schema.names if c in frame.columns]])
    mu = bundle.predict_outcomes(X)
    effects = mu[:, 1:] - mu[:, :1]
    arm_idx, effect = best_arm(effects)
    profit = effect * req.value - req.cost
    # Without a budget the policy treats everyone worth treating (positive expected profit).
    target = profit > 0 if req.budget is None else budget_mask(effects, req.value, req.cost, req.budget)
    return Scored(
        bundle=bundle,
        X=X,
        effects=effects,
        ids=ids,
        arm_idx=arm_idx,
        effect=effect,
        profit=profit,
        target=target,
        segments=bundle.segments(effects),
        order=np.argsort(-profit, kind="stable"),
        level=req.level,
    )


def target_rows(s: Scored) -> Iterator[str]:
    """CSV text (header first), one chunk of users at a time, best expected profit first."""
    arms = np.asarray(s.bundle.arms[1:], dtype=object)
    yield ",".join(COLUMNS) + "\n"
    for start in range(0, len(s.order), CHUNK_ROWS):
        idx = s.order[start : start + CHUNK_ROWS]
        low, high = _intervals(s.bundle, s.X[idx], s.effects[idx], s.arm_idx[idx], s.level)
        yield _csv_chunk(
            {
                "user": s.ids[idx],
                "recommended_arm": arms[s.arm_idx[idx]],
                "expected_effect": s.effect[idx],
                "effect_low": low,
                "effect_high": high,
                "expected_profit": s.profit[idx],
                "segment": s.segments[idx],
                "target": s.target[idx],
            }
        )


def _ids(frame: pd.DataFrame, id_column: str | None) -> np.ndarray:
    if id_column is not None:
        if id_column not in frame.columns:
            raise SchemaError("id_column", f"column {id_column!r} is not in the file")
        return frame[id_column].astype(str).to_numpy()
    if "user_id" in frame.columns:
        return frame["user_id"].astype(str).to_numpy()
    return np.array([f"row-{i + 1}" for i in range(len(frame))], dtype=object)


def _intervals(
    bundle: ModelBundle, X: np.ndarray, effects: np.ndarray, arm_idx: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """The recommended arm's effect interval per user; NaN when the model has no effect samples."""
    if not bundle.has_effect_samples:
        nan = np.full(len(X), np.nan)
        return nan, nan
    low, high = bundle.effect_intervals(X, effects, level)
    rows = np.arange(len(X))
    return low[rows, arm_idx], high[rows, arm_idx]


def _csv_chunk(columns: dict[str, np.ndarray]) -> str:
    import pandas as pd

    text: str = pd.DataFrame(columns).to_csv(index=False, header=False, float_format="%.6g")
    return text
