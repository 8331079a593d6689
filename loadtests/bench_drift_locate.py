"""Benchmark: how often does the retrain's drift locating (services/trainer/drift_regions.py) find a change,
and how often does it find one that is not there?

    uv run python loadtests/bench_drift_locate.py                 # 20 seeds per case, writes loadtests/results/drift_locate.json
    uv run python loadtests/bench_drift_locate.py --seeds 5 --out /tmp/drift_locate.json

Each seed makes a small market of known truth: a randomized experiment (16,000 users, P(treatment) 0.5,
effect +0.1 on a 0.3 conversion) and a log of 6,000 later users with the logging policy's propensities
(clipped to [0.05, 0.95] as `uplift train --log` clips them; rows outside it are marked unsupported).
A group, mobile users under 40 (a quarter), is what may change. Cases:

- unchanged: nothing moved, random logging policy (P(treatment) uniform in 0.2-0.8);
- near-greedy: nothing moved, logged by a policy that treats the young almost surely (0.99 / 0.01);
- baseline: the group converts 0.2 more in the log whatever the arm (its effect holds);
- changed: the group's effect turned to -0.2, random logging policy;
- changed, near-greedy: the same, the group logged near-greedily (0.99 under 30, 0.01 over).

Printed per case: seeds in which some region was located (its experiment rows down-weighted), and seeds
in which the global weight fell below 1. The first three should be rare (false alarms), the last two
common. The candidates' T-learners are small (60 trees of depth 3) so the run takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from services.trainer.experiment_weight import choose_experiment_weight
from shared.estimators import TLearner

RESULTS = Path(__file__).parent / "results" / "drift_locate.json"
CASES = ("unchanged", "near-greedy", "baseline", "changed", "changed, near-greedy")
NAMES = ["device=mobile", "age"]
EXPERIMENT_ROWS, LOG_ROWS = 16_000, 6_000
FLOOR = 0.05


def _features(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = np.c_[rng.random(n) < 0.5, rng.uniform(20, 60, n)].astype(np.float32)
    return X, (X[:, 0] > 0.5) & (X[:, 1] < 40)


def _fit_t(X: np.ndarray, t: np.ndarray, y: np.ndarray, e: np.ndarray, w: np.ndarray) -> TLearner:
    params = {"max_depth": 3, "learning_rate": 0.2, "min_child_weight": 5.0, "max_bin": 32}
    return TLearner(params=params, n_estimators=60, n_jobs=1, random_state=0).fit(
        X, t, y, propensity=e, sample_weight=w
    )


def market(case: str, seed: int) -> tuple[np.ndarray, ...]:
    """X, t, y, e (clipped), from_log, supported: the experiment's rows first, then the log's."""
    rng = np.random.default_rng(seed)
    Xe, _ = _features(EXPERIMENT_ROWS, rng)
    te = (rng.random(EXPERIMENT_ROWS) < 0.5).astype(int)
    ye = (rng.random(EXPERIMENT_ROWS) < 0.3 + 0.1 * te).astype(float)
    Xl, group = _features(LOG_ROWS, rng)
    p = rng.uniform(0.2, 0.8, LOG_ROWS)
    young = Xl[:, 1] < (35 if case == "near-greedy" else 30)
    if case == "near-greedy":
        p = np.where(young, 0.99, 0.01)
    elif case == "changed, near-greedy":
        p = np.where(group, np.where(young, 0.99, 0.01), p)
    tl = (rng.random(LOG_ROWS) < p).astype(int)
    effect = np.where(group, -0.2, 0.1) if case.startswith("changed") else 0.1
    base = 0.3 + (0.2 * group if case == "baseline" else 0.0)
    yl = (rng.random(LOG_ROWS) < np.clip(base + effect * tl, 0.01, 0.99)).astype(float)
    X = np.concatenate([Xe, Xl])
    t = np.concatenate([te, tl])
    y = np.concatenate([ye, yl])
    e = np.concatenate([np.full(EXPERIMENT_ROWS, 0.5), np.clip(p, FLOOR, 1 - FLOOR)])
    from_log = np.r_[np.zeros(EXPERIMENT_ROWS, bool), np.ones(LOG_ROWS, bool)]
    supported = np.r_[np.ones(EXPERIMENT_ROWS, bool), (p > FLOOR) & (p < 1 - FLOOR)]
    return X, t, y, e, from_log, supported


def run_case(case: str, seeds: int) -> dict[str, Any]:
    located, lowered, rules = 0, 0, []
    for seed in range(seeds):
        X, t, y, e, from_log, supported = market(case, seed)
        choice = choose_experiment_weight(
            X, t, y, e, from_log, 0, _fit_t, seed=seed, names=NAMES, supported=supported
        )
        located += choice.by_region
        lowered += choice.chosen < 1.0
        if choice.by_region and choice.regions is not None:
            rules.append("; ".join(f"{r} at {w:g}" for r, w in choice.regions.changed_rules))
    return {"seeds": seeds, "located": located, "global_weight_below_1": lowered, "located_rules": rules}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20, help="markets per case (default 20)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON report")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds: must be at least 1, got {args.seeds}")
    started = time.perf_counter()
    report: dict[str, Any] = {"command": "uv run python loadtests/bench_drift_locate.py", "cases": {}}
    for case in CASES:
        figures = run_case(case, args.seeds)
        report["cases"][case] = figures
        print(
            f"{case:22s} located {figures['located']:3d} / {args.seeds}   "
            f"global weight < 1 in {figures['global_weight_below_1']:3d} / {args.seeds}",
            flush=True,
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out} ({report['seconds']} s)")


if __name__ == "__main__":
    main()
