"""The engine from Python: fit on a pandas DataFrame, predict, evaluate, and serve what you saved.

    import pandas as pd
    from shared import uplift

    df = pd.read_csv("shared/datasets/hillstrom.csv.gz")
    fitted = uplift.fit(df, treatment="segment", outcome="visit", control="No E-Mail",
                        exclude=["conversion", "spend"], models_dir="models")
    fitted.learner          # what the cross-fitted selection chose, and why
    fitted.verdict          # does the model beat random and the placebo on held-out users?
    scores = fitted.predict(df)              # cate_<arm> per treatment arm, segment, chosen_arm
    fitted.evaluate(df_new)                  # Qini/AUUC/uplift@k per arm, with bootstrap intervals

``fit`` runs exactly what ``uplift train --data`` runs (validation, leakage guard, learner selection
on the training split, one held-out evaluation, artifacts with a manifest) and publishes a version in
``models_dir`` that ``uplift serve --models models_dir`` loads. Categorical columns (text, or numbers
named in ``categorical``) are encoded inside with the schema recorded in the manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.bundle import ModelBundle
from shared.metrics.bootstrap import bootstrap_metrics, paired_weights

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FittedUplift", "fit", "load"]


@dataclass
class FittedUplift:
    """A published model version, loaded for scoring."""

    bundle: ModelBundle
    metrics: dict[str, Any]

    @property
    def path(self) -> Path:
        return self.bundle.path

    @property
    def learner(self) -> dict[str, Any]:
        return self.bundle.manifest.learner

    @property
    def verdict(self) -> dict[str, Any]:
        return self.bundle.manifest.verdict

    def effects(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted effect of every treatment arm against control, shape (n, arms − 1)."""
        X, _ = self.bundle.schema.encode_frame(frame[self.bundle.schema.names])
        mu = self.bundle.predict_outcomes(X)
        return mu[:, 1:] - mu[:, :1]

    def predict(self, frame: pd.DataFrame, interval: float | None = None) -> pd.DataFrame:
        """``cate_<arm>`` per treatment arm (predicted, outcome units), ``segment`` and ``chosen_arm``.

        With ``interval`` (e.g. 0.9), ``cate_<arm>_low``/``_high`` from the per-user effect samples.
        """
        import pandas as pd

        X, _ = self.bundle.schema.encode_frame(frame[self.bundle.schema.names])
        mu = self.bundle.predict_outcomes(X)
        effects = mu[:, 1:] - mu[:, :1]
        arms = self.bundle.arms
        out = pd.DataFrame({f"cate_{a}": effects[:, k] for k, a in enumerate(arms[1:])}, index=frame.index)
        best = effects.max(axis=1)
        out["segment"] = self.bundle.segments(best)
        out["chosen_arm"] = np.where(
            best > 0, np.array(arms[1:], dtype=object)[effects.argmax(axis=1)], arms[0]
        )
        if interval is not None:
            low, high = self.bundle.effect_intervals(X, effects, interval)
            for k, a in enumerate(arms[1:]):
                out[f"cate_{a}_low"], out[f"cate_{a}_high"] = low[:, k], high[:, k]
        return out

    def evaluate(self, frame: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> dict[str, dict[str, Any]]:
        """Observed Qini, AUUC and uplift@10/30% of this model on ``frame`` (rows it was not trained on),
        per treatment arm against control, each with a 90% bootstrap interval.

        Scale: Qini and AUUC are areas above random per user squared (random = 0), uplift@k is the
        observed difference in mean outcome between treated and control users in the top k share.
        """
        data = self.bundle.manifest.data
        arm_col = frame[data.treatment_column].astype(str).to_numpy()
        y = frame[data.outcome_column].to_numpy(dtype=np.float64)
        effects = self.effects(frame)
        out: dict[str, dict[str, Any]] = {}
        for k, arm in enumerate(self.bundle.arms[1:]):
            rows = (arm_col == arm) | (arm_col == data.control)
            treated = (arm_col[rows] == arm).astype(np.int8)
            weights = paired_weights(int(rows.sum()), n_boot, seed)
            res = bootstrap_metrics(y[rows], treated, effects[rows, k], weights)
            out[arm] = {name: m.to_dict() for name, m in res.items()}
        return out


def fit(
    frame: pd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    control: str | None = None,
    features: Sequence[str] = (),
    exclude: Sequence[str] = (),
    categorical: Sequence[str] = (),
    id_column: str | None = None,
    outcome_kind: str = "auto",
    learner: str = "auto",
    seed: int = 7,
    models_dir: str | Path = "models",
    progress: Callable[[str], Any] | None = None,
    warn: Callable[[str], Any] | None = None,
) -> FittedUplift:
    """Validate, choose a learner, fit, evaluate on a held-out split and publish a version in ``models_dir``.

    Raises ``ValueError`` subclasses naming the column or option and the rule on bad input.
    """
    from services.trainer.data import FileSpec, from_frame
    from services.trainer.pipeline import train
    from services.trainer.settings import TrainerSettings

    spec = FileSpec(
        path=Path("<dataframe>"),
        treatment=treatment,
        outcome=outcome,
        control=control,
        features=tuple(features),
        exclude=tuple(exclude),
        categorical=tuple(categorical),
        id_column=id_column,
        outcome_kind=outcome_kind,  # type: ignore[arg-type]  # validated by the trainer's checks
        seed=seed,
    )
    data = from_frame(frame, spec)
    settings = TrainerSettings(learner=learner)
    data.validate(limits=settings.limits())
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    result = train(data, Path(models_dir), settings, progress=progress, warn=warn)
    assert result.path is not None
    return FittedUplift(ModelBundle.load_version(result.path, use_onnx=False), result.metrics)


def load(models_dir: str | Path = "models") -> FittedUplift:
    """The current version in ``models_dir`` (as ``uplift serve`` would load it)."""
    import json

    bundle = ModelBundle.load_current(Path(models_dir), use_onnx=False)
    return FittedUplift(bundle, json.loads((bundle.path / "evaluation.json").read_text()))
