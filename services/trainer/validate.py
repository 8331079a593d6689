"""Checks on an experiment log before any model is fitted; every error names the column and the rule.

Errors stop the run (nothing is written to ``models/``). Warnings are printed and recorded in the
manifest. The sample-ratio-mismatch (SRM) check compares the observed arm counts with the expected
split by a chi-square test: a randomization that did not happen as designed (a logging bug, a
redirect that drops users) biases every effect, so it warns by default and fails on request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

OutcomeKindArg = Literal["auto", "binary", "continuous"]
SRM_ALPHA = 0.001


class DataError(ValueError):
    """The data (or an option naming its columns) breaks a rule; ``column`` is the culprit."""

    def __init__(self, column: str, rule: str) -> None:
        super().__init__(f"{column}: {rule}")
        self.column = column
        self.rule = rule


@dataclass(frozen=True)
class Limits:
    min_rows_per_arm: int = 100
    # Conversions (binary) or non-zero outcomes (continuous) each arm must have to fit a model.
    min_positives_per_arm: int = 20
    srm_alpha: float = SRM_ALPHA


@dataclass(frozen=True)
class SrmResult:
    observed: dict[str, int]
    expected_share: dict[str, float]
    chi2: float
    p_value: float
    alpha: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < self.alpha

    def summary(self) -> str:
        """One line for the run's printout, whether or not the counts match."""
        if self.mismatch:
            return self.message()
        return (
            f"arm counts {self.observed} match the expected split (chi-square {self.chi2:.1f}, "
            f"p = {self.p_value:.2g} ≥ {self.alpha})"
        )

    def message(self) -> str:
        return (
            f"sample ratio mismatch: arm counts {self.observed} differ from the expected split "
            f"{ {k: round(v, 4) for k, v in self.expected_share.items()} } "
            f"(chi-square {self.chi2:.1f}, p = {self.p_value:.2g} < {self.alpha}); "
            "check the randomization and logging before trusting any effect"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "observed": self.observed,
            "expected_share": self.expected_share,
            "chi2": self.chi2,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "mismatch": self.mismatch,
        }


@dataclass
class ValidationReport:
    outcome_kind: Literal["binary", "continuous"]
    arms: list[Any]
    srm: SrmResult
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome_kind": self.outcome_kind,
            "arms": [str(a) for a in self.arms],
            "srm": self.srm.to_dict(),
            "warnings": list(self.warnings),
        }


def require_columns(available: Sequence[str], wanted: Mapping[str, Sequence[str]]) -> None:
    """``wanted`` maps an option (``--treatment``…) to the columns it names; all must exist."""
    have = set(available)
    for option, cols in wanted.items():
        for col in cols:
            if col not in have:
                raise DataError(col, f"column named by {option} is missing; the file has {sorted(have)}")


def resolve_control(values: pd.Series, given: str | None) -> Any:
    """The control arm as a value of the column (so "0" matches an integer 0)."""
    arms = sorted(pd.unique(values.dropna()).tolist(), key=str)
    if given is None:
        for v in arms:
            if str(v) in ("0", "0.0", "False"):
                return v
        raise DataError(
            str(values.name), f"--control is required when no arm is 0; give one of {[str(a) for a in arms]}"
        )
    for v in arms:
        if str(v) == given or (isinstance(v, int | float) and _as_float(given) == v):
            return v
    raise DataError(
        str(values.name), f"control value {given!r} does not occur; values: {[str(a) for a in arms]}"
    )


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def outcome_values(
    col: pd.Series, kind: OutcomeKindArg
) -> tuple[np.ndarray, Literal["binary", "continuous"]]:
    """The outcome as float64 and its kind: 0/1 → binary, other numbers → continuous (overridable)."""
    name = str(col.name)
    if pd.api.types.is_bool_dtype(col):
        col = col.astype("int8")
    if not pd.api.types.is_numeric_dtype(col):
        raise DataError(
            name,
            f"outcome must be numeric (0/1 or an amount), got {col.dtype} values like {col.dropna().iloc[:3].tolist()}",
        )
    y = col.to_numpy(dtype="float64", na_value=np.nan)
    missing = int((~np.isfinite(y)).sum())
    if missing:
        raise DataError(name, f"outcome has {missing} missing or infinite value(s); drop or fill those rows")
    is_binary = bool(np.isin(y, (0.0, 1.0)).all())
    if kind == "binary" and not is_binary:
        bad = y[~np.isin(y, (0.0, 1.0))][:3].tolist()
        raise DataError(name, f"outcome must be binary (0/1) for --outcome-kind binary; found {bad}")
    if kind == "continuous" or (kind == "auto" and not is_binary):
        return y, "continuous"
    return y, "binary"


