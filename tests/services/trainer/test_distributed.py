"""`uplift train --dask-scheduler` against a real scheduler and two worker processes.

40k users rather than the issue's 200k: on the shared 2-core test machine a 200k run takes minutes per
model; the comparison below is the same at any size (the README's 200k figure comes from the benchmark).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.trainer.dask_data import with_split
from services.trainer.data import split_mask
from shared.artifacts import resolve_current
from tests.services.trainer.dask_cluster import Cluster, running_cluster

ROWS = 40_000
ENV = {
    "UPLIFT_MAX_TREES": "80",
    "UPLIFT_BOOTSTRAP_RESAMPLES": "50",
    "UPLIFT_EFFECT_MEMBERS": "2",
    "UPLIFT_N_JOBS": "1",
    "UPLIFT_HOLDOUT_SAMPLE_ROWS": "500",
}
TRAIN = [
    "--treatment",
    "treatment",
    "--outcome",
    "conversion",
    "--id-column",
    "user_id",
    "--exclude",
    "revenue",
]


def uplift(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], check=False, capture_output=True, text=True,
        timeout=timeout,
        env={**os.environ, **ENV, **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("market") / "users.parquet"
    res = uplift("generate", "--rows", str(ROWS), "--seed", "5", "--out", str(path))
    assert res.returncode == 0, res.stderr
    # Four files in a folder: the cluster reads partitions, not one table.
    folder = path.parent / "parts"
    folder.mkdir()
    users = pd.read_parquet(path)
    for k, part in enumerate(np.array_split(np.arange(len(users)), 4)):
        users.iloc[part].to_parquet(folder / f"part-{k}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def single_machine(market: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The in-memory trainer on the same rows in one file (it reads one file)."""
    out = tmp_path_factory.mktemp("single")
    res = uplift(
        "train", "--data", str(market.parent / "users.parquet"), *TRAIN, "--learner", "dr", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def _evaluation(models: Path) -> tuple[dict, dict]:
    _, manifest = resolve_current(models)
    return manifest.model_dump(), json.loads((models / manifest.version / "evaluation.json").read_text())


def test_split_on_partitions_is_the_single_machine_split() -> None:
    import dask.dataframe as dd

    frame = pd.DataFrame({"x": np.arange(1003)})
    parts = dd.from_pandas(frame, npartitions=4)
    split, sizes = with_split(parts, 0.3, seed=11)
    got = split.compute(scheduler="sync")["__test"].to_numpy()
    assert sizes.sum() == 1003 and len(sizes) == 4
    np.testing.assert_array_equal(got, split_mask(1003, 0.3, 11))


def test_dask_training_matches_the_single_machine_model(
    market: Path, cluster: Cluster, single_machine: Path, tmp_path: Path
) -> None:
    on_dask, single = tmp_path / "dask", single_machine
    res = uplift("train", "--data", str(market), *TRAIN, "--learner", "dr", "--out", str(on_dask),
                 "--dask-scheduler", cluster.address)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    dask_manifest, dask_eval = _evaluation(on_dask)
    one_manifest, one_eval = _evaluation(single)
    # The same held-out users, the same served form (outcome boosters per arm + one DR effect booster).
    assert dask_manifest["data"]["test_rows"] == one_manifest["data"]["test_rows"]
    assert dask_manifest["data"]["train_rows"] == one_manifest["data"]["train_rows"]
    assert dask_manifest["uplift_model"]["booster_files"] == one_manifest["uplift_model"]["booster_files"]
    assert dask_manifest["uplift_model"]["learner"] == "dr"
    q_dask = dask_eval["arms"]["1"]["compare"]["chosen"]["qini"]
    q_one = one_eval["arms"]["1"]["compare"]["chosen"]["qini"]
    assert abs(q_dask["value"] - q_one["value"]) <= q_one["sd"], (q_dask, q_one)
    assert q_dask["value"] > 3 * q_dask["sd"]  # a real effect was learned, not a tie at zero
    training = dask_eval["training"]
    assert training["where"] == "dask" and training["workers"] == 2 and training["partitions"] >= 2
    assert training["fit_wall_seconds"] > 0


def test_dask_scoring_equals_uplift_score(
    market: Path, cluster: Cluster, single_machine: Path, tmp_path: Path
) -> None:
    whole, parts = tmp_path / "whole.parquet", tmp_path / "parts"
    res = uplift("score", "--data", str(market.parent / "users.parquet"), "--models", str(single_machine),
                 "--out", str(whole))  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    res = uplift("score", "--data", str(market), "--models", str(single_machine), "--out", str(parts),
                 "--dask-scheduler", cluster.address)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    files = sorted(parts.glob("part-*.parquet"))
    assert len(files) == 4
    expected = pd.read_parquet(whole)
    # Parts sorted by name are the input rows in input order; the ID column is there to join on too.
    got = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    assert list(got.columns) == list(expected.columns) and len(got) == ROWS
    np.testing.assert_array_equal(got["user_id"].to_numpy(), expected["user_id"].to_numpy())
    np.testing.assert_allclose(got["cate_1"].to_numpy(), expected["cate_1"].to_numpy(), rtol=0, atol=1e-6)
    assert (got["segment"].astype(str) == expected["segment"].astype(str)).all()
    assert (got["chosen_arm"].astype(str) == expected["chosen_arm"].astype(str)).all()
    assert expected["cate_1"].std() > 0.01  # a model that scores something, not a constant


# A refused port answers at once; a blackholed address (TEST-NET-1, RFC 5737: never routed) may answer
# nothing, so only the connect timeout stops it. The 30 s run from the "connect" step to the exit: the
# interpreter's start-up before it is not the scheduler's doing (on this shared machine under load it
# alone took 35 s, user time 9 s).
@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "tcp://192.0.2.1:8786"])
def test_unreachable_scheduler_fails_in_30_s_with_one_line(
    market: Path, tmp_path: Path, address: str
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "train", "--data", str(market), *TRAIN, "--out", str(tmp_path / "m"),
         "--dask-scheduler", address],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, **ENV},
    )  # fmt: skip
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if "connect to the Dask scheduler" in line:
            break
    started = time.monotonic()
    rest = proc.stderr.read()
    code = proc.wait(timeout=120)
    assert time.monotonic() - started < 30, "".join(seen) + rest
    stderr = "".join(seen) + rest
    assert code == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: --dask-scheduler: cannot reach"), stderr
    assert "Traceback" not in stderr and not (tmp_path / "m").exists()


def test_a_worker_killed_mid_training_recovers_or_publishes_nothing(market: Path, tmp_path: Path) -> None:
    out = tmp_path / "models"
    with running_cluster(tmp_path / "doomed") as doomed:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "train", "--data", str(market), *TRAIN, "--learner", "t",
             "--out", str(out), "--dask-scheduler", doomed.address],
            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, **ENV, "UPLIFT_MAX_TREES": "400"},
        )  # fmt: skip
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "on the cluster" in line:
                break
        time.sleep(1.0)
        doomed.kill_worker(0)
        stdout, rest = proc.communicate(timeout=300)
    stderr = "".join(seen) + rest
    versions = [p for p in out.glob("v*")] if out.exists() else []
    if proc.returncode == 0:
        # Recovered on the surviving worker: a complete model was published.
        _, manifest = resolve_current(out)
        assert (out / manifest.version / "outcome_arm1.ubj").exists()
    else:
        assert proc.returncode == 2, stderr[-3000:]
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith("error: --dask-scheduler: training failed"), stderr[
            -3000:
        ]
        assert "nothing published" in errors[0]
        assert versions == []
