"""Seeded percentile bootstrap of a ratio of sums, the form every estimator here takes."""

from __future__ import annotations

import numpy as np

__all__ = ["ratio_interval"]

# Resamples drawn at a time: bounds the (chunk, n) index matrix to a few MB at n = 100k.
_CHUNK = 16


def ratio_interval(
    num: np.ndarray, den: np.ndarray, n_bootstrap: int, level: float, seed: int
) -> tuple[float, float]:
    """Percentile interval of sum(num) / sum(den) over ``n_bootstrap`` row resamples.

    IPS and DR are means (den = 1); SNIPS divides by the resampled weight total, so its ratio is
    recomputed in each resample rather than fixed at the full sample's normaliser. Resamples whose
    denominator is 0 (no supported row drawn) are dropped.
    """
    if n_bootstrap < 2:
        raise ValueError(f"n_bootstrap: must be at least 2, got {n_bootstrap}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    n = len(num)
    stats = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, _CHUNK):
        size = min(_CHUNK, n_bootstrap - start)
        idx = rng.integers(0, n, size=(size, n))
        top, bottom = num[idx].sum(axis=1), den[idx].sum(axis=1)
        stats[start : start + size] = np.divide(top, bottom, out=np.full(size, np.nan), where=bottom > 0)
    finite = stats[np.isfinite(stats)]
    if len(finite) < 2:
        raise ValueError("target_prob: too few bootstrap resamples hold a row the target policy supports")
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)
