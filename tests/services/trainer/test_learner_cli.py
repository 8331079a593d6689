"""`uplift train --learner/--folds/--require-signal`: choice, honesty on a placebo market, bad input."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from shared.artifacts import current_version, resolve_current

runner = CliRunner()


def _one_line(res) -> str:  # type: ignore[no-untyped-def]
    """The one error line (progress lines of the steps that ran before it may precede it)."""
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert res.exit_code == 2, res.output
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    return errors[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--learner", "zz"], "--learner: must be auto or one of t, s, x, dr, r, ct"),
        (["--folds", "1"], "--folds: must be between 2 and 10"),
        (["--learner", "ct", "--arms", "3"], "--learner: ct needs"),
        (["--learner", "ct", "--shape", "continuous"], "--learner: ct needs"),
        (
            ["--rows", "1000", "--learner", "auto", "--folds", "10"],
            "--folds: with 10 folds every arm needs at least 50",
        ),
    ],
)
def test_bad_learner_options_exit_2_with_one_line(args, message, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "models"
    res = runner.invoke(app, ["train", "--seed", "1", "--rows", "3000", "--out", str(out), *args])
    assert message in _one_line(res)
    assert not out.exists() or not any(p.name == "CURRENT" for p in out.iterdir())


def test_auto_on_a_placebo_market_says_no_signal_and_require_signal_publishes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "models"
    args = [
        "train",
        "--shape",
        "null",
        "--rows",
        "8000",
        "--seed",
        "4",
        "--out",
        str(out),
        "--learner",
        "auto",
    ]
    res = runner.invoke(
        app, [*args, "--require-signal"], env={"UPLIFT_MAX_TREES": "60", "UPLIFT_RANKER_TREES": "5"}
    )
    assert res.exit_code == 1, res.output
    assert "NO RELIABLE SIGNAL" in res.output and "nothing published" in res.output
    assert not (out / "CURRENT").exists()
    # Without the flag the same run publishes, and the manifest and evaluation carry the verdict.
    res = runner.invoke(app, args, env={"UPLIFT_MAX_TREES": "60", "UPLIFT_RANKER_TREES": "5"})
    assert res.exit_code == 0, res.output
    assert "learner:" in res.output and "out-of-fold" in res.output
    _, manifest = resolve_current(out)
    assert manifest.verdict["signal"] is False and manifest.verdict["weak_arms"] == ["1"]
    assert len(manifest.learner["candidates"]) >= 6 and manifest.learner["chosen"] in res.output
    evaluation = json.loads((out / current_version(out) / "evaluation.json").read_text())
    compare = evaluation["arms"]["1"]["compare"]
    assert set(compare) == {"chosen", "t_learner", "response_model", "placebo"}
    assert compare["chosen"]["qini"]["low"] <= 0.0


def test_leaky_column_is_named_before_fitting(tmp_path: Path) -> None:
    from shared.synthetic import MarketConfig, generate_market

    users = generate_market(MarketConfig(rows=4000, seed=2)).users
    users["made_purchase"] = users["conversion"]  # recorded after treatment: the outcome itself
    path = tmp_path / "log.parquet"
    users.drop(columns=["response_type"]).to_parquet(path)
    res = runner.invoke(
        app,
        ["train", "--data", str(path), "--treatment", "treatment", "--outcome", "conversion", "--control", "0",
         "--exclude", "user_id,revenue", "--out", str(tmp_path / "models"), "--learner", "t"],
        env={"UPLIFT_MAX_TREES": "30", "UPLIFT_RANKER_TREES": "5"},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    warning = next(line for line in res.output.splitlines() if "possible leakage" in line)
    assert "'made_purchase'" in warning and "--exclude made_purchase" in warning
    assert res.output.index("possible leakage") < res.output.index("learner:")
