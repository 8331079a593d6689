"""The README's quick start, run as written: the /predict example answers with an effect interval."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.services.api.conftest import free_port, running

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(heading: str) -> str:
    text = README.read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_set_up_commands_are_the_two_the_ci_runs() -> None:
    lines = [
        line.split("#")[0].strip() for line in _block("Set-up (fresh machine, two commands)").splitlines()
    ]
    assert lines == ["bash .ci/uv run --frozen uplift train --rows 200000 --seed 7", "bash .ci/run"]


def test_quick_start_predict_example_runs_against_a_real_server(tmp_path: Path) -> None:
    # The set-up command trains on 200k users; a smaller market of the same generator stands in.
    models = tmp_path / "models"
    subprocess.run(
        [sys.executable, "-m", "services.cli", "train", "--rows", "20000", "--seed", "7", "--out", str(models),
         "--learner", "dr"],
        check=True, capture_output=True, env={**os.environ, "UPLIFT_RANKER_TREES": "5"},
    )  # fmt: skip
    block = _block("Quick start")
    curl = re.search(r"^(curl .*?)$\n(?!  )", block, re.S | re.M).group(1)  # type: ignore[union-attr]
    argv = shlex.split(curl.replace("\n", " "))
    port = free_port()
    argv = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in argv]
    serve = [sys.executable, "-m", "services.cli", "serve", "--models", str(models), "--port", str(port)]
    with running(serve, {}, f"http://127.0.0.1:{port}/ready", timeout_s=90):
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    pred = json.loads(out)["predictions"][0]
    low, high = pred["effect_intervals"]["1"]
    assert low <= pred["cate"] <= high and pred["segment"] in ("Persuadable", "Neutral", "Sleeping Dog")
