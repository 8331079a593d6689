"""The served policy against the oracle, greedy-on-model, treat-all, treat-none and random, through a
real API: fresh users of a seeded synthetic market stream one per request through /optimize, and every
assignment gets /feedback with a reward drawn from the user's true conversion probability under the
arm it got. Figures are expected values from the true probabilities, not the realized draws.

    uv run python loadtests/bench_policy.py                      # 100,000 users per run; writes loadtests/results/policy.json
    uv run python loadtests/bench_policy.py --quick --out /tmp/policy.json   # a small run (the test's)
    uv run python loadtests/bench_policy.py --shape smooth      # another market (loadtests/results/policy_smooth.json)
    uv run python loadtests/bench_policy.py --skip stationary,campaign --keep-drift /tmp/kept   # then bench_drift_retrain.py

Scenarios: three value/cost settings chosen from the market's true effect quantiles (the oracle treats
8-40% of users), a campaign whose budget binds (when the API has campaigns), a drift (one group's
effect changes after training; the log is exported and the model retrained halfway), and off-policy
estimates from each run's own log (when the API writes one). Exit 1 when a must-show figure misses.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))  # the policy_* helpers beside this script
from policy_figures import VALUE_PER_CONVERSION, choose_settings
from policy_report import checks, print_report
from policy_server import uplift

# The markets with three settings in the band: 0/1 conversions (the rewards and the drift's logit
# shift need them) and more than 9% of users helped (rare helps ~2.8%, null nobody; choose_settings).
POLICY_SHAPES = ("hard", "smooth")

# pandas, XGBoost and the scenarios are imported once the options are checked, so a bad option
# answers in a fraction of a second.

DRIFT_SHIFT = -0.8  # the group's new treatment logit shift: recommendations now put them off


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--users", type=int, default=None, help="users per stream (default 100000; quick 2000)"
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="training market seed; streams use seed+1, seed+2"
    )
    parser.add_argument(
        "--train-rows", type=int, default=None, help="training users (default 200000; quick 12000)"
    )
    parser.add_argument(
        "--shape",
        default="hard",
        choices=POLICY_SHAPES,
        help="the synthetic market (`uplift generate --shape`; default hard)",
    )
    parser.add_argument(
        "--models", type=Path, default=None, help="models folder to serve (default: train one)"
    )
    parser.add_argument(
        "--learner", default=None, help="uplift train --learner (default: its default selection)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="keep-alive client connections")
    parser.add_argument(
        "--exploration",
        type=float,
        default=0.0,
        help="the policy's and the campaign's exploration floor (share of uniform draws; default 0)",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=None, help="bootstrap resamples of the OPE intervals"
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated scenarios not to run: stationary, campaign, drift"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small run: 2000 users, 12k training rows, T-learner"
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where the run's models, logs and stores live (default: /dev/shm, so a shared disk's fsync "
        "stalls do not pace the stream; removed at the end)",
    )
    parser.add_argument("--out", type=Path, default=Path("loadtests/results/policy.json"))
    parser.add_argument(
        "--keep-drift",
        type=Path,
        default=None,
        help="a new folder to keep the drift scenario's experiment, log export and original model in, "
        "for `loadtests/bench_drift_retrain.py` to retrain from again",
    )
    args = parser.parse_args()
    args.users = args.users or (2000 if args.quick else 100_000)
    args.train_rows = args.train_rows or (12_000 if args.quick else 200_000)
    args.bootstrap = args.bootstrap or (200 if args.quick else 1000)
    if args.quick and args.learner is None:
        args.learner = "t"
    for name in ("users", "train_rows", "concurrency", "bootstrap"):
        if getattr(args, name) < (100 if name == "users" else 1):
            parser.error(f"--{name.replace('_', '-')}: too small ({getattr(args, name)})")
    if args.seed < 0:
        parser.error(f"--seed: must be >= 0, got {args.seed}")
    if not 0.0 <= args.exploration <= 1.0:
        parser.error(f"--exploration: must be a share in [0, 1], got {args.exploration}")
    if args.models is not None and not args.models.is_dir():
        parser.error(f"--models: {args.models} is not a folder")
    if args.keep_drift is not None and args.keep_drift.exists():
        parser.error(f"--keep-drift: {args.keep_drift} exists; name a new folder")
    unknown = {s for s in args.skip.split(",") if s} - {"stationary", "campaign", "drift"}
    if unknown:
        parser.error(f"--skip: unknown scenario {sorted(unknown)[0]!r} (stationary, campaign, drift)")
    return args


def _train(args: argparse.Namespace, work: Path) -> tuple[Path, Path, list[str]]:
    """The training experiment (`uplift generate`) and the model trained on it (unless --models)."""
    experiment = work / "experiment.parquet"
    uplift(
        "generate", "--rows", str(args.train_rows), "--seed", str(args.seed), "--shape", args.shape,
        "--out", str(experiment),
    )  # fmt: skip
    train_args = ["--treatment", "treatment", "--outcome", "conversion", "--control", "0"]
    train_args += ["--exclude", "user_id,revenue", "--seed", str(args.seed)]
    if args.learner:
        train_args += ["--learner", args.learner]
    if args.models is not None:
        return args.models, experiment, train_args
    models = work / "models"
    start = time.perf_counter()
    print(f"training on {args.train_rows} users (seed {args.seed}) ...", flush=True)
    uplift("train", "--data", str(experiment), "--out", str(models), *train_args)
    print(f"  trained in {time.perf_counter() - start:.0f} s", flush=True)
    return models, experiment, train_args


def main() -> int:
    return run(_args())


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from policy_drift_files import keep_drift
    from policy_scenarios import campaign, drift, drifted_users, fresh_users, make_stream, stationary

    from shared.bundle import ModelBundle

    skip = set(args.skip.split(","))
    started = time.time()
    report: dict[str, Any] = {
        "command": " ".join(["uv run python", *sys.argv]),
        "shape": args.shape,
        "seeds": {"training": args.seed, "stream": args.seed + 1, "drift_stream": args.seed + 2},
        "users_per_stream": args.users,
        "concurrency": args.concurrency,
        "data_root": str(args.data_root),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "waits": {},
    }
    print(report["command"], "| market", args.shape, "| seeds", report["seeds"], flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_policy_", dir=args.data_root) as tmp:
        work = Path(tmp)
        models, experiment, train_args = _train(args, work)
        bundle = ModelBundle.load_current(models, use_onnx=False)
        truth = pd.read_parquet(experiment, columns=["true_cate"])["true_cate"].to_numpy()
        settings = choose_settings(truth, VALUE_PER_CONVERSION)
        if args.exploration:
            settings = [{**s, "exploration": args.exploration} for s in settings]
        report.update(
            model_version=bundle.version,
            learner=bundle.manifest.uplift_model.learner,
            settings=settings,
        )
        stream = make_stream(
            fresh_users(args.users, args.seed + 1, args.shape), bundle.schema.names, args.seed + 1, "s"
        )
        ope = {"seed": args.seed, "n_bootstrap": args.bootstrap}
        report["stationary"] = []
        for k, setting in enumerate([] if "stationary" in skip else settings):
            print(
                f"setting {k + 1}: value {setting['value_per_conversion']}, cost {setting['cost_per_treatment']}"
            )
            figures, _, why = stationary(k, setting, stream, models, work, args.concurrency, ope)
            report["stationary"].append(figures)
            if why:
                report["waits"]["off_policy"] = why
        if "campaign" in skip:
            report["waits"]["campaign"] = "skipped (--skip campaign)"
        else:
            report["campaign"] = campaign(settings[1], stream, models, work, args.concurrency)
            if "skipped" in report["campaign"]:
                report["waits"]["campaign"] = report["campaign"]["skipped"]
        if "drift" in skip:
            report["waits"]["drift"] = "skipped (--skip drift)"
        else:
            users, rule = drifted_users(args.users, args.seed + 2, DRIFT_SHIFT, args.shape)
            drift_stream = make_stream(users, bundle.schema.names, args.seed + 2, "d")
            report["drift"] = {
                "change": rule,
                **drift(settings[1], drift_stream, models, experiment, work, args.concurrency, train_args),
            }
            if "retrain_skipped" in report["drift"]:
                report["waits"]["drift_retrain"] = report["drift"]["retrain_skipped"]
            elif args.keep_drift is not None:
                keep_drift(
                    args.keep_drift, work, models, experiment, train_args, settings[1], DRIFT_SHIFT, report
                )
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["wall_s"] = round(time.time() - started, 1)
    report["checks"] = checks(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=_plain) + "\n")
    print_report(report)
    print(f"wrote {args.out}")
    return 0 if all(c["met"] for c in report["checks"].values() if c["met"] is not None) else 1


def _plain(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON: {type(obj).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())
