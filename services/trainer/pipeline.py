"""The training run: encode, split, fit, set thresholds, evaluate, export, publish atomically."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services.trainer import ranking
from services.trainer.calibrate import calibrate_on_held_out
from services.trainer.data import TrainingData, split_mask
from services.trainer.evaluate import evaluate_arm, evaluate_segments
from services.trainer.export import write_uplift
from services.trainer.leakage import find_leaks
from services.trainer.learning import Learned, learn, outcome_kind_of
from services.trainer.log_learning import logged_learner
from services.trainer.observational import ASSUMPTIONS, observational_analysis
from services.trainer.plots import qini_plot, uplift_plot
from services.trainer.run_report import headline, learner_report, learner_summary
from services.trainer.settings import TrainerSettings
from services.trainer.verdict import arm_verdict, compare_models, overall_verdict
from shared.artifacts import (
    FORMAT_VERSION,
    DataDescription,
    Manifest,
    SegmentThresholds,
    new_version,
    publish,
    write_json,
)
from shared.estimators import TLearner
from shared.estimators.tlearner import DEFAULT_PARAMS
from shared.estimators.uncertainty import effect_interval, member_predictions
from shared.parity import PARITY_REFERENCE_FILE, parity_reference
from shared.ranking_features import cross_indices
from shared.schema import FeatureSchema
from shared.segments import PLACEBO_QUANTILE, SEGMENTS, placebo_thresholds, segment_labels

Step = Callable[[str], Any]
TRUTH_PREFIX = "true_cate_"
INTERVAL_LEVEL = 0.9

# What /optimize means for each kind of outcome; stored in the manifest (GET /model shows it).
OPTIMIZE_RULES = {
    "binary": (
        "effects are changes in conversion probability; /optimize values a user at "
        "effect × value_per_conversion − cost_per_treatment; bandit reward = converted (0/1), "
        "priors = the model's mean predicted conversion per segment and arm"
    ),
    "continuous": (
        "effects are in the outcome's own unit (e.g. dollars of spend); call /optimize with "
        "value_per_conversion = 1 (or your margin per unit) so a user is valued at "
        "effect × value_per_conversion − cost_per_treatment and 'incremental_conversions' reads as "
        "incremental outcome; bandit reward stays 0/1 = a non-zero outcome (the user bought), priors "
        "= the held-out share of non-zero outcomes per segment and arm"
    ),
}


@dataclass
class Prefitted:
    """Models fitted elsewhere (a Dask cluster, external memory): ``train`` then skips the fit, and the
    frame it is given holds only the held-out rows, which it evaluates and exports as usual."""

    learned: Learned
    schema: FeatureSchema
    train_rows: int
    # Where and how it trained (workers, partitions, wall time): evaluation.json's "training".
    report: dict[str, Any]


@dataclass
class TrainResult:
    version: str
    # None when ``publish_if`` refused the model (e.g. --require-signal without signal).
    path: Path | None
    metrics: dict[str, Any]
    timings: dict[str, float]
    cpu_timings: dict[str, float]


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("uplift-engine", "xgboost-cpu", "numpy", "pandas", "pyarrow", "onnx", "onnxmltools"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


class _Timer:
    """Wall seconds per step, and the process's CPU seconds (all threads): on a shared machine the wall
    time moves with the neighbours' load, the CPU time much less, so benchmarks print both."""

    def __init__(self, report: Step) -> None:
        self.timings: dict[str, float] = {}
        self.cpu_timings: dict[str, float] = {}
        self.report = report

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.report(name)
        start, cpu = time.perf_counter(), time.process_time()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)
        self.cpu_timings[name] = round(time.process_time() - cpu, 3)


def _arm_label(value: Any) -> str:
    return str(value)


