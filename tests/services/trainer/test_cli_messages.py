"""CLI errors name the option the user got wrong, and say what to do about it."""

import pandas as pd
from typer.testing import CliRunner

from services.cli import app
from shared.artifacts import resolve_current

runner = CliRunner()


def _one_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


def _users(models, tmp_path, n=30):
    version_dir, manifest = resolve_current(models)
    frame = pd.read_parquet(version_dir / "holdout_sample.parquet").head(n)
    return frame[manifest.features.names], manifest


def test_score_out_with_an_unknown_suffix_blames_out(trained_models, tmp_path):
    users, _ = _users(trained_models, tmp_path)
    data = tmp_path / "users.csv"
    users.to_csv(data, index=False)
    args = ["score", "--data", str(data), "--out", str(tmp_path / "s.json"), "--models", str(trained_models)]
    line = _one_line(runner.invoke(app, args))
    assert line.startswith("error: --out: unknown file type 's.json'")


def test_text_in_a_numeric_column_at_scoring_says_what_to_do(trained_models, tmp_path):
    users, manifest = _users(trained_models, tmp_path)
    numeric = next(f.name for f in manifest.features.features if f.kind == "numeric")
    users = users.astype({numeric: object})
    users.loc[users.index[5], numeric] = "unknown"
    data = tmp_path / "users.csv"
    users.to_csv(data, index=False)
    args = ["score", "--data", str(data), "--out", str(tmp_path / "s.csv"), "--models", str(trained_models)]
    line = _one_line(runner.invoke(app, args))
    assert line.startswith(f"error: {numeric}: a value does not parse")
    assert "fix or blank the values" in line and "retrain" in line
    assert "name it with --categorical" not in line  # score has no --categorical


def test_train_with_too_few_rows_blames_rows(tmp_path):
    args = ["train", "--rows", "50", "--out", str(tmp_path / "m"), "--learner", "t"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    line = res.stderr.strip().splitlines()[-1]  # after the progress lines
    assert line.startswith("error: --rows: 50 users are too few (")
    assert "each arm needs at least" in line


def test_list_options_say_they_take_commas():
    text = runner.invoke(app, ["train", "--help"], terminal_width=200).output
    flat = " ".join(text.replace("│", " ").split())
    for option in ("feature columns", "columns never used", "treat as categories"):
        assert option in flat
    assert flat.count("comma-separated or repeated") >= 3


def test_serve_and_up_take_models(tmp_path):
    for command in ("serve", "up"):
        assert "--models" in runner.invoke(app, [command, "--help"], terminal_width=200).output
    missing = tmp_path / "nothing-here"
    line = _one_line(runner.invoke(app, ["serve", "--models", str(missing)]))
    assert line.startswith("error: --models:")
