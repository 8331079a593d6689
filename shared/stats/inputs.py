"""Experiment inputs: per-variant counts and sums, validated so every later formula is defined.

A variant is summarized by sufficient statistics only (users, conversions; or users, sum, sum of
squares), which is what a warehouse query returns and what every test below needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name: must be a non-empty string")


def _check_users(name: str, users: int) -> None:
    if isinstance(users, bool) or not isinstance(users, (int, np.integer)):
        raise ValueError(f"{name}.users: must be an integer, got {users!r}")
    if users < 0:
        raise ValueError(f"{name}.users: must be >= 0, got {users}")


@dataclass(frozen=True)
class ConversionVariant:
    """A binary metric: ``conversions`` of ``users`` converted."""

    name: str
    users: int
    conversions: int

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_users(self.name, self.users)
        if isinstance(self.conversions, bool) or not isinstance(self.conversions, (int, np.integer)):
            raise ValueError(f"{self.name}.conversions: must be an integer, got {self.conversions!r}")
        if self.conversions < 0:
            raise ValueError(f"{self.name}.conversions: must be >= 0, got {self.conversions}")
        if self.conversions > self.users:
            raise ValueError(
                f"{self.name}.conversions: must not exceed users ({self.conversions} > {self.users})"
            )

    @property
    def mean(self) -> float:
        return self.conversions / self.users if self.users else 0.0

    @property
    def variance(self) -> float:
        """Per-user variance p(1 − p) (the Bernoulli MLE)."""
        return self.mean * (1.0 - self.mean)


@dataclass(frozen=True)
class ContinuousVariant:
    """A continuous metric (e.g. revenue per user): ``total`` = Σx and ``total_sq`` = Σx² over users."""

    name: str
    users: int
    total: float
    total_sq: float

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_users(self.name, self.users)
        for field, value in (("sum", self.total), ("sum_squares", self.total_sq)):
            if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
                raise ValueError(f"{self.name}.{field}: must be a finite number, got {value!r}")
        if self.total_sq < 0:
            raise ValueError(f"{self.name}.sum_squares: must be >= 0, got {self.total_sq}")
        if self.users == 0 and (self.total != 0 or self.total_sq != 0):
            raise ValueError(f"{self.name}.sum: must be 0 when users is 0")
        # Cauchy–Schwarz: (Σx)² ≤ n·Σx²; a small relative slack absorbs float rounding in the sums.
        if self.total**2 > self.users * self.total_sq * (1 + 1e-9) + 1e-9:
            raise ValueError(
                f"{self.name}.sum_squares: inconsistent with sum and users (need sum² <= users × sum_squares)"
            )

    @property
    def mean(self) -> float:
        return self.total / self.users if self.users else 0.0

    @property
    def variance(self) -> float:
        """Unbiased sample variance (n − 1 denominator); 0 for fewer than two users."""
        if self.users < 2:
            return 0.0
        ss = self.total_sq - self.total**2 / self.users
        return max(ss, 0.0) / (self.users - 1)

    @classmethod
    def from_values(cls, name: str, values: np.ndarray | Sequence[float]) -> ContinuousVariant:
        x = np.asarray(values, dtype=np.float64)
        if x.size and not np.all(np.isfinite(x)):
            raise ValueError(f"{name}.values: must all be finite numbers")
        return cls(name, int(x.size), float(x.sum()), float(np.square(x).sum()))


Variant = ConversionVariant | ContinuousVariant


def check_variants(variants: Sequence[Variant], control: str | None = None) -> str:
    """Validate a set of variants for comparison; return the control's name (the first by default)."""
    if len(variants) < 2:
        raise ValueError(f"variants: need at least two (a control and a treatment), got {len(variants)}")
    kinds = {type(v) for v in variants}
    if len(kinds) > 1:
        raise ValueError("variants: must all be the same metric type (all conversion or all continuous)")
    names = [v.name for v in variants]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"variants: names must be unique, repeated {dupes}")
    empty = [v.name for v in variants if v.users == 0]
    if empty:
        raise ValueError(f"{empty[0]}.users: every variant needs at least one user (zero in {empty})")
    if control is None:
        return names[0]
    if control not in names:
        raise ValueError(f"control: {control!r} is not one of the variants {names}")
    return control


__all__ = ["ContinuousVariant", "ConversionVariant", "Variant", "check_variants"]