def check_treatment(col: pd.Series) -> list[Any]:
    name = str(col.name)
    missing = int(col.isna().sum())
    if missing:
        raise DataError(name, f"treatment has {missing} missing value(s); every row needs its arm")
    arms = sorted(pd.unique(col).tolist(), key=str)
    if len(arms) < 2:
        raise DataError(
            name, f"treatment must have at least two values (control and a treatment), got only {arms}"
        )
    return arms


def check_arm_sizes(
    t: np.ndarray, y: np.ndarray, arms: Sequence[Any], treatment: str, outcome: str, kind: str, limits: Limits
) -> None:
    for arm in arms:
        rows = t == arm
        n = int(rows.sum())
        if n < limits.min_rows_per_arm:
            raise DataError(
                treatment, f"arm {arm!s} has {n} rows; each arm needs at least {limits.min_rows_per_arm}"
            )
        positives = int((y[rows] != 0).sum())
        what = "conversions (outcome = 1)" if kind == "binary" else "non-zero outcomes"
        if positives < limits.min_positives_per_arm:
            raise DataError(
                outcome,
                f"arm {arm!s} has {positives} {what}; each arm needs at least {limits.min_positives_per_arm}",
            )


def check_features(frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """Errors for empty feature columns; warnings for numeric columns that look like row IDs."""
    if not features:
        raise DataError("--features", "no feature columns left after exclusions")
    warnings: list[str] = []
    for name in features:
        col = frame[name]
        if col.isna().all():
            raise DataError(name, "feature has only missing values (all NaN); exclude it or fill it")
        if pd.api.types.is_integer_dtype(col) and len(col) >= 1000 and col.nunique() == len(col):
            warnings.append(
                f"{name}: every value is distinct, like a row ID; pass --id-column or --exclude it"
            )
    return warnings


def check_ids(col: pd.Series) -> None:
    dup = col.duplicated()
    if dup.any():
        raise DataError(
            str(col.name),
            f"ID column has {int(dup.sum())} duplicated value(s), e.g. {col[dup].iloc[0]!r}; "
            "each row must be one unit of the experiment",
        )


def srm_check(
    t: np.ndarray, arms: Sequence[Any], expected: Mapping[str, float] | None, alpha: float
) -> SrmResult:
    """Chi-square of arm counts against ``expected`` shares (by arm label), or an even split if None."""
    labels = [str(a) for a in arms]
    counts = np.array([int((t == a).sum()) for a in arms], dtype=np.float64)
    if expected is None:
        share = {lab: 1.0 / len(labels) for lab in labels}
    else:
        unknown = set(expected) - set(labels)
        if unknown or set(expected) != set(labels):
            raise DataError(
                "--expected-split", f"must give a share for every arm {labels}, got {sorted(expected)}"
            )
        total = sum(expected.values())
        if total <= 0 or any(v <= 0 for v in expected.values()):
            raise DataError("--expected-split", "shares must be positive")
        share = {lab: float(expected[lab]) / total for lab in labels}
    exp = np.array([share[lab] for lab in labels]) * counts.sum()
    chi2, p = stats.chisquare(counts, exp)
    return SrmResult(
        dict(zip(labels, counts.astype(int).tolist(), strict=True)), share, float(chi2), float(p), alpha
    )


def parse_split(text: str) -> dict[str, float]:
    """``"No E-Mail=1,Mens E-Mail=1,Womens E-Mail=1"`` → shares by arm label (normalized later)."""
    out: dict[str, float] = {}
    for part in text.split(","):
        label, sep, value = part.rpartition("=")
        try:
            share = float(value)
        except ValueError:
            share = float("nan")
        if not sep or not label.strip() or not np.isfinite(share):
            raise DataError("--expected-split", f"expected ARM=SHARE pairs separated by commas, got {part!r}")
        out[label.strip()] = share
    return out


def validate_frame(
    frame: pd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    features: Sequence[str],
    control: Any,
    id_column: str | None,
    outcome_kind: OutcomeKindArg = "auto",
    expected_split: Mapping[str, float] | None = None,
    limits: Limits = Limits(),
) -> ValidationReport:
    """Every check, cheapest first; raises ``DataError`` on the first broken rule."""
    arms = check_treatment(frame[treatment])
    if control not in arms:
        raise DataError(
            treatment, f"control value {control!r} does not occur; values: {[str(a) for a in arms]}"
        )
    arms = [control] + [a for a in arms if a != control]
    y, kind = outcome_values(frame[outcome], outcome_kind)
    t = frame[treatment].to_numpy()
    check_arm_sizes(t, y, arms, treatment, outcome, kind, limits)
    warnings = check_features(frame, features)
    if id_column is not None:
        check_ids(frame[id_column])
    srm = srm_check(t, arms, expected_split, limits.srm_alpha)
    if srm.mismatch:
        warnings.append(srm.message())
    return ValidationReport(outcome_kind=kind, arms=arms, srm=srm, warnings=warnings)
