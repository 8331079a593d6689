"""POST /experiments/analyze: the decision report from summary counts or (bounded) raw rows.

A failed sample-ratio check is still a 200: the request was valid and the analysis ran; its finding
is that effects cannot be trusted, so they are withheld (``effects_withheld``) with the reason in
``decision``. Bad input is a 422 naming the field and the rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter

from services.api.experiment_schemas import AnalyzeRequest, AnalyzeResponse, RowIn, VariantCounts
from shared.schema import SchemaError

if TYPE_CHECKING:
    from shared.stats import DecisionReport, Variant

# shared.stats is imported inside the handlers: it pulls in scipy.stats, whose import costs seconds
# of API start-up (the ready-in-3-s target) for an endpoint most deployments call rarely.

router = APIRouter(tags=["experiments"])


def _field_for(message: str, names: list[str]) -> SchemaError:
    """Turn a shared.stats message ("B.conversions: rule", "control: rule") into a request field path."""
    head, sep, rule = message.partition(": ")
    if not sep:
        return SchemaError("variants", message)
    for i, name in enumerate(names):
        if head.startswith(f"{name}."):
            return SchemaError(f"variants[{i}].{head[len(name) + 1 :]}", rule)
    return SchemaError(head, rule)


def _row_field_for(message: str, allocation: dict[str, float] | None) -> SchemaError:
    """The same for raw rows: variant-level rules are about the rows, a planned-but-absent arm about allocation."""
    head, sep, rule = message.partition(": ")
    name, _, sub = head.rpartition(".")
    if not sep or head in ("variants", "rows"):
        return SchemaError("rows", rule or message)
    if head.split(".")[0] in ("value", "pre"):
        return SchemaError(f"rows.{head.split('.')[0]}", rule)
    if allocation is not None and sub == "users" and name in allocation:
        return SchemaError(f"allocation.{name}", rule)
    return SchemaError(head, rule)


def _variant(i: int, v: VariantCounts, metric_type: str) -> Variant:
    need, other = (
        (("conversions",), ("sum", "sum_squares"))
        if metric_type == "binary"
        else (("sum", "sum_squares"), ("conversions",))
    )
    for f in need:
        if getattr(v, f) is None:
            raise SchemaError(f"variants[{i}].{f}", f"required when metric_type is {metric_type}")
    for f in other:
        if getattr(v, f) is not None:
            raise SchemaError(f"variants[{i}].{f}", f"not allowed when metric_type is {metric_type}")
    from shared.stats import ContinuousVariant, ConversionVariant

    try:
        if metric_type == "binary":
            return ConversionVariant(v.name, v.users, int(v.conversions or 0))
        return ContinuousVariant(v.name, v.users, float(v.sum or 0.0), float(v.sum_squares or 0.0))
    except ValueError as exc:
        head, _, rule = str(exc).partition(": ")
        sub = head[len(v.name) + 1 :] if head.startswith(f"{v.name}.") else head
        raise SchemaError(f"variants[{i}].{sub}", rule) from None


def _from_variants(body: AnalyzeRequest, options: dict[str, Any]) -> DecisionReport:
    from shared.stats import analyze

    assert body.variants is not None
    variants = [_variant(i, v, body.metric_type) for i, v in enumerate(body.variants)]
    try:
        return analyze(variants, control=body.control, allocation=body.allocation, **options)
    except ValueError as exc:
        raise _field_for(str(exc), [v.name for v in variants]) from None


def _pre(rows: list[RowIn]) -> np.ndarray | None:
    given = [r.pre is not None for r in rows]
    if not any(given):
        return None
    if not all(given):
        raise SchemaError(f"rows[{given.index(False)}].pre", "give pre in every row or in none")
    return np.array([r.pre for r in rows], dtype=np.float64)


def _from_rows(body: AnalyzeRequest, options: dict[str, Any]) -> DecisionReport:
    from shared.stats import analyze_rows

    assert body.rows is not None
    labels = np.array([r.variant for r in body.rows], dtype=object).astype(str)
    values = np.array([r.value for r in body.rows], dtype=np.float64)
    try:
        return analyze_rows(
            labels, values, metric_type=body.metric_type, pre=_pre(body.rows), covariates=["pre"],
            control=body.control, allocation=body.allocation, **options,
        )  # fmt: skip
    except ValueError as exc:
        if isinstance(exc, SchemaError):
            raise
        raise _row_field_for(str(exc), body.allocation) from None


@router.post("/experiments/analyze", response_model=AnalyzeResponse)
def analyze_experiment(body: AnalyzeRequest) -> dict[str, Any]:
    """Health checks, frequentist and Bayesian effects, CUPED (rows with `pre`), sequential view, decision."""
    if (body.variants is None) == (body.rows is None):
        raise SchemaError(
            "variants", "give exactly one of variants (summary counts) or rows (raw, one per user)"
        )
    options: dict[str, Any] = {
        "alpha": body.alpha, "override_srm": body.override_srm, "seed": body.seed, "metric": body.metric,
        "tau": body.tau, "loss_threshold": body.loss_threshold,
    }  # fmt: skip
    report = _from_variants(body, options) if body.variants is not None else _from_rows(body, options)
    from services.api.trends import trend_sections

    return {**report.to_dict(), **trend_sections(body, report.control), "markdown": report.to_markdown()}
