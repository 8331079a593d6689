"""`uplift analyze` on Hillstrom (three arms), other file formats, and every bad option."""

import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportions_ztest
from typer.testing import CliRunner

from services.cli import app
from shared.datasets import HILLSTROM_CONTROL, HILLSTROM_PATH, HILLSTROM_TREATMENT

runner = CliRunner()
BASE = [
    "analyze",
    "--data",
    str(HILLSTROM_PATH),
    "--variant",
    HILLSTROM_TREATMENT,
    "--control",
    HILLSTROM_CONTROL,
]


@pytest.fixture(scope="module")
def hillstrom():
    return pd.read_csv(HILLSTROM_PATH)


def _run(args, out):
    res = runner.invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return res, json.loads(out.with_name(out.name + ".json").read_text())


def test_hillstrom_conversion_three_arms(tmp_path, hillstrom):
    res, rep = _run([*BASE, "--metric", "conversion", "--seed", "11"], tmp_path / "conv")
    assert rep["metric_type"] == "binary" and rep["seed"] == 11
    assert [v["name"] for v in rep["variants"]] == ["Womens E-Mail", "No E-Mail", "Mens E-Mail"]
    assert rep["srm"]["ok"] and rep["srm"]["allocation_assumed"]
    counts = hillstrom.groupby("segment")["conversion"].agg(["sum", "count"])
    ctl = counts.loc[HILLSTROM_CONTROL]
    for comp in rep["frequentist"]:
        arm = counts.loc[comp["variant"]]
        _, p = proportions_ztest([arm["sum"], ctl["sum"]], [arm["count"], ctl["count"]])
        assert comp["p_value"] == pytest.approx(p, rel=1e-9)
    holm = sorted(c["p_value_holm"] for c in rep["frequentist"])
    assert holm[0] == pytest.approx(2 * min(c["p_value"] for c in rep["frequentist"]))
    assert rep["decision"]["outcome"] == "ship" and rep["decision"]["winner"] == "Mens E-Mail"
    assert "decision: ship (Mens E-Mail)" in res.output
    md = (tmp_path / "conv.md").read_text()
    assert "## Bayesian (Beta-Bernoulli" in md and "## Sequential (mSPRT" in md


def test_hillstrom_spend_with_history_as_cuped_covariate(tmp_path, hillstrom):
    _, rep = _run([*BASE, "--metric", "spend", "--pre", "history"], tmp_path / "spend")
    assert rep["metric_type"] == "continuous"
    slope = np.polyfit(hillstrom["history"], hillstrom["spend"], 1)[0]
    assert rep["cuped"]["covariates"] == ["history"]
    assert rep["cuped"]["theta"][0] == pytest.approx(slope, rel=1e-8)
    assert 0.0 <= rep["cuped"]["variance_reduction"] < 1.0
    means = hillstrom.groupby("segment")["spend"].mean()
    womens = next(c for c in rep["frequentist"] if c["variant"] == "Womens E-Mail")
    assert womens["difference"] == pytest.approx(means["Womens E-Mail"] - means[HILLSTROM_CONTROL], rel=1e-10)


def test_planned_allocation_mismatch_withholds_effects_until_overridden(tmp_path):
    skewed = [
        "--allocation",
        "No E-Mail=2",
        "--allocation",
        "Mens E-Mail=1",
        "--allocation",
        "Womens E-Mail=1",
    ]
    res, rep = _run([*BASE, "--metric", "visit", *skewed], tmp_path / "srm")
    assert rep["effects_withheld"] and rep["decision"]["outcome"] == "withheld"
    assert rep["frequentist"] is None and "sample ratio mismatch" in res.output
    _, forced = _run([*BASE, "--metric", "visit", *skewed, "--override-srm"], tmp_path / "forced")
    assert not forced["effects_withheld"] and len(forced["frequentist"]) == 2


