"""Off-policy estimates of candidate policies from an assignment log (an export or the live log).

One function (``evaluate_log``) computes the figures of both `uplift evaluate-policy` and
``GET /campaigns/{id}/evaluation``.

Candidates: treat-none (everyone control), treat-all (everyone the one treatment arm, or each
treatment arm in turn), the logged policy itself, and each model's greedy policy "the arm whose
predicted effect × value − cost is largest, control when none is positive". The direct method of
DR is the model's predicted outcome per arm for a model's policy; for the others it is the first
model given, or, without one, each arm's mean logged reward (DR stays unbiased either way, since the
logged propensities are exact; a better direct method only narrows the interval).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.ope.bootstrap import ratio_interval
from shared.ope.diagnostics import effective_sample_size
from shared.ope.estimators import PolicyEstimate, doubly_robust, dr_terms, ips, snips

if TYPE_CHECKING:
    import pandas as pd

    from shared.assignment_log import LogEntry
    from shared.bundle import ModelBundle

__all__ = [
    "LoggedData",
    "PolicyReport",
    "evaluate_log",
    "logged_from_entries",
    "logged_from_frame",
    "mean_reward_per_arm",
    "model_outcomes",
    "served_minus_none",
]


@dataclass(frozen=True)
class LoggedData:
    """The rewarded rows of an exported log, with the arms in column order (control first)."""

    frame: pd.DataFrame
    arms: list[str]
    dropped_unrewarded: int


@dataclass(frozen=True)
class PolicyReport:
    policy: str
    direct_method: str
    estimates: list[PolicyEstimate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "direct_method": self.direct_method,
            "estimates": [e.to_dict() for e in self.estimates],
            "notes": self.notes,
        }


def logged_from_frame(frame: pd.DataFrame, control: str, source: str) -> LoggedData:
    """The rows that have a reward; ``control`` must be one of the logged arms (``source`` names the log)."""
    missing = {"arm", "propensity", "reward"} - set(frame.columns)
    if missing:
        raise ValueError(
            f"--log: {source} is not an assignment-log export (no column {sorted(missing)[0]!r})"
        )
    rewarded = frame[frame["reward"].notna()].reset_index(drop=True)
    if rewarded.empty:
        raise ValueError(f"--log: {source} has no rewarded assignment to evaluate from")
    logged = sorted(set(rewarded["arm"].astype(str)))
    if control not in logged:
        raise ValueError(f"--control: arm {control!r} is not in the log (its arms: {', '.join(logged)})")
    arms = [control, *[a for a in logged if a != control]]
    return LoggedData(rewarded, arms, len(frame) - len(rewarded))


def logged_from_entries(entries: Sequence[LogEntry], control: str, source: str) -> LoggedData:
    """The same from the live log's entries (``AssignmentLog.iter_rows``)."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "arm": [e.row.arm for e in entries],
            "propensity": [e.row.propensity for e in entries],
            "reward": [e.reward for e in entries],
            "features_json": [e.row.features_json for e in entries],
        },
        columns=["arm", "propensity", "reward", "features_json"],
    )
    frame["reward"] = frame["reward"].astype("float64")
    return logged_from_frame(frame, control, source)


def model_outcomes(bundle: ModelBundle, data: LoggedData) -> np.ndarray:
    """The model's predicted outcome of every logged arm for every row, columns in ``data.arms`` order."""
    import pandas as pd

    texts = data.frame["features_json"] if "features_json" in data.frame.columns else None
    if texts is None or texts.isna().any():
        raise ValueError("--models: the log lacks features_json for some rows; log with the features kept")
    features = pd.DataFrame.from_records([json.loads(t) for t in texts])
    absent = [c for c in bundle.schema.names if c not in features.columns]
    if absent:
        raise ValueError(
            f"--models: version {bundle.version} needs feature {absent[0]!r}, absent from the log"
        )
    unknown = [a for a in data.arms if a not in bundle.arms]
    if unknown:
        raise ValueError(
            f"--models: version {bundle.version} has no arm {unknown[0]!r} (its arms: {bundle.arms})"
        )
    X, _ = bundle.schema.encode_frame(features[bundle.schema.names])
    mu = bundle.predict_outcomes(X)
    return mu[:, [bundle.arms.index(a) for a in data.arms]]


def _greedy(mu: np.ndarray, value: float, cost: float) -> np.ndarray:
    """One-hot (n, K): the treatment arm with the largest effect × value − cost when positive, else control."""
    gain = (mu[:, 1:] - mu[:, :1]) * value - cost
    choice = np.where(gain.max(axis=1) > 0, gain.argmax(axis=1) + 1, 0)
    return np.eye(mu.shape[1])[choice]


def mean_reward_per_arm(data: LoggedData) -> np.ndarray:
    """The direct method without a model: each arm's mean logged reward, the same for every row."""
    means = data.frame.groupby(data.frame["arm"].astype(str))["reward"].mean()
    return np.tile([float(means[a]) for a in data.arms], (len(data.frame), 1))


