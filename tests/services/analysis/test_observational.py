"""`uplift analyze --observational`: the adjusted average effect on a confounded table; bad input exits 2."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from shared.synthetic_observational import FEATURES, ObservationalConfig, generate_observational

runner = CliRunner()


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    data = generate_observational(ObservationalConfig(rows=3000, seed=8))
    path = tmp_path_factory.mktemp("obs") / "obs.csv"
    data.users.to_csv(path, index=False)
    return path, float(data.users["true_cate"].mean())


def _args(path: Path, out: Path) -> list[str]:
    return ["analyze", "--data", str(path), "--variant", "treatment", "--metric", "conversion", "--control", "0",
            "--out", str(out), "--seed", "3"]  # fmt: skip


def test_adjusted_effect_covers_the_truth_where_the_naive_one_does_not(
    table: tuple[Path, float], tmp_path: Path
) -> None:
    path, truth = table
    confounders = [a for f in FEATURES for a in ("--confounder", f)]
    res = runner.invoke(app, [*_args(path, tmp_path / "r"), "--observational", *confounders])
    assert res.exit_code == 0, res.output
    assert "sensitivity: E-value" in res.output and "assumptions (observational)" in res.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["assumptions"]["path"] == "observational"
    arm = report["observational"]["arms"]["1"]
    effect, naive = arm["average_effect"], arm["naive_difference"]
    assert effect["low"] <= truth <= effect["high"]
    assert naive["low"] > truth
    assert arm["refutations"][0]["passed"]
    assert "Observational analysis" in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--observational"], "error: --confounder: required with --observational"),
        (["--confounder", "activity"], "error: --confounder: only with --observational"),
        (["--observational", "--confounder", "zz"], "error: --confounder: column 'zz' is not in"),
        (
            ["--observational", "--confounder", "activity", "--allocation", "0=1", "--allocation", "1=1"],
            "error: --allocation: contradicts --observational",
        ),
    ],
)
def test_bad_options_exit_2(
    table: tuple[Path, float], tmp_path: Path, extra: list[str], message: str
) -> None:
    res = runner.invoke(app, [*_args(table[0], tmp_path / "r"), *extra])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(message), res.output
