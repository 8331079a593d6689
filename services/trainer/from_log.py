"""`uplift train --data EXPERIMENT --log EXPORT`: the experiment plus the traffic a serving policy assigned.

The export (`uplift log export`, schema in shared/assignment_log/parquet.py) holds one row per
assignment: the user's features (``features_json``), the arm the policy chose, the exact probability it
had of choosing that arm (``propensity``) and the reward fed back, if any. Those rows are not a
randomized experiment: the policy chose by the features. So every row of the combined data carries a
known propensity e(x) = P(treatment | x): the design share on experiment rows, the logged probability
on logged rows. The learners use it (shared/estimators/weights.py): outcome models are fitted with
inverse-propensity weights, DR/R/CT/X take e(x) instead of a share or an estimate.

Weight cap (data-independent): e(x) is clipped to [floor, 1 - floor] (default floor 0.05, so no row
weighs more than 1 / 0.05 = 20). Clipping trades a little bias for bounded variance; the clipped rows
are counted. A policy that logs a probability of 1 (a user it could only give one arm) contributes a
clipped row: its counterfactual arm was never possible, which only the floor makes usable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services.trainer.data import LoggedRows, TrainingData
from services.trainer.validate import DataError

__all__ = ["DEFAULT_FLOOR", "LOG_COLUMNS", "SELECTION_RULE", "combine", "weighting_rule"]

DEFAULT_FLOOR = 0.05
LOG_COLUMNS = ("assignment_id", "features_json", "arm", "propensity", "reward")
SELECTION_RULE = (
    "with --log the selection cross-fits on the experiment's training rows only (its out-of-fold Qini "
    "needs randomized rows); the chosen learner is then fitted on experiment + log with known propensities"
)
EVALUATION_RULE = "held-out rows are drawn from the experiment only (randomized), never from the log"


def weighting_rule(floor: float) -> str:
    return (
        f"known propensity e(x) = P(treatment | x) per row: the design share on experiment rows, the "
        f"logged probability on logged rows, clipped to [{floor}, {1 - floor:g}] (weights at most "
        f"{1 / floor:g}); outcome models inverse-propensity weighted, DR/R/CT/X use e(x) directly"
    )


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError("--log", f"no file at {path}; write one with `uplift log export --out {path.name}`")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise DataError("--log", f"{path} is not a Parquet file ({type(exc).__name__})") from exc
    missing = [c for c in LOG_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError("--log", f"{path} is not an assignment-log export (no column {missing[0]!r})")
    return frame


def _two_arms(data: TrainingData) -> tuple[Any, Any]:
    arms = sorted(pd.unique(data.frame[data.treatment].dropna()).tolist(), key=str)
    if len(arms) != 2:
        raise DataError(
            "--log",
            f"retraining from a log needs a two-arm experiment (the log holds only the chosen arm's "
            f"probability, which fixes P(treatment | x) only with two arms); {data.treatment} has {len(arms)}",
        )
    treated = next(a for a in arms if a != data.control)
    return data.control, treated


def _features(texts: pd.Series, data: TrainingData) -> pd.DataFrame:
    """The experiment's feature columns from the logged JSON, typed like the experiment's."""
    try:
        records = [json.loads(t) for t in texts]
    except (TypeError, ValueError) as exc:
        raise DataError("features_json", f"a logged row is not a JSON object ({exc})") from exc
    if not all(isinstance(r, dict) for r in records):
        raise DataError("features_json", "every logged row must be a JSON object of feature values")
    logged = pd.DataFrame.from_records(records, index=texts.index)
    out = {}
    for col in data.features:
        if col not in logged.columns:
            raise DataError(col, "a feature of the experiment is absent from the log's features_json")
        values = logged[col]
        if pd.api.types.is_numeric_dtype(data.frame[col]) and not pd.api.types.is_bool_dtype(data.frame[col]):
            numbers = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & numbers.isna()
            if bad.any():
                raise DataError(
                    col, f"the log holds {values[bad].iloc[0]!r}, not a number like the experiment's column"
                )
            out[col] = numbers.astype(np.float64)
        else:
            out[col] = values.where(values.isna(), values.astype(str))
    return pd.DataFrame(out, index=texts.index)


def _rewards(reward: pd.Series, data: TrainingData) -> pd.Series:
    experiment = data.frame[data.outcome]
    binary_experiment = bool(experiment.isin([0, 1]).all()) and data.outcome_kind != "continuous"
    if not binary_experiment:
        raise DataError(
            "--log",
            f"the log's rewards are 0/1 conversions but the experiment's outcome {data.outcome!r} is not "
            "0/1, so the two cannot be pooled",
        )
    if not reward.isin([0.0, 1.0]).all():
        raise DataError(
            "reward",
            f"must be 0 or 1 like the experiment's {data.outcome!r}, got {reward[~reward.isin([0.0, 1.0])].iloc[0]!r}",
        )
    return reward


def _design_share(data: TrainingData, control: Any, treated: Any) -> float:
    """P(treatment) of the experiment: the generator's design when known, else the observed share."""
    design = data.propensity or {}
    by_label = {str(k): float(v) for k, v in design.items()}
    if str(treated) in by_label and str(control) in by_label:
        return by_label[str(treated)] / (by_label[str(treated)] + by_label[str(control)])
    return float((data.frame[data.treatment] == treated).mean())


