"""`uplift log export`: the log as Parquet, refusing to overwrite without --force."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.policy.commands import default_log_url
from shared.assignment_log import make_row, open_log

runner = CliRunner()


def _log_with_rows(url: str, n: int) -> None:
    log = open_log(url)
    log.record(
        make_row(
            assignment_id=f"a{i}",
            user_id=f"u{i}",
            features={"x": i},
            arm="treatment",
            propensity=0.5,
            segment="s",
            model_version="v1",
            policy="thompson",
            assigned_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for i in range(n)
    )
    log.reward("a1", 1.0)
    log.close()


def test_export_then_refuse_existing_path_unless_force(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'assignments.db'}"
    _log_with_rows(url, 3)
    out = tmp_path / "export.parquet"
    res = runner.invoke(app, ["log", "export", "--out", str(out), "--log", url])
    assert res.exit_code == 0, res.output
    assert "wrote 3 assignments" in res.output
    frame = pq.read_table(out).to_pandas()
    assert len(frame) == 3 and frame["reward"].notna().sum() == 1

    _log_with_rows(f"sqlite:///{tmp_path / 'other.db'}", 5)
    again = runner.invoke(
        app, ["log", "export", "--out", str(out), "--log", f"sqlite:///{tmp_path / 'other.db'}"]
    )
    assert again.exit_code == 2
    assert again.output.strip().splitlines() == [f"error: --out: {out} exists; pass --force to replace it"]
    assert len(pq.read_table(out)) == 3  # untouched

    forced = runner.invoke(
        app, ["log", "export", "--out", str(out), "--log", f"sqlite:///{tmp_path / 'other.db'}", "--force"]
    )
    assert forced.exit_code == 0, forced.output
    assert len(pq.read_table(out)) == 5


def test_log_url_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_LOG_URL", "")
    monkeypatch.setenv("UPLIFT_DATA_DIR", str(tmp_path / "data"))
    assert default_log_url() == f"sqlite:///{tmp_path / 'data' / 'assignments.db'}"
    _log_with_rows(default_log_url(), 2)
    url = f"sqlite:///{tmp_path / 'env.db'}"
    _log_with_rows(url, 4)
    monkeypatch.setenv("UPLIFT_LOG_URL", url)
    res = runner.invoke(app, ["log", "export", "--out", str(tmp_path / "e.parquet")])
    assert res.exit_code == 0, res.output
    assert len(pq.read_table(tmp_path / "e.parquet")) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--log", "redis://x"],
            "error: --log: url: must start with sqlite:/// or postgresql://, got 'redis'",
        ),
        (["--log", "sqlite:///{tmp}/none.db"], "error: --log: no assignment log at {tmp}/none.db"),
        (
            ["--out", "{tmp}/no/such/dir/x.parquet"],
            "error: --out: parent folder {tmp}/no/such/dir does not exist",
        ),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    argv = ["log", "export", "--out", str(tmp_path / "x.parquet"), "--log", f"sqlite:///{tmp_path}/none.db"]
    for flag, value in zip(args[::2], args[1::2], strict=True):
        argv[argv.index(flag) + 1] = value.format(tmp=tmp_path)
    res = runner.invoke(app, argv)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(tmp=tmp_path))
