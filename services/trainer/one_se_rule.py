"""Breiman's one-standard-error rule over paired held-out risks, as the experiment's weight uses it.

Both the global weight (experiment_weight.py) and a changed region's weight (drift_regions.py) lean
towards more of the experiment: among the allowed candidates, the largest weight whose mean risk is
within one paired standard error of the lowest allowed one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def one_se_choice(
    risk: np.ndarray, candidates: Sequence[float], allowed: Sequence[int] | None = None
) -> tuple[float, np.ndarray, np.ndarray]:
    """The chosen weight, every candidate's mean risk, and its standard error against the lowest allowed.

    ``risk[c, i]``: held-out risk of row i under ``candidates[c]`` (the same rows for every candidate,
    so the differences are paired); ``allowed``: indices of the candidates to choose among (all when None).
    """
    among = range(len(candidates)) if allowed is None else allowed
    means = risk.mean(axis=1)
    best = min(among, key=lambda c: means[c])
    se = (risk - risk[best]).std(axis=1, ddof=1) / np.sqrt(risk.shape[1])
    chosen = max(candidates[c] for c in among if means[c] <= means[best] + se[c])
    return float(chosen), means, se
