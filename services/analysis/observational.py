"""`uplift analyze --observational`: the average effect of each variant when assignment was not randomized.

The same analysis as `uplift train --observational` (services/trainer/observational.py): cross-fitted
propensity on the named confounders, Crump and common-support trimming, the AIPW average effect beside
the naive difference, refutations and the E-value. The frequentist and Bayesian sections of the report
still compare raw variant means; under confounding they are the naive difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from services.trainer.observational import ObservationalError, analyze, summary_lines
from shared.causal.nuisance import NuisanceConfig
from shared.schema import FeatureSchema

# Rows each variant must keep after trimming; below it the average effect's interval is not credible.
MIN_ROWS_PER_ARM = 50


def observational_section(
    frame: pd.DataFrame, variant: str, metric: str, confounders: list[str], control: str,
    metric_type: str, seed: int,
) -> tuple[dict[str, Any], str, list[str]]:  # fmt: skip
    """(JSON section, Markdown section, printout lines); ObservationalError names the option at fault."""
    missing = frame[confounders].isna().all()
    if missing.any():
        raise ObservationalError(f"--confounder: column {missing[missing].index[0]!r} has no values")
    X, _ = FeatureSchema.infer(frame[confounders]).encode_frame(frame[confounders])
    t = frame[variant].astype(str).to_numpy()
    y = frame[metric].to_numpy(dtype=np.float64)
    arms = [control, *sorted(set(t) - {control})]
    config = NuisanceConfig(n_folds=2, n_estimators=300, seed=seed)
    result = analyze(
        np.asarray(X, dtype=np.float64), t, y, arms=arms, control=control, outcome_kind=metric_type,
        config=config, min_rows_per_arm=MIN_ROWS_PER_ARM,
    )  # fmt: skip
    report = result.report | {"confounders": confounders, "seed": seed}
    lines = summary_lines(report)
    markdown = "\n\n## Observational analysis (assignment not randomized)\n\n" + "\n".join(
        f"- {line.strip()}" for line in lines
    )
    return report, markdown + "\n", lines