def combine(data: TrainingData, path: Path, floor: float = DEFAULT_FLOOR) -> TrainingData:
    """``data`` (validated experiment rows) followed by the log's rewarded rows, with every row's known
    propensity. Raises DataError naming the column or option on a log that does not fit the experiment."""
    if not 0.0 < floor < 0.5:
        raise DataError("--propensity-floor", f"must be strictly between 0 and 0.5, got {floor}")
    control, treated = _two_arms(data)
    raw = _read(path)
    rewarded = raw[raw["reward"].notna()]
    usable = rewarded[rewarded["features_json"].notna()]
    if usable.empty:
        raise DataError("--log", f"{path} has no rewarded row with features to learn from ({len(raw)} rows)")
    by_label = {str(control): control, str(treated): treated}
    arm = usable["arm"].astype(str)
    unknown = sorted(set(arm) - set(by_label))
    if unknown:
        raise DataError(
            "arm", f"the log's arm {unknown[0]!r} is not an arm of the experiment ({', '.join(by_label)})"
        )
    p = usable["propensity"].to_numpy(dtype=np.float64)
    if not ((p > 0.0) & (p <= 1.0)).all():
        bad = float(p[~((p > 0.0) & (p <= 1.0))][0])
        raise DataError("propensity", f"a logged probability must be in (0, 1], got {bad!r}")
    is_treated = (arm == str(treated)).to_numpy()
    e_log = np.where(is_treated, p, 1.0 - p)
    share = _design_share(data, control, treated)
    log_frame = _features(usable["features_json"], data)
    log_frame[data.treatment] = arm.map(by_label).to_numpy()
    log_frame[data.outcome] = _rewards(usable["reward"].astype(np.float64), data).to_numpy()
    experiment = data.frame
    if data.id_column:
        # Logged users repeat (one row per assignment) and may be experiment users: the ID becomes the
        # assignment's, which is unique, so the ID checks keep meaning something.
        log_frame[data.id_column] = "log-" + usable["assignment_id"].astype(str).to_numpy()
        experiment = experiment.assign(**{data.id_column: experiment[data.id_column].astype(str)})
    frame = pd.concat([experiment, log_frame.reset_index(drop=True)], ignore_index=True)
    e = np.concatenate([np.full(len(experiment), share), e_log])
    # The tolerance keeps a probability logged as exactly 1 - floor (0.9 gives 1 - 0.9 = 0.0999...98) unclipped.
    clipped = (e < floor - 1e-9) | (e > 1.0 - floor + 1e-9)
    mask = np.r_[np.zeros(len(experiment), dtype=bool), np.ones(len(log_frame), dtype=bool)]
    report = {
        "path": str(path),
        "rows_in_file": len(raw),
        "rows_used": len(log_frame),
        "dropped_unrewarded": len(raw) - len(rewarded),
        "dropped_without_features": len(rewarded) - len(usable),
        "arms": {str(control): int((~is_treated).sum()), str(treated): int(is_treated.sum())},
        "experiment_rows": len(experiment),
        "experiment_propensity": share,
        "propensity_floor": floor,
        "clipped_rows": int(clipped[mask].sum()),
        "clipped_experiment_rows": int(clipped[~mask].sum()),
        "weighting": weighting_rule(floor),
        "selection": SELECTION_RULE,
        "evaluation": EVALUATION_RULE,
    }
    description = {**data.description, "log": report}
    return TrainingData(
        frame=frame,
        features=data.features,
        treatment=data.treatment,
        outcome=data.outcome,
        control=data.control,
        source=data.source,
        seed=data.seed,
        path=data.path,
        categorical=data.categorical,
        catalog=data.catalog,
        impressions=data.impressions,
        id_column=data.id_column,
        description=description,
        outcome_kind=data.outcome_kind,
        propensity=data.propensity,
        logged=LoggedRows(
            mask=mask, propensity=np.clip(e, floor, 1.0 - floor), report=report, supported=~clipped
        ),
    )
