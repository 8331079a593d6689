"""A changed treatment effect for one group of users, for streams whose effect drifts over time.

``shift_effect`` takes users already generated (``generate_market(...).users``, any 0/1-outcome
shape) and returns a copy in which the chosen group's effect is replaced: their treated conversion
probability becomes σ(logit(p_control) + new_shift). Their truth columns are recomputed and the
outcome of every group member in that arm is redrawn from the new probability, so the copy is a
consistent market in which only that group's effect changed. Control rows keep their draws (their
probability did not change), ``response_type`` keeps the original label, and users outside the group
are untouched. A policy test can then serve the original stream first and the shifted one after.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from shared.synthetic import OUTCOME_COLUMN, REVENUE_COLUMN, TREATMENT_COLUMN, truth_column

GroupRule = Callable[[pd.DataFrame], "np.ndarray | pd.Series"]


def shift_effect(
    users: pd.DataFrame, group_rule: GroupRule, new_shift: float, rng: np.random.Generator, arm: int = 1
) -> pd.DataFrame:
    """A copy of ``users`` whose ``arm`` effect, for the rows ``group_rule`` selects, is a logit shift of
    ``new_shift`` over control (0 removes the effect, a negative shift makes it harmful).

    ``group_rule`` maps the frame to one boolean per row, e.g. ``lambda u: u["device"] == "mobile"``.
    """
    if "p_control" not in users.columns:
        raise ValueError("users: shift_effect needs p_control (a 0/1-outcome market; not the spend shape)")
    if not np.isfinite(new_shift):
        raise ValueError(f"new_shift: must be a finite logit shift, got {new_shift}")
    two_arm = "p_treated" in users.columns
    p_col, cate_col = ("p_treated", "true_cate") if two_arm else (f"p_arm{arm}", truth_column(arm))
    if (two_arm and arm != 1) or p_col not in users.columns:
        arms = sorted(int(c.removeprefix("p_arm")) for c in users.columns if c.startswith("p_arm")) or [1]
        raise ValueError(f"arm: must be one of the market's treatment arms {arms}, got {arm}")
    group = np.asarray(group_rule(users), dtype=bool)
    if group.shape != (len(users),):
        raise ValueError(
            f"group_rule: must return one boolean per user ({len(users)}), got shape {group.shape}"
        )
    out = users.copy()
    p0 = out["p_control"].to_numpy()
    p_new = out[p_col].to_numpy().copy()
    # A zero shift gives exactly p_control: the logit round trip would leave a ~1e-17 "effect".
    p_new[group] = p0[group] if new_shift == 0 else expit(logit(p0[group]) + new_shift)
    out[p_col] = p_new
    out[cate_col] = p_new - p0
    redraw = group & (out[TREATMENT_COLUMN].to_numpy() == arm)
    m = int(redraw.sum())
    converted = (rng.random(m) < p_new[redraw]).astype(np.int8)
    # The same basket model as the generator's 0/1 shapes: the user's usual order value, ±35% noise.
    basket = np.exp(rng.normal(0.0, 0.35, m)) * out.loc[redraw, "avg_order_value"].to_numpy()
    out.loc[redraw, OUTCOME_COLUMN] = converted
    out.loc[redraw, REVENUE_COLUMN] = np.round(converted * basket, 2)
    return out
