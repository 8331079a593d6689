"""A seeded market served by a deliberately wrong policy, written as an `uplift log export` file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shared.assignment_log import EXPORT_SCHEMA
from shared.synthetic import ID_COLUMN, OUTCOME_COLUMN, TREATMENT_COLUMN, is_truth_column

# Not features: what the generator writes beside them.
NOT_FEATURES = {ID_COLUMN, TREATMENT_COLUMN, OUTCOME_COLUMN, "revenue", "spend", "logged_propensity"}


def feature_columns(users: pd.DataFrame) -> list[str]:
    return [c for c in users.columns if c not in NOT_FEATURES and not is_truth_column(c)]


def wrong_policy(users: pd.DataFrame) -> np.ndarray:
    """P(treatment | x): 0.9 for users of low discount affinity (mostly not Persuadable), 0.1 for the rest."""
    return np.where(users["discount_affinity"].to_numpy() > 0.5, 0.1, 0.9)


def serve(users: pd.DataFrame, p_treat: np.ndarray, seed: int) -> pd.DataFrame:
    """Arms drawn from ``p_treat``; rewards from each user's true conversion probability under that arm."""
    rng = np.random.default_rng(seed)
    treated = rng.random(len(users)) < p_treat
    p = np.where(treated, users["p_treated"].to_numpy(), users["p_control"].to_numpy())
    out = users.copy()
    out[TREATMENT_COLUMN] = treated.astype(int)
    out[OUTCOME_COLUMN] = (rng.random(len(users)) < p).astype(int)
    out["logged_propensity"] = np.where(treated, p_treat, 1.0 - p_treat)
    return out


def write_export(served: pd.DataFrame, path: Path, unrewarded: int = 0) -> None:
    """The rows as `uplift log export` writes them (arms "0"/"1" as the model names them); the first
    ``unrewarded`` rows have no reward yet."""
    feats = feature_columns(served)
    records = served[feats].astype(object).to_dict(orient="records")
    reward = served[OUTCOME_COLUMN].to_numpy(dtype=np.float64).copy()
    reward[:unrewarded] = np.nan
    n = len(served)
    frame = pd.DataFrame(
        {
            "assignment_id": [f"a{i}" for i in range(n)],
            "assigned_at": pd.Timestamp("2026-12-01", tz="UTC"),
            "campaign_id": None,
            "model_version": "v-served",
            "user_id": served[ID_COLUMN].astype(str).to_numpy(),
            "features_hash": "0" * 64,
            "features_json": [json.dumps(r) for r in records],
            "arm": served[TREATMENT_COLUMN].astype(str).to_numpy(),
            "propensity": served["logged_propensity"].to_numpy(),
            "segment": "Neutral",
            "policy": "thompson",
            "reward": reward,
            "rewarded_at": pd.Timestamp("2026-12-02", tz="UTC"),
        }
    )
    pq.write_table(pa.Table.from_pandas(frame, schema=EXPORT_SCHEMA, preserve_index=False), path)
