"""The drift scenario's inputs kept on disk (`bench_policy.py --keep-drift DIR`), so a retrain rule can be
judged again on the very same log (`bench_drift_retrain.py DIR`): the logs of two runs differ (eight
connections interleave the stream), and the differences between logs are larger than those between rules.

DIR holds `experiment.parquet` (the training experiment), `drift.export.parquet` (the first half's log,
as `uplift log export` wrote it), `models/` (the original model, as served in the first half) and
`drift.json` (the market, seeds, stream size, the value/cost setting, the train options and the run's
own figures).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

EXPERIMENT = "experiment.parquet"
LOG = "drift.export.parquet"
MODELS = "models"
META = "drift.json"


def keep_drift(
    dest: Path,
    work: Path,
    models: Path,
    experiment: Path,
    train_args: list[str],
    setting: dict[str, float],
    shift: float,
    report: dict[str, Any],
) -> None:
    """Copy the drift scenario's inputs from the run's ``work`` folder to the new folder ``dest``."""
    dest.mkdir(parents=True)
    shutil.copy2(experiment, dest / EXPERIMENT)
    shutil.copy2(work / LOG, dest / LOG)
    shutil.copytree(models, dest / MODELS)
    meta = {
        "shape": report["shape"],
        "seeds": report["seeds"],
        "users_per_stream": report["users_per_stream"],
        "setting": setting,
        "shift": shift,
        "train_args": train_args,
        "drift": {k: v for k, v in report["drift"].items() if k in ("change", "experiment_weight_reason")},
        "second_half_served_over_oracle": report["drift"]["second_half"]["served_over_oracle"],
    }
    (dest / META).write_text(json.dumps(meta, indent=2) + "\n")
    print(f"kept the drift scenario's experiment, log and model in {dest}")


def load_kept(folder: Path) -> dict[str, Any]:
    """The kept run's ``drift.json``; ValueError naming the missing file when ``folder`` is not one."""
    for name in (EXPERIMENT, LOG, MODELS, META):
        if not (folder / name).exists():
            raise ValueError(f"{folder}: no {name} (a folder written by bench_policy.py --keep-drift)")
    meta: dict[str, Any] = json.loads((folder / META).read_text())
    return meta
