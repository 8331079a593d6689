"""A small confounded data set shared by the AIPW and refutation tests."""

from dataclasses import dataclass

import numpy as np
import pytest

from shared.causal.nuisance import NuisanceConfig
from shared.synthetic_observational import ObservationalConfig, generate_observational

CONFIG = NuisanceConfig(n_folds=2, n_estimators=150, n_jobs=1, seed=5)


@dataclass
class Confounded:
    X: np.ndarray
    treated: np.ndarray
    y: np.ndarray
    truth: float


def confounded(outcome: str, rows: int = 3000, seed: int = 11) -> Confounded:
    data = generate_observational(ObservationalConfig(rows=rows, seed=seed, outcome=outcome))  # type: ignore[arg-type]
    u = data.users
    return Confounded(
        X=u[data.features].to_numpy(np.float64),
        treated=u["treatment"].to_numpy(),
        y=u[data.outcome].to_numpy(np.float64),
        truth=float(u["true_cate"].mean()),
    )


@pytest.fixture(scope="module")
def continuous_case() -> Confounded:
    return confounded("continuous")


@pytest.fixture(scope="module")
def binary_case() -> Confounded:
    return confounded("binary")