def _estimates(
    data: LoggedData,
    pi: np.ndarray,
    q: np.ndarray,
    logging: np.ndarray | None,
    n_bootstrap: int,
    level: float,
    seed: int,
) -> list[PolicyEstimate]:
    arm = data.frame["arm"].astype(str).to_numpy()
    reward = data.frame["reward"].to_numpy(dtype=np.float64)
    p = data.frame["propensity"].to_numpy(dtype=np.float64)
    cols = np.array([data.arms.index(a) for a in arm])
    t = pi[np.arange(len(arm)), cols]
    out = [ips(arm, reward, p, t, n_bootstrap=n_bootstrap, level=level, seed=seed)]
    if (t > 0).any():
        out.append(snips(arm, reward, p, t, n_bootstrap=n_bootstrap, level=level, seed=seed))
    dr = doubly_robust(
        arm,
        reward,
        p,
        pi,
        q,
        data.arms,
        logging_probs=logging,
        n_bootstrap=n_bootstrap,
        level=level,
        seed=seed,
    )
    out.append(dr)
    return out


def _logged_policy(data: LoggedData) -> np.ndarray | None:
    """The logging distribution over both arms when there are two; unknown with more."""
    if len(data.arms) != 2:
        return None
    arm = data.frame["arm"].astype(str).to_numpy()
    p = data.frame["propensity"].to_numpy(dtype=np.float64)
    p_treat = np.where(arm == data.arms[1], p, 1.0 - p)
    return np.column_stack([1.0 - p_treat, p_treat])


def evaluate_log(
    data: LoggedData,
    models: Sequence[tuple[str, np.ndarray]],
    *,
    value: float,
    cost: float,
    n_bootstrap: int,
    level: float,
    seed: int,
) -> list[PolicyReport]:
    """Estimates of every candidate policy; ``models`` are (version, predicted outcomes per arm)."""
    n, k = len(data.frame), len(data.arms)
    q0, q0_name = (
        (models[0][1], f"model {models[0][0]}") if models else (mean_reward_per_arm(data), "arm means")
    )
    candidates: list[tuple[str, np.ndarray, np.ndarray, str]] = [
        ("treat-none", np.tile(np.eye(k)[0], (n, 1)), q0, q0_name)
    ]
    for j in range(1, k):
        name = "treat-all" if k == 2 else f"treat-all:{data.arms[j]}"
        candidates.append((name, np.tile(np.eye(k)[j], (n, 1)), q0, q0_name))
    reports = []
    logged = _logged_policy(data)
    if logged is not None:
        candidates.append(("logged", logged, q0, q0_name))
    else:
        arm, p = data.frame["arm"], data.frame["propensity"].to_numpy(dtype=np.float64)
        reward = data.frame["reward"].to_numpy(dtype=np.float64)
        on_policy = [
            f(arm, reward, p, p, n_bootstrap=n_bootstrap, level=level, seed=seed) for f in (ips, snips)
        ]
        reports.append(
            PolicyReport(
                "logged",
                "none",
                on_policy,
                ["DR needs the logging probabilities of every arm; the log holds only the chosen one's"],
            )
        )
    for version, mu in models:
        candidates.append((f"model {version}", _greedy(mu, value, cost), mu, f"model {version}"))
    for name, pi, q, q_name in candidates:
        reports.append(PolicyReport(name, q_name, _estimates(data, pi, q, logged, n_bootstrap, level, seed)))
    return reports


def served_minus_none(
    data: LoggedData, q: np.ndarray, *, n_bootstrap: int, level: float, seed: int
) -> PolicyEstimate:
    """Mean reward per user of the logged (served) policy minus treat-none's, with its interval.

    Per row: the observed reward (on-policy, exact whatever the number of arms) minus the DR term
    of treat-none with the direct method ``q``; one bootstrap of the difference, so the interval
    accounts for both estimates coming from the same users.
    """
    arm = data.frame["arm"].astype(str).to_numpy()
    reward = data.frame["reward"].to_numpy(dtype=np.float64)
    p = data.frame["propensity"].to_numpy(dtype=np.float64)
    n, k = len(arm), len(data.arms)
    none = np.tile(np.eye(k)[0], (n, 1))
    terms, w, _ = dr_terms(arm, reward, p, none, q, data.arms)
    diff = reward - terms
    low, high = ratio_interval(diff, np.ones(n), n_bootstrap, level, seed)
    return PolicyEstimate(
        estimator="dr",
        value=float(diff.mean()),
        low=low,
        high=high,
        level=level,
        n=n,
        ess=effective_sample_size(w),
        n_bootstrap=n_bootstrap,
        seed=seed,
        warnings=(),
        bootstrap_low=low,
        bootstrap_high=high,
    )
