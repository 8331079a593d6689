"""Per-user features and outcomes from the events of a set of users, all vectorized.

Input: the events of some users (any order) as arrays: user index ``u`` (into the exposures),
time ``t`` and exposure time ``x`` (epoch ms), event code ``e``, item key ``i`` and ``r`` revenue.
Every user's events are all present (the caller partitions events by user), so sessions, distinct
items and funnel stitching are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.events.schema import CART, CLICK, EVENTS, OUTCOME_FLAGS, PURCHASE, SHORT_WINDOW_DAYS, VIEW

DAY_MS = 86_400_000
MINUTE_MS = 60_000
N_EVENTS = len(EVENTS)


@dataclass(frozen=True)
class Windows:
    lookback_ms: int
    window_ms: int
    session_gap_ms: int
    attribution_ms: int


@dataclass(frozen=True)
class UserBlock:
    """Features of ``users`` (exposure indices, ascending), one array per column."""

    users: np.ndarray
    columns: dict[str, np.ndarray]


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets of runs of equal sorted keys, and each element's run number."""
    change = np.empty(len(keys), dtype=bool)
    change[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    return np.flatnonzero(change), np.cumsum(change) - 1


def _per_user_sum(local: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(local, weights=weights, minlength=n)


def _counts(local: np.ndarray, e: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """(users, event types) counts of the masked events."""
    return np.bincount(local[mask] * N_EVENTS + e[mask], minlength=n * N_EVENTS).reshape(n, N_EVENTS)


def _sessions(local: np.ndarray, t: np.ndarray, n: int, gap_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Sessions per user and mean session minutes, events sorted by (user, time)."""
    if len(t) == 0:
        return np.zeros(n), np.zeros(n)
    new = np.empty(len(t), dtype=bool)
    new[:1] = True
    new[1:] = (local[1:] != local[:-1]) | (np.diff(t) > gap_ms)
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(t)] - 1
    owner = local[starts]
    sessions = _per_user_sum(owner, n)
    minutes = _per_user_sum(owner, n, (t[ends] - t[starts]) / MINUTE_MS)
    return sessions, np.divide(minutes, sessions, out=np.zeros(n), where=sessions > 0)


def _distinct(local: np.ndarray, items: np.ndarray, n: int) -> np.ndarray:
    if len(items) == 0:
        return np.zeros(n)
    order = np.lexsort((items, local))
    lo, it = local[order], items[order]
    first = np.r_[True, (lo[1:] != lo[:-1]) | (it[1:] != it[:-1])]
    return _per_user_sum(lo[first], n)


def _attributed(
    local: np.ndarray, t: np.ndarray, e: np.ndarray, i: np.ndarray, post: np.ndarray, n: int, tol_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Post-exposure clicks preceded by a view, and purchases preceded by a click or cart add, of the
    same item at most ``tol_ms`` earlier (ties count), per user, stitched with ``merge_asof``."""
    frame = pd.DataFrame({"u": local, "i": i, "t": t, "e": e})
    out = []
    for targets, sources in (((CLICK,), (VIEW,)), ((PURCHASE,), (CLICK, CART))):
        left = frame[post & np.isin(e, targets)].sort_values("t", kind="stable")
        right = frame[np.isin(e, sources)].sort_values("t", kind="stable")
        if left.empty or right.empty:
            out.append(np.zeros(n))
            continue
        right = right.assign(source_t=right["t"])[["u", "i", "t", "source_t"]]
        stitched = pd.merge_asof(
            left,
            right,
            on="t",
            by=["u", "i"],
            direction="backward",
            tolerance=tol_ms,
            allow_exact_matches=True,
        )
        hit = stitched["source_t"].notna().to_numpy()
        out.append(_per_user_sum(stitched["u"].to_numpy()[hit], n))
    return out[0], out[1]


def user_features(
    u: np.ndarray,
    t: np.ndarray,
    x: np.ndarray,
    e: np.ndarray,
    i: np.ndarray,
    r: np.ndarray,
    w: Windows,
    lookback_days: int,
) -> UserBlock:
    """Features and outcomes of every user with at least one event here (see schema.py for meanings)."""
    order = np.lexsort((t, u))
    u, t, x, e, i, r = u[order], t[order], x[order], e[order], i[order], r[order]
    starts, local = _runs(u)
    users, n = u[starts], len(starts)
    rel = t - x
    pre = (rel < 0) & (rel >= -w.lookback_ms)
    post = (rel > 0) & (rel <= w.window_ms)
    short = pre & (rel >= -SHORT_WINDOW_DAYS * DAY_MS)
    cols: dict[str, np.ndarray] = {}
    lb = f"{lookback_days}d"
    for name, counts in (
        (f"{SHORT_WINDOW_DAYS}d", _counts(local, e, short, n)),
        (lb, _counts(local, e, pre, n)),
    ):
        for k, event in enumerate(EVENTS):
            cols[f"{event}_{name}"] = counts[:, k]
    last = np.maximum.reduceat(np.where(pre, rel, -w.lookback_ms), starts) if n else np.zeros(0)
    cols["days_since_last_event"] = -last / DAY_MS
    cols[f"sessions_{lb}"], cols[f"mean_session_minutes_{lb}"] = _sessions(
        local[pre], t[pre], n, w.session_gap_ms
    )
    cols[f"distinct_items_{lb}"] = _distinct(local[pre], i[pre], n)
    cols[f"spend_{lb}"] = _per_user_sum(local[pre & (e == PURCHASE)], n, r[pre & (e == PURCHASE)])
    reached = _counts(local, e, post, n) > 0
    for k, flag in enumerate(OUTCOME_FLAGS):
        cols[flag] = reached[:, k].astype(np.int8)
    bought = post & (e == PURCHASE)
    cols["revenue"] = _per_user_sum(local[bought], n, r[bought])
    cols["attributed_clicks"], cols["attributed_purchases"] = _attributed(
        local, t, e, i, post, n, w.attribution_ms
    )
    return UserBlock(users, cols)
