"""Trainer settings: read from ``UPLIFT_*`` environment variables, validated before any work starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.trainer.validate import Limits
from shared.estimators.ranker import DEFAULT_RANK_TREES


class TrainerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPLIFT_", extra="ignore")

    models_dir: Path = Path("models")
    # 0 lets XGBoost use every core; the trainer is a batch job and owns the machine while it runs.
    n_jobs: int = Field(default=0, ge=0)
    test_fraction: float = Field(default=0.3, gt=0.0, lt=0.9)
    max_trees: int = Field(default=400, ge=1)
    # Few, fast trees: every tree is paid per catalog item per ranked user at serve time (see ranker.py).
    ranker_trees: int = Field(default=DEFAULT_RANK_TREES, ge=1)
    # Learner choice (see shared.estimators.selection): "auto" cross-fits every learner that fits the data.
    learner: str = "auto"
    folds: int = Field(default=3, ge=2, le=10)
    # Cross-fitting cost grows with rows x learners x folds; above this many training rows a seeded
    # subsample chooses (the chosen learner is then fitted on every training row). A compute budget,
    # not a statistical constant: differences between learners are clearer, not blurrier, with more rows.
    selection_rows: int = Field(default=150_000, ge=1_000)
    bootstrap_resamples: int = Field(default=100, ge=10)
    effect_members: int = Field(default=8, ge=2)
    holdout_sample_rows: int = Field(default=5000, ge=0)
    # Data checks before any fit (see services/trainer/validate.py).
    min_rows_per_arm: int = Field(default=100, ge=1)
    min_positives_per_arm: int = Field(default=20, ge=1)
    srm_alpha: float = Field(default=0.001, gt=0.0, lt=1.0)

    def limits(self) -> Limits:
        return Limits(self.min_rows_per_arm, self.min_positives_per_arm, self.srm_alpha)