def train(
    data: TrainingData,
    out: Path,
    settings: TrainerSettings,
    thresholds: tuple[float, float] | None = None,
    progress: Step | None = None,
    warn: Step | None = None,
    publish_if: Callable[[dict[str, Any]], bool] | None = None,
    observational: bool = False,
    prefitted: Prefitted | None = None,
) -> TrainResult:
    """Encode, choose and fit (on the training split only), evaluate once on held-out rows, publish.

    ``warn`` receives warnings meant for the user before any fit (possible leakage). ``observational``:
    the arms were not randomized (see services/trainer/observational.py); rows outside the overlap
    region are trimmed from training and evaluation, and learners use estimated propensities."""
    timer = _Timer(progress or (lambda _name: None))
    warn = warn or (lambda _message: None)
    frame = data.frame
    with timer.step("encode features"):
        schema = data.schema() if prefitted is None else prefitted.schema
        X, _ = schema.encode_frame(frame[data.features])
        t = frame[data.treatment].to_numpy()
        y = frame[data.outcome].to_numpy(dtype=np.float64)
        if prefitted is None:
            test = split_mask(len(frame), settings.test_fraction, data.seed)
        else:
            test = np.ones(len(frame), dtype=bool)
        if data.logged is not None:
            # Held-out scores (Qini, verdict, segments) assume randomized rows: only the experiment's.
            test &= ~data.logged.mask
    outcome_kind = outcome_kind_of(y, data.outcome_kind)
    warnings = [w.message() for w in find_leaks(frame, data.features, data.outcome, outcome_kind)]
    for message in warnings:
        warn(message)
    train_rows, observed = ~test, None
    if observational:
        with timer.step("observational: propensity, overlap, average effect, refutations"):
            observed = observational_analysis(data, X, t, y, outcome_kind, settings)
        train_rows &= observed.keep
        test &= observed.keep
    fit = learn if data.logged is None else logged_learner(data.logged, train_rows, schema.encoded_names)
    learned = prefitted.learned if prefitted is not None else fit(
        X[train_rows], t[train_rows], y[train_rows], control=data.control, outcome_kind=outcome_kind,
        settings=settings, seed=data.seed, propensity="estimate" if observational else data.propensity,
        step=timer.step, report=timer.report,
    )  # fmt: skip
    calibration = None
    if not observational and data.logged is None and prefitted is None:
        with timer.step("effect scale on held-out rows"):
            learned, calibration = calibrate_on_held_out(learned, X[test], t[test], y[test], data.control)
    model, served = learned.served.baseline, learned.served
    with timer.step("evaluate"):
        mu = served.predict_outcomes(X[test])
        effects = mu[:, 1:] - mu[:, :1]
        placebo_effects = learned.placebo.predict(X[test])
        lower, upper = thresholds if thresholds is not None else placebo_thresholds(placebo_effects)
        rule = (
            "set by the user at training time"
            if thresholds is not None
            else f"placebo: ±{PLACEBO_QUANTILE:.1%} quantile of |effect| from a shuffled-treatment refit"
        )
        member_raw = member_predictions(learned.members, X[test])
        models = {"t_learner": model.predict(X[test]).reshape(len(effects), -1), "placebo": placebo_effects}
        metrics = _evaluate(
            data, model, mu, effects, models, member_raw, test, y, t, lower, upper, settings, served.form.slopes
        )  # fmt: skip
        metrics["learner"] = learner_report(learned, settings)
        if calibration is not None:
            metrics["learner"]["calibration"] = calibration
        metrics["warnings"] = warnings
        metrics["assumptions"] = {
            "path": "observational" if observational else "randomized",
            "list": ASSUMPTIONS["observational" if observational else "randomized"],
        }
        if observed is not None:
            metrics["observational"] = observed.report
        if prefitted is not None:
            metrics["training"] = prefitted.report
        if data.logged is not None:
            metrics["log"] = data.logged.report
        priors = _bandit_priors(mu, segment_labels(effects, lower, upper), model, y[test], t[test])
    ranker_result = None
    if data.catalog is not None and data.impressions is not None:
        with timer.step("fit ranker"):
            ranker_result = ranking.fit_and_evaluate(data, schema, settings, test)
            metrics["ranker"] = ranker_result.metrics
    version = new_version()
    if publish_if is not None and not publish_if(metrics):
        return TrainResult(
            version=version, path=None, metrics=metrics, timings=timer.timings, cpu_timings=timer.cpu_timings
        )
    with timer.step("write artifacts"):

        def write(stage: Path) -> Manifest:
            params = {**DEFAULT_PARAMS, "n_estimators": settings.max_trees, "random_state": data.seed}
            uplift_spec = write_uplift(
                stage,
                served,
                learned.members,
                schema.n_encoded,
                params | {"control": _arm_label(data.control)},
            )
            ranker_spec = ranking.write(ranker_result, stage) if ranker_result else None
            reference = parity_reference(
                schema,
                [*model.boosters_, *served.effect_boosters],
                ranker_result.model.booster_ if ranker_result else None,
                np.load(stage / ranker_spec.catalog_matrix_file) if ranker_spec else None,
                cross_indices(schema, ranker_spec.item_schema, ranker_spec.crosses) if ranker_spec else None,
            )
            np.savez(stage / PARITY_REFERENCE_FILE, **reference)  # type: ignore[arg-type]  # stubs see allow_pickle in **
            _write_holdout_sample(data, frame, test, settings.holdout_sample_rows, stage)
            # The steps so far (writing is the last): where a run's time went, wall and CPU.
            metrics["step_seconds"] = {"wall": dict(timer.timings), "cpu": dict(timer.cpu_timings)}
            write_json(stage / "evaluation.json", metrics)
            qini_plot(metrics["arms"], stage / "qini.png")
            uplift_plot(metrics["arms"], stage / "uplift_by_decile.png")
            return Manifest(
                format_version=FORMAT_VERSION,
                version=version,
                created_at=datetime.now(UTC).isoformat(),
                library_versions=_versions(),
                data=DataDescription(
                    source=data.source,
                    path=data.path,
                    rows=len(frame) + (prefitted.train_rows if prefitted else 0),
                    train_rows=prefitted.train_rows if prefitted else int(train_rows.sum()),
                    test_rows=int(test.sum()),
                    seed=data.seed,
                    treatment_column=data.treatment,
                    outcome_column=data.outcome,
                    outcome_kind=model.outcome_kind_,
                    control=_arm_label(data.control),
                    arms=[_arm_label(a) for a in model.arms_],
                    id_column=data.id_column,
                    optimize_rule=OPTIMIZE_RULES[model.outcome_kind_],
                    extra=data.description,
                ),
                features=schema,
                segments=SegmentThresholds(lower=lower, upper=upper, rule=rule),
                uplift_model=uplift_spec,
                ranker=ranker_spec,
                parity_reference_file=PARITY_REFERENCE_FILE,
                metrics=headline(metrics),
                learner=learner_summary(metrics["learner"]),
                verdict=metrics["verdict"],
                bandit_priors=priors,
            )

        path = publish(out, version, write)
    return TrainResult(
        version=version, path=path, metrics=metrics, timings=timer.timings, cpu_timings=timer.cpu_timings
    )


