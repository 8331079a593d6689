"""Sequential-stopping simulation: A/A and A/B conversion streams, checked after every batch of users.

Measures, for the always-valid mSPRT (frequentist) and the Bayesian expected-loss rule of
``shared.stats.sequential``: the false-positive rate on A/A streams (with its Monte Carlo standard
error, against alpha), the power on A/B streams, and the average users per arm used against the
fixed-horizon test planned for 80% power (``shared.stats.power``), on streams whose true effect is
the planned one and twice it. Naive peeking (a z-test at every
look) is measured too, to show what the sequential rule protects against.

    uv run --frozen python loadtests/bench_sequential.py --runs 4000 --seed 7
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from shared.stats.power import sample_size_proportions
from shared.stats.sequential import beta_pair_loss, first_crossing, msprt_log_lr

RESULTS = Path(__file__).with_name("results") / "sequential.json"
_CHUNK = 500  # runs per chunk: bounds the (runs × looks × quadrature nodes) arrays to ~150 MB


def _streams(
    rng: np.random.Generator, runs: int, looks: int, batch: int, p_c: float, p_t: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative conversions per arm at each look (runs × looks) and users per arm at each look."""
    conv_c = np.cumsum(rng.binomial(batch, p_c, size=(runs, looks)), axis=1)
    conv_t = np.cumsum(rng.binomial(batch, p_t, size=(runs, looks)), axis=1)
    return conv_c, conv_t, batch * np.arange(1, looks + 1)


