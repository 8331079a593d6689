"""End to end from the command line: generate --events → prepare → train → score recovers the planted
effect (the ATE inside its interval, Qini above placebo, the hidden group ranked higher)."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app
from shared.artifacts import current_version
from shared.stats import ConversionVariant, two_proportion_ztest

runner = CliRunner()
USERS = 22_000
SEED = 11


def _ok(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


def _interval(frame: pd.DataFrame) -> tuple[float, float]:
    arms = {
        name: ConversionVariant(name, len(g), int(g["purchased"].sum()))
        for name, g in frame.groupby("variant")
    }
    return two_proportion_ztest(arms["control"], arms["treatment"]).ci_difference


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    events, table, models = folder / "clicks.parquet", folder / "table.parquet", folder / "models"
    _ok(["generate", "--events", "--rows", str(USERS), "--seed", str(SEED), "--out", str(events)])
    res = _ok(
        [
            "prepare",
            "--events",
            str(events),
            "--exposures",
            str(folder / "clicks.exposures.parquet"),
            "--out",
            str(table),
        ]
    )
    hint = next(line for line in res.output.splitlines() if line.startswith("next: uplift train"))
    train = hint.removeprefix("next: uplift ").split()  # the command prepare tells the user to run
    _ok([*train, "--control", "control", "--out", str(models), "--n-jobs", "2", "--seed", str(SEED)])
    version = current_version(models)
    evaluation = json.loads((models / version / "evaluation.json").read_text())
    _ok(["score", "--data", str(table), "--out", str(folder / "scores.parquet"), "--models", str(models)])
    return {
        "table": pd.read_parquet(table),
        "truth": pd.read_parquet(folder / "clicks.truth.parquet"),
        "scores": pd.read_parquet(folder / "scores.parquet"),
        "arm": evaluation["arms"]["treatment"],
    }


def test_average_effect_inside_its_interval(run):
    low, high = _interval(run["table"])
    ate_true = run["truth"]["true_cate"].mean()
    assert low < ate_true < high
    assert low < run["arm"]["ate_predicted"] < high
    assert low > 0  # the planted effect is large enough to be detected at this size


def test_hidden_group_effect_and_no_effect_elsewhere(run):
    frame = run["table"].merge(run["truth"], on="user_id")
    hesitant = frame[frame["hesitant"]]
    low, high = _interval(hesitant)
    assert low < hesitant["true_cate"].mean() < high
    low, high = _interval(frame[~frame["hesitant"]])
    assert low < 0.0 < high


def test_model_finds_the_hidden_group(run):
    assert run["arm"]["qini"] > run["arm"]["qini_placebo"]
    assert run["arm"]["qini"] > 0
    scored = run["scores"].merge(run["truth"], on="user_id")
    means = scored.groupby("hesitant")["cate_treatment"].mean()
    assert means[True] > means[False] + 0.01