def _evaluate(
    data: TrainingData,
    model: TLearner,
    mu: np.ndarray,
    effects: np.ndarray,
    models: dict[str, np.ndarray],
    member_raw: np.ndarray,
    test: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    lower: float,
    upper: float,
    settings: TrainerSettings,
    slopes: np.ndarray | None,
) -> dict[str, Any]:
    yt, tt = y[test], t[test]
    truth_all = _truth_matrix(data, model, test)
    arms: dict[str, Any] = {}
    placebo_2d = models["placebo"].reshape(len(effects), -1)
    low, high = effect_interval(effects, member_raw, INTERVAL_LEVEL, slopes)
    verdicts = {}
    for k, arm in enumerate(model.treatment_arms):
        rows = (tt == arm) | (tt == model.control)
        treated = (tt[rows] == arm).astype(np.int8)
        truth = truth_all[rows, k] if truth_all is not None else None
        res = evaluate_arm(yt[rows], treated, effects[rows, k], mu[rows, k + 1], truth)
        res["qini_placebo"] = evaluate_arm(yt[rows], treated, placebo_2d[rows, k], mu[rows, k + 1], None)[
            "qini"
        ]
        scores = {
            "chosen": effects[rows, k],
            "t_learner": models["t_learner"][rows, k],
            "response_model": mu[rows, k + 1],
            "placebo": placebo_2d[rows, k],
        }
        res["compare"] = compare_models(
            yt[rows], treated, scores, settings.bootstrap_resamples, data.seed + 17
        )
        res["verdict"] = verdicts[_arm_label(arm)] = arm_verdict(res["compare"])
        res["effect_interval"] = {
            "level": INTERVAL_LEVEL,
            "mean_width": float(np.mean(high[rows, k] - low[rows, k])),
        }
        if truth is not None:
            covered = (truth >= low[rows, k]) & (truth <= high[rows, k])
            res["effect_interval"]["coverage_of_truth"] = float(covered.mean())
        arms[_arm_label(arm)] = res
    seg = evaluate_segments(effects, lower, upper, truth_all)
    return {
        "arms": arms,
        "segments": seg,
        "outcome_kind": model.outcome_kind_,
        "verdict": overall_verdict(verdicts),
    }


