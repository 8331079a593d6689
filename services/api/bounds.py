"""The stated bounds of the money inputs (/optimize's policy, /model/policy-curve's query).

Each is finite and inside bounds that keep every product and quotient the policy computes finite:
with the budget at most 1e15 and a non-zero cost at least 1e-6, budget / cost stays below 1e21, and
value / cost, cost / value and the totals stay far from float overflow. The schemas and the query
parameters quote these numbers, so /docs states the rule that a 422 names.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.schema import SchemaError

MAX_MONEY = 1e9  # value of a conversion, cost of a treatment
MIN_VALUE = 1e-6  # a value per conversion below this is no value (and would overflow value's reciprocal)
MIN_COST = 1e-6  # the smallest non-zero cost per treatment
MAX_BUDGET = 1e15

COST_RULE = f"must be 0 or between {MIN_COST:g} and {MAX_MONEY:g}"

# The exploration floor of a policy or a campaign: a share of the decisions drawn uniformly among the
# arms (shared.bandit.per_user's epsilon), so every arm keeps at least exploration / arms for every user.
Exploration = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


def check_cost(cost: float, field: str = "cost_per_treatment") -> float:
    """The cost, or SchemaError (a 422 naming ``field``) for a non-zero cost below ``MIN_COST``."""
    if cost != 0 and cost < MIN_COST:
        raise SchemaError(field, f"{COST_RULE}, got {cost!r}")
    return cost
