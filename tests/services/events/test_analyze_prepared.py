"""`uplift analyze` on a table written by `uplift prepare` adds the funnel and the daily trend."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app
from tests.shared.events.test_funnel import TABLE

runner = CliRunner()


def _analyze(path, out, *extra):
    res = runner.invoke(
        app,
        [
            "analyze",
            "--data",
            str(path),
            "--variant",
            "variant",
            "--metric",
            "purchased",
            "--out",
            str(out),
            *extra,
        ],
    )
    assert res.exit_code == 0, res.output
    return json.loads(out.with_name(out.name + ".json").read_text()), out.with_name(
        out.name + ".md"
    ).read_text()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_funnel_and_daily_sections(tmp_path, suffix):
    path = tmp_path / f"table{suffix}"
    frame = TABLE.assign(user_id=[f"u{i}" for i in range(len(TABLE))])
    frame.to_parquet(path, index=False) if suffix == ".parquet" else frame.to_csv(path, index=False)
    report, md = _analyze(path, tmp_path / "rep", "--control", "A")
    rows = {(r["step"], r["variant"]): r for r in report["funnel"]["rows"]}
    assert [rows[(s, "A")]["reached"] for s in report["funnel"]["steps"]] == [4, 3, 2, 1]
    assert [rows[(s, "B")]["reached"] for s in report["funnel"]["steps"]] == [3, 2, 2, 2]
    assert report["daily"]["control"] == "A" and len(report["daily"]["points"]) == 4
    assert "## Funnel (view → click → cart → purchase)" in md and "## Daily purchased per variant" in md


def test_plain_experiment_file_has_null_sections(tmp_path):
    path = tmp_path / "plain.csv"
    pd.DataFrame({"variant": ["A", "B"] * 50, "purchased": [0, 1, 1, 0] * 25}).to_csv(path, index=False)
    report, md = _analyze(path, tmp_path / "rep", "--control", "A")
    assert report["funnel"] is None and report["daily"] is None and "## Funnel" not in md