def _used(stop: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Users per arm consumed: up to the stopping look, or the whole horizon when the rule never stopped."""
    return np.where(stop >= 0, n[np.maximum(stop, 0)], n[-1])


def _chunk(rng: np.random.Generator, runs: int, cfg: dict[str, Any], p_t: float) -> dict[str, np.ndarray]:
    conv_c, conv_t, n = _streams(rng, runs, cfg["looks"], cfg["batch"], cfg["baseline"], p_t)
    rate_c, rate_t = conv_c / n, conv_t / n
    diff = rate_t - rate_c
    se2 = (rate_c * (1 - rate_c) + rate_t * (1 - rate_t)) / n
    msprt_hit = msprt_log_lr(diff, se2, cfg["tau"]) >= math.log(1 / cfg["alpha"])
    pooled = (conv_c + conv_t) / (2 * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(pooled > 0, diff / np.sqrt(pooled * (1 - pooled) * 2 / n), 0.0)
    naive_hit = np.abs(z) > stats.norm.isf(cfg["alpha"] / 2)
    loss_c, loss_t = beta_pair_loss(conv_c, n, conv_t, n)
    bayes_hit = np.minimum(loss_c, loss_t) < cfg["loss_threshold"]
    m_stop, b_stop = first_crossing(msprt_hit), first_crossing(bayes_hit)
    rows = np.arange(runs)
    fixed = cfg["fixed_look"]
    return {
        "msprt_reject": m_stop >= 0,
        "msprt_positive": (m_stop >= 0) & (diff[rows, np.maximum(m_stop, 0)] > 0),
        "msprt_n": _used(m_stop, n),
        "naive_reject": naive_hit.any(axis=1),
        "fixed_reject": naive_hit[:, fixed],
        "fixed_positive": naive_hit[:, fixed] & (diff[:, fixed] > 0),
        "bayes_stop": b_stop >= 0,
        "bayes_treatment": (b_stop >= 0)
        & (loss_t[rows, np.maximum(b_stop, 0)] < loss_c[rows, np.maximum(b_stop, 0)]),
        "bayes_n": _used(b_stop, n),
    }


def _rate(x: np.ndarray) -> dict[str, float]:
    p = float(np.mean(x))
    return {"rate": round(p, 5), "mc_se": round(math.sqrt(p * (1 - p) / x.size), 5)}


def simulate(cfg: dict[str, Any], p_t: float, rng: np.random.Generator) -> dict[str, Any]:
    parts = [_chunk(rng, min(_CHUNK, cfg["runs"] - s), cfg, p_t) for s in range(0, cfg["runs"], _CHUNK)]
    r = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n_fixed = cfg["n_fixed"]
    return {
        "treatment_rate": p_t,
        "msprt": {
            "reject": _rate(r["msprt_reject"]),
            "reject_treatment_better": _rate(r["msprt_positive"]),
            "mean_users_per_arm": round(float(r["msprt_n"].mean()), 1),
            "saved_vs_fixed": round(1 - float(r["msprt_n"].mean()) / n_fixed, 4),
        },
        "naive_peeking_z": {"reject": _rate(r["naive_reject"])},
        "fixed_horizon_z": {
            "reject": _rate(r["fixed_reject"]),
            "reject_treatment_better": _rate(r["fixed_positive"]),
        },
        "bayes_expected_loss": {
            "stopped": _rate(r["bayes_stop"]),
            "chose_treatment": _rate(r["bayes_treatment"]),
            "chose_control": _rate(r["bayes_stop"] & ~r["bayes_treatment"]),
            "mean_users_per_arm": round(float(r["bayes_n"].mean()), 1),
            "saved_vs_fixed": round(1 - float(r["bayes_n"].mean()) / n_fixed, 4),
            # Conversion rate given up by the choice, averaged over runs: the rule aims to keep it under ε.
            "regret": round(
                float(np.mean(r["bayes_stop"] & ~r["bayes_treatment"])) * (p_t - cfg["baseline"]), 6
            ),
        },
    }


def _config(args: argparse.Namespace) -> dict[str, Any]:
    plan = sample_size_proportions(args.baseline, args.effect, args.alpha, 0.8)
    fixed_looks = math.ceil(plan.n_control / args.batch)
    looks = math.ceil(args.horizon_factor * fixed_looks)
    return {
        "runs": args.runs, "seed": args.seed, "alpha": args.alpha, "baseline": args.baseline,
        "effect": args.effect, "batch": args.batch, "looks": looks, "fixed_look": fixed_looks - 1,
        "n_fixed": fixed_looks * args.batch, "n_max": looks * args.batch, "tau": args.tau or args.effect,
        "loss_threshold": args.loss_threshold or args.effect / 10,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=4000, help="Streams per scenario (>= 2000).")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--baseline", type=float, default=0.10, help="Control conversion rate.")
    ap.add_argument("--effect", type=float, default=0.01, help="Absolute lift in the A/B streams.")
    ap.add_argument("--batch", type=int, default=500, help="Users per arm between looks.")
    ap.add_argument("--horizon-factor", type=float, default=2.0, help="Cap of the sequential test / fixed n.")
    ap.add_argument("--tau", type=float, default=None, help="mSPRT mixture scale (default: --effect).")
    ap.add_argument("--loss-threshold", type=float, default=None, help="Default: --effect / 10.")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.runs < 2000:
        ap.error("--runs: must be at least 2000 (the false-positive rate needs it)")
    cfg = _config(args)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    aa = simulate(cfg, cfg["baseline"], rng)
    ab = simulate(cfg, cfg["baseline"] + cfg["effect"], rng)
    # The fixed test is planned for the smallest effect worth detecting; a larger true effect is
    # where stopping early pays off.
    ab_2x = simulate(cfg, cfg["baseline"] + 2 * cfg["effect"], rng)
    result = {
        "command": f"uv run --frozen python loadtests/bench_sequential.py --runs {args.runs} --seed {args.seed}",
        "config": cfg, "aa": aa, "ab": ab, "ab_2x_effect": ab_2x, "wall_s": round(time.perf_counter() - start, 2),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "msprt_fpr_within_alpha": aa["msprt"]["reject"]["rate"] <= cfg["alpha"] + 2 * aa["msprt"]["reject"]["mc_se"],
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
