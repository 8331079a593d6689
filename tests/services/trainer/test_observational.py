"""`uplift train --observational` on a confounded table of known truth; bad input exits 2 with one line."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.trainer.observational import ObservationalError, learner_for
from shared.artifacts import resolve_current

runner = CliRunner()
FAST = {
    "UPLIFT_LEARNER": "auto",
    "UPLIFT_MAX_TREES": "80",
    "UPLIFT_EFFECT_MEMBERS": "2",
    "UPLIFT_BOOTSTRAP_RESAMPLES": "20",
}


def _one_line(res) -> str:  # type: ignore[no-untyped-def]
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert res.exit_code == 2, res.output
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    return errors[0]


def test_confounded_synthetic_table_recovers_the_truth_and_refutes(tmp_path: Path) -> None:
    out = tmp_path / "models"
    args = ["train", "--observational", "--rows", "4000", "--seed", "3", "--folds", "2", "--n-jobs", "1"]
    res = runner.invoke(app, [*args, "--out", str(out)], env=FAST)
    assert res.exit_code == 0, res.output
    assert "SRM check: skipped" in res.output
    assert "assumptions (observational): no unmeasured confounding" in res.output
    assert "sensitivity: E-value" in res.output
    metrics = json.loads((resolve_current(out)[0] / "evaluation.json").read_text())
    assert metrics["assumptions"]["path"] == "observational"
    assert metrics["learner"]["chosen"] == "dr"
    obs = metrics["observational"]
    arm = obs["arms"]["1"]
    truth, effect, naive = arm["true_average_effect"], arm["average_effect"], arm["naive_difference"]
    assert arm["interval_covers_truth"] and effect["low"] <= truth <= effect["high"]
    assert not naive["low"] <= truth <= naive["high"]
    assert naive["estimate"] > 2 * truth
    placebo, common_cause, subsets = arm["refutations"]
    assert placebo["passed"] and abs(placebo["estimate"]) < effect["estimate"] / 2
    assert common_cause["passed"] and subsets["passed"]
    assert arm["sensitivity"]["e_value"] > arm["sensitivity"]["e_value_interval"] > 1.0
    trim = obs["trimming"]
    assert trim["rows_kept"] + trim["rows_trimmed"] == 4000 and 0.0 <= trim["alphas"]["1"] < 0.5
    assert sum(arm["overlap"]["histogram"]["1"]) + sum(arm["overlap"]["histogram"]["0"]) == 4000
    # Trimmed rows leave training and evaluation alike.
    manifest = json.loads((resolve_current(out)[0] / "manifest.json").read_text())
    assert manifest["data"]["train_rows"] + manifest["data"]["test_rows"] == trim["rows_kept"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-on-srm"], "--fail-on-srm: contradicts --observational"),
        (["--expected-split", "0=1,1=1"], "--expected-split: contradicts --observational"),
        (["--propensity", "0.3"], "--propensity: sets a randomized share"),
        (["--shape", "null"], "--shape: a randomized synthetic market"),
        (["--learner", "t"], "--learner: with --observational must be auto, dr, x, r; t never uses"),
        (["--learner", "ct"], "--learner: with --observational must be auto, dr, x, r; ct pure"),
    ],
)
def test_contradicting_options_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["train", "--observational", "--rows", "500", "--out", str(tmp_path / "m"), *args]
    )
    assert message in _one_line(res)


def test_arms_the_features_separate_exit_2_naming_the_option(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 1200
    arm = (rng.random(n) < 0.5).astype(int)
    frame = pd.DataFrame(
        {"segment_score": arm * 10.0 + rng.random(n), "age": rng.normal(40, 5, n), "arm": arm,
         "bought": (rng.random(n) < 0.3).astype(int)}
    )  # fmt: skip
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    res = runner.invoke(
        app,
        ["train", "--observational", "--data", str(path), "--treatment", "arm", "--outcome", "bought",
         "--folds", "2", "--n-jobs", "1", "--out", str(tmp_path / "m")],
        env=FAST,
    )  # fmt: skip
    line = _one_line(res)
    assert line.startswith("error: --observational: after trimming to the overlap region arm"), line


def test_learner_rule() -> None:
    assert learner_for("auto") == "dr" and learner_for("x") == "x" and learner_for("r") == "r"
    with pytest.raises(ObservationalError, match="--learner"):
        learner_for("s")


def test_randomized_path_states_its_assumptions(tmp_path: Path) -> None:
    out = tmp_path / "models"
    env = FAST | {"UPLIFT_LEARNER": "t", "UPLIFT_RANKER_TREES": "5"}
    res = runner.invoke(
        app, ["train", "--rows", "3000", "--seed", "2", "--n-jobs", "1", "--out", str(out)], env=env
    )
    assert res.exit_code == 0, res.output
    assert "assumptions (randomized): randomization by design" in res.output
    metrics = json.loads((resolve_current(out)[0] / "evaluation.json").read_text())
    assert metrics["assumptions"]["path"] == "randomized" and "observational" not in metrics