def _truth_matrix(data: TrainingData, model: TLearner, test: np.ndarray) -> np.ndarray | None:
    """Known true effects of the held-out rows, one column per treatment arm (synthetic data only)."""
    if data.has_truth and len(model.treatment_arms) == 1:
        return data.frame["true_cate"].to_numpy()[test][:, None]
    cols = [data.truth(a) for a in model.treatment_arms]
    if any(c is None for c in cols):
        return None
    return np.column_stack([c[test] for c in cols if c is not None])


def _bandit_priors(
    mu: np.ndarray, segments: np.ndarray, model: TLearner, y: np.ndarray, t: np.ndarray
) -> dict[str, dict[str, float]]:
    """The bandit's starting belief per segment and arm, on held-out users (segments < 20 users skipped).

    Binary outcome: the mean predicted conversion. Continuous outcome: the bandit's reward is still
    0/1 (a non-zero outcome), so its prior is the observed share of non-zero outcomes in that arm.
    """
    out: dict[str, dict[str, float]] = {}
    for seg in SEGMENTS:
        rows = segments == seg
        if rows.sum() < 20:
            continue
        if model.outcome_kind_ == "binary":
            out[seg] = {_arm_label(a): float(mu[rows, k].mean()) for k, a in enumerate(model.arms_)}
            continue
        shares = {}
        for a in model.arms_:
            arm_rows = rows & (t == a)
            if arm_rows.sum() >= 20:
                shares[_arm_label(a)] = float((y[arm_rows] != 0).mean())
        if shares:
            out[seg] = shares
    return out


def _write_holdout_sample(
    data: TrainingData, frame: pd.DataFrame, test: np.ndarray, rows: int, stage: Path
) -> None:
    """A seeded sample of held-out users for the dashboard's simulations (features, arm, outcome, truth)."""
    if rows == 0:
        return
    idx = np.flatnonzero(test)
    rng = np.random.default_rng(data.seed + 3)
    pick = np.sort(rng.choice(idx, size=min(rows, len(idx)), replace=False))
    cols = [c for c in (data.id_column, *data.features, data.treatment, data.outcome) if c]
    cols += [
        c for c in frame.columns if c in ("true_cate", "p_control", "p_treated") or c.startswith(TRUTH_PREFIX)
    ]
    # A user's own column may share a name with a truth column: each column once.
    cols = list(dict.fromkeys(cols))
    frame.iloc[pick][cols].to_parquet(stage / "holdout_sample.parquet", index=False)
