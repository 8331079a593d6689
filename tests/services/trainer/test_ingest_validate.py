"""Reading user files and every validation rule: each error exits 2 naming the column, writes nothing."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.trainer.data import FileSpec, from_file
from services.trainer.ingest import column_types, iter_batches, read_frame
from services.trainer.validate import DataError, parse_split, srm_check

runner = CliRunner()
FAST = {"UPLIFT_MAX_TREES": "5", "UPLIFT_HOLDOUT_SAMPLE_ROWS": "50", "UPLIFT_N_JOBS": "2"}


def experiment(n_per_arm: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arms = rng.permutation(np.repeat(["ctl", "a", "b"], n_per_arm))
    n = len(arms)
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "arm": arms,
            "y": (rng.random(n) < 0.3).astype(int),
            "spend": np.round(rng.exponential(20.0, n) * (rng.random(n) < 0.3), 2),
            "x1": rng.normal(size=n),
            "x2": rng.choice(["p", "q", "r"], n),
        }
    )


def write(frame: pd.DataFrame, tmp_path, name: str = "log.csv"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def train_args(path, out, *extra: str) -> list[str]:
    base = ["train", "--data", str(path), "--treatment", "arm", "--outcome", "y", "--control", "ctl"]
    return [*base, "--id-column", "user_id", "--exclude", "spend", "--out", str(out), *extra]


def run_failing(args: list[str], out) -> str:
    res = runner.invoke(app, args, env=FAST)
    assert res.exit_code == 2, res.output
    # Progress lines go to stderr too; exactly one line is the error.
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, res.output
    # A failed run leaves nothing behind: no version, no staging folder, no pointer.
    assert not out.exists() or list(out.iterdir()) == []
    return lines[0]


@pytest.mark.parametrize("name", ["log.csv", "log.csv.gz", "log.parquet"])
def test_reads_only_needed_columns_with_inferred_types(tmp_path, name):
    frame = experiment()
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, compression="gzip" if name.endswith(".gz") else None)
    types = column_types(path)
    assert list(types) == list(frame.columns)
    got = read_frame(path, ["arm", "x1"])
    assert list(got.columns) == ["arm", "x1"]
    np.testing.assert_allclose(got["x1"], frame["x1"])
    data = from_file(
        FileSpec(
            path=path, treatment="arm", outcome="y", control="ctl", exclude=["spend"], id_column="user_id"
        )
    )
    assert data.features == ["x1", "x2"] and data.control == "ctl"
    assert data.description["excluded"] == ["spend"]
    schema = data.schema()
    assert [f.kind for f in schema.features] == ["numeric", "categorical"]
    assert schema.spec("x2").categories == ("p", "q", "r")


def test_batches_are_bounded_and_cast_to_the_given_types(tmp_path):
    import pyarrow as pa

    path = write(experiment(), tmp_path)
    batches = list(iter_batches(path, {"x1": pa.float64(), "user_id": pa.string()}, batch_rows=128))
    assert sum(b.num_rows for b in batches) == 900 and max(b.num_rows for b in batches) <= 128
    assert batches[0].schema.field("user_id").type == pa.string()


def test_numeric_control_matches_its_text(tmp_path):
    frame = experiment().assign(arm=lambda f: f["arm"].map({"ctl": 0, "a": 1, "b": 2}))
    path = write(frame, tmp_path)
    data = from_file(FileSpec(path=path, treatment="arm", outcome="y", exclude=["spend", "user_id"]))
    assert data.control == 0
    data = from_file(FileSpec(path=path, treatment="arm", outcome="y", control="2", exclude=["spend"]))
    assert data.control == 2


def _bad_outcome(f):
    return f.assign(y=f["y"] * 3)


CASES = [
    # (mutate frame, extra args, column named, rule fragment)
    (lambda f: f, ["--treatment", "group"], "group", "column named by --treatment is missing"),
    (lambda f: f, ["--features", "x1,nope"], "nope", "column named by --features is missing"),
    (lambda f: f, ["--exclude", "ghost"], "ghost", "column named by --exclude is missing"),
    (_bad_outcome, ["--outcome-kind", "binary"], "y", "outcome must be binary"),
    (lambda f: f.assign(y=np.where(f["y"] == 1, "yes", "no")), [], "y", "outcome must be numeric"),
    (lambda f: f.assign(y=f["y"].astype(float).where(f.index != 5)), [], "y", "missing or infinite"),
    (lambda f: f.assign(arm="ctl"), [], "arm", "at least two values"),
    (lambda f: f, ["--control", "none"], "arm", "control value 'none' does not occur"),
    (lambda f: f[(f["arm"] != "b") | (f.index % 5 == 0)], [], "arm", "each arm needs at least 100"),
    (lambda f: f.assign(y=np.where(f["arm"] == "a", 0, f["y"])), [], "y", "arm a has 0 conversions"),
    (lambda f: f.assign(x1=np.nan), [], "x1", "only missing values"),
    (lambda f: f.assign(user_id=f["user_id"] % 800), [], "user_id", "duplicated value"),
    (lambda f: f.assign(arm=f["arm"].where(f.index != 3)), [], "arm", "missing value"),
    (lambda f: f, ["--expected-split", "ctl=1,a=1"], "--expected-split", "a share for every arm"),
    (lambda f: f, ["--categorical", "spend"], "spend", "named by --categorical but is not a feature"),
]


@pytest.mark.parametrize(("mutate", "extra", "column", "rule"), CASES)
def test_every_validation_error_names_the_column_and_writes_nothing(tmp_path, mutate, extra, column, rule):
    path = write(mutate(experiment()).reset_index(drop=True), tmp_path)
    args = train_args(path, tmp_path / "models", *extra)
    if "--treatment" in extra:  # the case replaces the default --treatment
        i = args.index("--treatment")
        del args[i : i + 2]
    line = run_failing(args, tmp_path / "models")
    assert line.startswith(f"error: {column}: "), line
    assert rule in line


def test_continuous_outcome_needs_non_zero_values_per_arm(tmp_path):
    frame = experiment()
    frame.loc[frame["arm"] == "b", "spend"] = 0.0
    path = write(frame, tmp_path)
    args = ["train", "--data", str(path), "--treatment", "arm", "--outcome", "spend", "--control", "ctl"]
    line = run_failing([*args, "--exclude", "y", "--out", str(tmp_path / "models")], tmp_path / "models")
    assert line.startswith("error: spend: arm b has 0 non-zero outcomes")


def test_unknown_file_type_and_missing_file(tmp_path):
    out = tmp_path / "models"
    line = run_failing(train_args(tmp_path / "log.xlsx", out), out)
    assert "--data: file" in line and "does not exist" in line
    (tmp_path / "log.xlsx").write_text("x")
    assert "unknown file type" in run_failing(train_args(tmp_path / "log.xlsx", out), out)


def test_sample_ratio_mismatch_warns_or_fails(tmp_path):
    frame = experiment()
    # Drop a third of arm "a": a broken randomization, far beyond chance at this size.
    frame = frame[(frame["arm"] != "a") | (frame.index % 3 != 0)].reset_index(drop=True)
    path = write(frame, tmp_path)
    out = tmp_path / "models"
    line = run_failing(train_args(path, out, "--fail-on-srm"), out)
    assert line.startswith("error: arm: sample ratio mismatch")
    res = runner.invoke(app, train_args(path, out), env=FAST)
    assert res.exit_code == 0, res.output
    assert "warning: sample ratio mismatch" in res.output and "published" in res.output
    # The designed split, when given, is what the counts are tested against.
    res = runner.invoke(
        app, train_args(path, tmp_path / "m2", "--expected-split", "ctl=3,a=2,b=3", "--fail-on-srm"), env=FAST
    )
    assert res.exit_code == 0, res.output


def test_srm_matches_scipy_and_parses_splits():
    from scipy.stats import chisquare

    t = np.array(["c"] * 500 + ["t"] * 430)
    res = srm_check(t, ["c", "t"], None, 0.001)
    assert res.p_value == pytest.approx(chisquare([500, 430]).pvalue)
    res = srm_check(t, ["c", "t"], {"c": 5, "t": 4.3}, 0.001)
    assert res.chi2 == pytest.approx(0.0, abs=1e-9) and not res.mismatch
    assert parse_split("No E-Mail=1, Mens E-Mail=2") == {"No E-Mail": 1.0, "Mens E-Mail": 2.0}
    with pytest.raises(DataError, match="--expected-split: expected ARM=SHARE"):
        parse_split("a=1,b")


def test_id_like_numeric_feature_is_flagged(tmp_path):
    frame = pd.concat([experiment(400, seed=1)], ignore_index=True)
    path = write(frame, tmp_path)
    args = ["train", "--data", str(path), "--treatment", "arm", "--outcome", "y", "--control", "ctl"]
    res = runner.invoke(app, [*args, "--exclude", "spend", "--out", str(tmp_path / "models")], env=FAST)
    assert res.exit_code == 0, res.output
    assert "warning: user_id: every value is distinct, like a row ID" in res.output
