"""Retrain a kept drift scenario again with the code at hand: greedy on the retrained model against the
drifted market's new oracle, over the same second half the benchmark served.

    uv run python loadtests/bench_policy.py --skip stationary,campaign --keep-drift /tmp/drift-a
    uv run python loadtests/bench_drift_retrain.py /tmp/drift-a            # this checkout's retrain rule
    git worktree add /tmp/before 3490fe6
    uv run python loadtests/bench_drift_retrain.py /tmp/drift-a --code /tmp/before   # that commit's rule

The retrain is `uplift train --data EXPERIMENT --log LOG` with the run's own options, into a copy of the
kept model folder; the figures are expected profit from the true effects (value/cost of the run's drift
setting), as in bench_policy.py. Two rules compared on one kept log differ only by the rule: the logs of
two benchmark runs differ by more.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # the policy_* helpers beside this script
from policy_drift_files import EXPERIMENT, LOG, MODELS, load_kept
from policy_server import uplift


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kept", type=Path, help="a folder written by bench_policy.py --keep-drift")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument(
        "--code",
        type=Path,
        default=Path.cwd(),
        help="the checkout whose `uplift train` retrains (default: the current folder), e.g. a git "
        "worktree of an earlier commit, to compare two rules on one log",
    )
    args = parser.parse_args()
    try:
        meta = load_kept(args.kept)
    except ValueError as exc:
        parser.error(f"kept: {exc}")
    if not (args.code / "services" / "cli.py").is_file():
        parser.error(f"--code: {args.code} is not a checkout of this project (no services/cli.py)")

    import numpy as np
    from policy_figures import compare
    from policy_scenarios import drifted_users, model_effects

    from shared.bundle import ModelBundle

    with tempfile.TemporaryDirectory(prefix="drift_retrain_") as tmp:
        models = Path(tmp) / "models"
        shutil.copytree(args.kept / MODELS, models)
        started = time.perf_counter()
        kept = args.kept.resolve()
        uplift(
            "train", "--data", str(kept / EXPERIMENT), "--log", str(kept / LOG), "--out", str(models),
            *meta["train_args"], cwd=args.code,
        )  # fmt: skip
        retrain_s = round(time.perf_counter() - started, 1)
        retrained = ModelBundle.load_current(models, use_onnx=False)
        original = ModelBundle.load_current(args.kept / MODELS, use_onnx=False)
        evaluation = json.loads((models / retrained.version / "evaluation.json").read_text())
        weight = evaluation.get("log", {}).get("experiment_weight", {})
        n = meta["users_per_stream"]
        users, change = drifted_users(n, meta["seeds"]["drift_stream"], meta["shift"], meta["shape"])
        second = users.iloc[n // 2 :]
        value, cost = meta["setting"]["value_per_conversion"], meta["setting"]["cost_per_treatment"]
        truth = second["true_cate"].to_numpy()
        nobody = np.zeros(len(second), dtype=bool)
        on_new = compare(nobody, model_effects(retrained, second), truth, value, cost)["policies"]
        on_old = compare(nobody, model_effects(original, second), truth, value, cost)["policies"]
    oracle = on_new["oracle"]["profit"]
    figures: dict[str, Any] = {
        "kept": str(args.kept),
        "change": change,
        "retrain_s": retrain_s,
        "experiment_weight": weight.get("chosen"),
        "experiment_weight_reason": weight.get("reason"),
        "oracle_profit": round(oracle, 1),
        "greedy_on_retrained_profit": round(on_new["greedy"]["profit"], 1),
        "greedy_on_retrained_over_oracle": round(on_new["greedy"]["profit"] / oracle, 4),
        "greedy_on_original_profit": round(on_old["greedy"]["profit"], 1),
        "benchmark_served_over_oracle": meta.get("second_half_served_over_oracle"),
    }
    print(f"retrain ({retrain_s} s): {figures['experiment_weight_reason']}")
    print(
        f"second half: greedy on the retrained model {figures['greedy_on_retrained_profit']:,.1f} = "
        f"{on_new['greedy']['profit'] / oracle:.3f} of the new oracle ({oracle:,.1f}); "
        f"greedy on the original {figures['greedy_on_original_profit']:,.1f}"
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
