"""`uplift generate --drift RULE:SHIFT`: a market whose effect for one group of users is changed.

RULE picks the group by one feature: ``column=value`` / ``column!=value`` (a category or a number) or
``column<number``, ``column<=number``, ``column>number``, ``column>=number``. SHIFT is the group's new
treatment effect as a logit shift over its control conversion probability: 0 removes the effect, a
negative shift makes the treatment harmful, a positive one helpful (``shared.synthetic_drift``). Their
truth columns are recomputed and their treated outcomes redrawn with a seed derived from --seed, so
the file is a consistent market in which only that group's effect changed: serve the original market
first and the drifted one after to test whether a policy (and a retrain from its log) keeps up.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # every `uplift` command imports this module (for --help); `uplift serve` needs no pandas
    import numpy as np
    import pandas as pd

__all__ = ["DRIFT_HELP", "DRIFT_SEED_OFFSET", "Drift", "DriftError", "apply_drift", "parse_drift"]

# The drift's redraws use their own stream, so the undrifted rows are exactly the plain market's.
DRIFT_SEED_OFFSET = 1009
DRIFT_HELP = (
    "Change the effect for one group: RULE:SHIFT, RULE one of column=value, column!=value, column<x, "
    "column<=x, column>x, column>=x; SHIFT the group's new logit shift over control (0 removes the effect, "
    "negative hurts). E.g. 'device=mobile:-1.0'. 0/1-outcome shapes only; truth columns follow the change."
)
_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|=|<|>)\s*(.+?)\s*$")
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class DriftError(ValueError):
    """A --drift value that cannot be applied; the message names the option and the rule."""


@dataclass(frozen=True)
class Drift:
    column: str
    op: str
    value: str
    shift: float

    @property
    def rule(self) -> str:
        return f"{self.column}{self.op}{self.value}"


def parse_drift(text: str) -> Drift:
    """``RULE:SHIFT`` → Drift; the shift is after the last colon, so a value may hold none."""
    rule, sep, shift_text = text.rpartition(":")
    if not sep:
        raise DriftError(f"--drift: expected RULE:SHIFT such as 'device=mobile:-1.0', got {text!r}")
    try:
        shift = float(shift_text)
    except ValueError:
        raise DriftError(f"--drift: the shift after ':' must be a number, got {shift_text!r}") from None
    if not math.isfinite(shift):
        raise DriftError(f"--drift: the shift must be finite, got {shift_text!r}")
    match = _RULE.match(rule)
    if match is None:
        raise DriftError(
            f"--drift: the rule must be column=value, column!=value or column<, <=, >, >= a number; got {rule!r}"
        )
    column, op, value = match.groups()
    return Drift(column=column, op=op, value=value, shift=shift)


def _group(users: pd.DataFrame, drift: Drift) -> np.ndarray:
    import numpy as np
    import pandas as pd

    if drift.column not in users.columns:
        raise DriftError(f"--drift: no column {drift.column!r}; the users have {', '.join(users.columns)}")
    values = users[drift.column]
    numeric = pd.api.types.is_numeric_dtype(values)
    if numeric:
        try:
            target: Any = float(drift.value)
        except ValueError:
            raise DriftError(f"--drift: {drift.column} is numeric; {drift.value!r} is not a number") from None
    elif drift.op in ("=", "!="):
        allowed = sorted(map(str, values.dropna().unique()))
        if drift.value not in allowed:
            raise DriftError(
                f"--drift: {drift.column} has no value {drift.value!r}; its values: {', '.join(allowed)}"
            )
        target = drift.value
    else:
        raise DriftError(f"--drift: {drift.column} is a category; use = or != with it, not {drift.op}")
    return np.asarray(_OPS[drift.op](values, target), dtype=bool)


def apply_drift(users: pd.DataFrame, drift: Drift, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The drifted users and what to record about it (rule, shift, group size, the redraws' seed)."""
    import numpy as np

    from shared.synthetic_drift import shift_effect

    group = _group(users, drift)
    if not group.any():
        raise DriftError(f"--drift: the rule {drift.rule!r} selects no user")
    if "p_control" not in users.columns:
        raise DriftError(
            "--drift: needs a 0/1-outcome market; the continuous shape has no conversion probability"
        )
    drift_seed = seed + DRIFT_SEED_OFFSET
    try:
        out = shift_effect(users, lambda _u: group, drift.shift, np.random.default_rng(drift_seed))
    except ValueError as exc:
        raise DriftError(f"--drift: {exc}") from exc
    record = {
        "rule": drift.rule,
        "shift": drift.shift,
        "arm": 1,
        "group_rows": int(group.sum()),
        "seed": drift_seed,
        "true_ate_after": float(out["true_cate"].mean()) if "true_cate" in out.columns else None,
    }
    return out, record