def test_parquet_input_and_a_variant_named_control_is_the_default(tmp_path, monkeypatch):
    # The file starts with the treatment: the first row's variant must not become the control.
    frame = pd.DataFrame({"arm": ["b"] * 300 + ["Control"] * 300, "y": [1, 1, 0] * 100 + [0, 1, 0] * 100})
    frame.to_parquet(tmp_path / "exp.parquet")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["analyze", "--data", "exp.parquet", "--variant", "arm", "--metric", "y"])
    assert res.exit_code == 0, res.output
    assert "control: 'Control' (named like a control; pass --control to choose another)" in res.stdout
    rep = json.loads((tmp_path / "reports" / "exp-y.json").read_text())
    assert rep["control"] == "Control" and rep["decision"]["winner"] == "b"


def test_without_a_control_like_name_control_is_required(tmp_path):
    p = tmp_path / "ab.csv"
    pd.DataFrame({"arm": ["b", "a"] * 100, "y": [0, 1] * 100}).to_csv(p, index=False)
    res = runner.invoke(app, ["analyze", "--data", str(p), "--variant", "arm", "--metric", "y"])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        "error: --control: required (no variant named control/ctrl/baseline/holdout/0 among arm values "
        "['a', 'b']); e.g. --control 'a'"
    ]


def _bad_file(tmp_path):
    p = tmp_path / "tiny.csv"
    pd.DataFrame(
        {"arm": ["a", "b", "a", "b"], "y": [1.0, 0.0, 0.0, 1.0], "pre": [1.0, None, 2.0, 3.0]}
    ).to_csv(p, index=False)
    return p


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "nope.csv"], "error: --data: no such file"),
        (["--data", "x.txt"], "error: --data: must be a .csv, .csv.gz or .parquet file"),
        (["--alpha", "1.5"], "error: --alpha: must be strictly between 0 and 1"),
        (["--tau", "0"], "error: --tau: must be finite and positive"),
        (["--loss-threshold", "-1"], "error: --loss-threshold: must be finite and positive"),
        (["--out", "/no/such/dir/r"], "error: --out: parent folder"),
        (["--metric", "nothere"], "error: --metric: column 'nothere' is not in"),
        (["--variant", "nothere"], "error: --variant: column 'nothere' is not in"),
        (["--pre", "nothere"], "error: --pre: column 'nothere' is not in"),
        (["--control", "Z"], "error: --control: 'Z' is not a value of arm"),
        (["--allocation", "a"], "error: --allocation: must be NAME=SHARE"),
        (["--allocation", "a=x"], "error: --allocation: share of 'a' must be a number"),
        (["--allocation", "a=-1"], "error: --allocation: share of 'a' must be finite and positive"),
        (
            ["--allocation", "a=1", "--allocation", "c=1"],
            "error: c.users: the allocation plans this variant but no row has it",
        ),
        (["--pre", "pre"], "error: pre.pre: must be a finite number in every row (1 missing"),
        (["--allocation", "a=1"], "error: allocation: must name exactly the variants"),
        (["--metric-type", "binary", "--metric", "pre"], "error: value: must be a finite number"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, extra, message):
    data = _bad_file(tmp_path)
    args = {
        "--data": str(data),
        "--variant": "arm",
        "--metric": "y",
        "--control": "a",
        "--out": str(tmp_path / "r"),
    }
    it = iter(extra)
    rest = []
    for key in it:
        if key in args:
            args[key] = next(it)
        else:
            rest += [key, next(it)]
    cmd = ["analyze", *[x for kv in args.items() for x in kv], *rest]
    res = runner.invoke(app, cmd)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), res.stderr


def test_single_variant_file_is_refused(tmp_path):
    p = tmp_path / "one.csv"
    pd.DataFrame({"arm": ["a"] * 5, "y": [1, 0, 1, 0, 1]}).to_csv(p, index=False)
    res = runner.invoke(
        app,
        [
            "analyze",
            "--data",
            str(p),
            "--variant",
            "arm",
            "--metric",
            "y",
            "--control",
            "a",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 2
    assert res.stderr.strip() == "error: variants: need at least two (a control and a treatment), got 1"
