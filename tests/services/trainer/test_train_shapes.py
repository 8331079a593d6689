"""`uplift train --shape X` on every synthetic market: each trains, is scored against its own truth,
and the continuous one is learned as spend. Fewer trees keep each run short (the ranker does not
depend on the shape; 120 uplift trees recover the effects as well as the default here)."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app
from shared.artifacts import resolve_current
from shared.synthetic import is_truth_column

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("fast_training")


def _train(tmp_path: Path, *args: str) -> tuple[dict, object]:
    out = tmp_path / "models"
    res = runner.invoke(app, ["train", "--rows", "20000", "--seed", "5", "--out", str(out), *args])
    assert res.exit_code == 0, res.output
    version_dir, manifest = resolve_current(out)
    return json.loads((version_dir / "evaluation.json").read_text()), manifest


def test_smooth_market_effect_is_recovered(tmp_path):
    evaluation, manifest = _train(tmp_path, "--shape", "smooth")
    arm = evaluation["arms"]["1"]
    assert manifest.data.extra["shape"] == "smooth" and manifest.data.outcome_kind == "binary"
    assert arm["pearson_cate_truth"] > 0.6
    assert arm["qini"] > 0.6 * arm["qini_oracle"] and arm["qini"] > 3 * abs(arm["qini_placebo"])
    assert arm["ate_predicted"] == pytest.approx(arm["ate_true"], abs=0.02)


def test_smooth_market_trains_with_three_arms(tmp_path):
    evaluation, manifest = _train(tmp_path, "--shape", "smooth", "--arms", "3")
    assert manifest.data.arms == ["0", "1", "2"]
    for arm in ("1", "2"):
        # The coupon's effect differs from the recommendations' and each is recovered on its own.
        assert evaluation["arms"][arm]["pearson_cate_truth"] > 0.4


def test_rare_market_ranks_the_persuadables_first(tmp_path):
    evaluation, _ = _train(tmp_path, "--shape", "rare")
    arm = evaluation["arms"]["1"]
    assert arm["ate_true"] == pytest.approx(0.0075, abs=0.003)
    # ~200 treated persuadables in the training split: a weak but clearly non-random recovery.
    assert arm["pearson_cate_truth"] > 0.2 and arm["qini"] > 0


def test_continuous_market_learns_spend(tmp_path):
    evaluation, manifest = _train(tmp_path, "--shape", "continuous")
    assert manifest.data.outcome_column == "spend" and manifest.data.outcome_kind == "continuous"
    # The purchase flag and the spend's truth are post-treatment: never features.
    names = manifest.features.names
    assert "conversion" not in names and not any(is_truth_column(n) for n in names)
    arm = evaluation["arms"]["1"]
    assert arm["ate_true"] > 1.0  # currency units, the exact expected spend difference
    assert arm["pearson_cate_truth"] > 0.2
    assert abs(arm["ate_predicted"] - arm["ate_true"]) < 1.5


def test_null_market_finds_nothing_better_than_its_placebo(tmp_path):
    evaluation, _ = _train(tmp_path, "--shape", "null")
    arm = evaluation["arms"]["1"]
    assert arm["ate_true"] == 0.0 and arm["pearson_cate_truth"] is None
    assert abs(arm["ate_predicted"]) < 0.02
    # No real effect: any Qini is noise, of the placebo's order, far below a real market's.
    assert abs(arm["qini"]) < 0.005


def test_generate_writes_the_continuous_market(tmp_path):
    out = tmp_path / "m.parquet"
    res = runner.invoke(app, ["generate", "--rows", "800", "--shape", "continuous", "--out", str(out)])
    assert res.exit_code == 0, res.output
    users = pd.read_parquet(out)
    assert {"spend", "true_cate", "expected_spend_control", "expected_spend_treated"} <= set(users.columns)
    assert "outcome spend" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "--shape", "wavy"],
            "--shape: must be one of hard, smooth, rare, continuous, null, got 'wavy'",
        ),
        (["generate", "--shape", "wavy", "--out", "x.parquet"], "--shape: must be one of hard, smooth"),
        (
            ["train", "--shape", "rare", "--data", "x.csv", "--treatment", "t", "--outcome", "y"],
            "--shape: only for synthetic data",
        ),
    ],
)
def test_bad_shape_exits_2_with_one_line(args, message):
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_help_describes_every_shape():
    res = runner.invoke(app, ["generate", "--help"], terminal_width=400)
    flat = " ".join(res.output.replace("│", " ").split())
    for shape in ("hard: the default", "smooth:", "rare:", "continuous:", "null:"):
        assert shape in flat
