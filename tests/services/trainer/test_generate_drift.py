"""`uplift generate --drift RULE:SHIFT`: only the chosen group's effect changes, recorded in the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.special import expit, logit
from typer.testing import CliRunner

from services.cli import app

runner = CliRunner()


def _generate(out: Path, *extra: str) -> str:
    res = runner.invoke(app, ["generate", "--rows", "4000", "--seed", "3", "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize(
    ("drift", "group"),
    [
        ("device=mobile:-1.0", lambda u: u["device"] == "mobile"),
        ("age>=50:0", lambda u: u["age"] >= 50),
        ("loyalty_tier!=gold:0.5", lambda u: u["loyalty_tier"] != "gold"),
    ],
)
def test_only_the_group_changes_and_the_file_says_how(tmp_path: Path, drift: str, group) -> None:
    _generate(tmp_path / "plain.parquet")
    printed = _generate(tmp_path / "drift.parquet", "--drift", drift)
    plain, drifted = pd.read_parquet(tmp_path / "plain.parquet"), pd.read_parquet(tmp_path / "drift.parquet")
    g = group(plain).to_numpy()
    shift = float(drift.rpartition(":")[2])
    pd.testing.assert_frame_equal(plain[~g].reset_index(drop=True), drifted[~g].reset_index(drop=True))
    expected = plain.loc[g, "p_control"] if shift == 0 else expit(logit(plain.loc[g, "p_control"]) + shift)
    np.testing.assert_allclose(drifted.loc[g, "true_cate"], expected - plain.loc[g, "p_control"], atol=1e-12)
    # Treated group members' outcomes were redrawn from the new probability; control rows kept theirs.
    control = g & (plain["treatment"] == 0).to_numpy()
    np.testing.assert_array_equal(drifted.loc[control, "conversion"], plain.loc[control, "conversion"])
    meta = json.loads(pq.read_schema(tmp_path / "drift.parquet").metadata[b"uplift.market"])
    assert meta["drift"]["rule"] == drift.rpartition(":")[0] and meta["drift"]["shift"] == shift
    assert meta["drift"]["group_rows"] == int(g.sum()) and meta["drift"]["seed"] == 3 + 1009
    assert f"on {int(g.sum())} users (redraw seed 1012" in printed


def test_the_same_seed_gives_the_same_drifted_file(tmp_path: Path) -> None:
    _generate(tmp_path / "a.parquet", "--drift", "device=mobile:-1.0")
    _generate(tmp_path / "b.parquet", "--drift", "device=mobile:-1.0")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--drift", "device=mobile"], "--drift: expected RULE:SHIFT"),
        (["--drift", "device=mobile:much"], "--drift: the shift after ':' must be a number, got 'much'"),
        (["--drift", "device=mobile:inf"], "--drift: the shift must be finite"),
        (["--drift", "colour=red:1"], "--drift: no column 'colour'"),
        (
            ["--drift", "device=fridge:1"],
            "--drift: device has no value 'fridge'; its values: desktop, mobile, tablet",
        ),
        (["--drift", "device>mobile:1"], "--drift: device is a category; use = or != with it"),
        (["--drift", "age=old:1"], "--drift: age is numeric; 'old' is not a number"),
        (["--drift", "age>500:1"], "--drift: the rule 'age>500' selects no user"),
        (["--drift", "age~3:1"], "--drift: the rule must be column=value"),
        (
            ["--drift", "age>3:1", "--arms", "3"],
            "--drift: shifts the one treatment arm's effect; use --arms 2",
        ),
        (["--drift", "age>3:1", "--shape", "continuous"], "--drift: needs a 0/1-outcome market"),
        (["--drift", "age>3:1", "--events"], "--drift: changes a market's effect; drop it with --events"),
    ],
)
def test_a_bad_drift_is_one_line_and_exit_2(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "m.parquet"
    res = runner.invoke(app, ["generate", "--rows", "2000", "--seed", "3", "--out", str(out), *extra])
    assert res.exit_code == 2, res.output
    assert res.output.count("error:") == 1 and message in res.output, res.output
    assert not out.exists()
