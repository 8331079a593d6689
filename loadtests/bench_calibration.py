"""Benchmark: does the out-of-fold effect calibration make better decisions at a cost, across markets?

    uv run python loadtests/bench_calibration.py            # every shape, writes loadtests/results/calibration.json
    uv run python loadtests/bench_calibration.py --only smooth,null --rows 50000

Per synthetic market shape (each of known truth): the trainer's `learn` (default selection) on the
training split of `--rows` users and its calibration on the held-out split, as `uplift train` does
(services/trainer/calibrate.py); then, on fresh users of the same market (another seed), the greedy
policy "treat when effect × value > cost" with the served (calibrated) effects and with the same
model's uncalibrated effects, at costs where the oracle
treats 2%, 5%, 10% and 25% of users (those the market allows). Printed per setting: each policy's
expected profit from the true effects as a share of the oracle's, and the slope of the true effect
on each version's effect (1: on the right scale). The null market (no effect for anyone) has no
oracle profit: its figure is the loss per 1,000 users at a cost of half a point of conversion.
The calibration is linear and keeps every user's rank, so no Qini is reported: it does not change.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from services.trainer.calibrate import calibrate_on_held_out
from services.trainer.data import from_market, split_mask
from services.trainer.learning import learn, outcome_kind_of
from services.trainer.settings import TrainerSettings
from shared.shape_names import SHAPES
from shared.synthetic import MarketConfig, generate_market

RESULTS = Path(__file__).parent / "results" / "calibration.json"
SHARES = (0.02, 0.05, 0.10, 0.25)
NULL_COST = 0.005


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="users generated for training (70%% train)")
    parser.add_argument("--fresh", type=int, default=100_000, help="fresh users the policies are scored on")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only", default=",".join(SHAPES), help=f"comma-separated shapes of {', '.join(SHAPES)}"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    shapes = [s for s in args.only.split(",") if s]
    bad = [s for s in shapes if s not in SHAPES]
    if bad or not shapes:
        parser.error(f"--only: each shape must be one of {', '.join(SHAPES)}; got {args.only!r}")
    if args.rows < 2000 or args.fresh < 1000:
        parser.error("--rows: at least 2000; --fresh: at least 1000")
    args.shapes = shapes
    return args


def _truth_slope(truth: np.ndarray, effect: np.ndarray) -> float | None:
    return None if np.std(effect) == 0 else float(np.cov(truth, effect)[0, 1] / np.var(effect, ddof=1))


def _profit(truth: np.ndarray, effect: np.ndarray, cost: float) -> float:
    return float((truth - cost)[effect > cost].sum())


def run(shape: str, rows: int, fresh: int, seed: int) -> dict[str, Any]:
    market = generate_market(MarketConfig(rows=rows, seed=seed, shape=shape, impression_users=1000))
    data = from_market(market)
    frame = data.frame
    schema = data.schema()
    X, _ = schema.encode_frame(frame[data.features])
    t = frame[data.treatment].to_numpy()
    y = frame[data.outcome].to_numpy(dtype=np.float64)
    settings = TrainerSettings(n_jobs=2)
    train = ~split_mask(len(frame), settings.test_fraction, data.seed)
    kind = outcome_kind_of(y, data.outcome_kind)
    started = time.perf_counter()
    learned = learn(
        X[train], t[train], y[train], control=data.control, outcome_kind=kind, settings=settings,
        seed=data.seed, propensity=data.propensity, step=lambda _name: nullcontext(), report=lambda _m: None,
    )  # fmt: skip
    plain = learned.served
    learned, report = calibrate_on_held_out(learned, X[~train], t[~train], y[~train], data.control)
    served = learned.served
    users = generate_market(MarketConfig(rows=fresh, seed=seed + 1, shape=shape, impression_users=1000)).users
    Xf, _ = schema.encode_frame(users[data.features])
    truth = users["true_cate"].to_numpy()
    calibrated, raw = served.predict(Xf)[:, 0], plain.predict(Xf)[:, 0]
    out: dict[str, Any] = {
        "learner": served.name,
        "fit_seconds": round(time.perf_counter() - started, 1),
        "calibration": report["arms"][0],
        "truth_slope": {"uncalibrated": _truth_slope(truth, raw), "served": _truth_slope(truth, calibrated)},
        "settings": [],
    }
    if shape == "null":
        for name, eff in (("uncalibrated", raw), ("served", calibrated)):
            out[f"{name}_loss_per_1000"] = round(-1000 * _profit(truth, eff, NULL_COST) / len(truth), 4)
        return out
    for share in SHARES:
        cost = float(np.quantile(truth, 1.0 - share))
        if cost <= 0:
            continue  # fewer than `share` of users gain: no positive cost gives this oracle share
        oracle = _profit(truth, truth, cost)
        out["settings"].append(
            {
                "oracle_share": share,
                "cost": round(cost, 6),
                "uncalibrated_over_oracle": round(_profit(truth, raw, cost) / oracle, 4),
                "served_over_oracle": round(_profit(truth, calibrated, cost) / oracle, 4),
                "uncalibrated_treats": round(float((raw > cost).mean()), 4),
                "served_treats": round(float((calibrated > cost).mean()), 4),
            }
        )
    return out


def main() -> None:
    args = _args()
    results: dict[str, Any] = {
        "command": "uv run python loadtests/bench_calibration.py"
        + (f" --only {args.only}" if args.only != ",".join(SHAPES) else "")
        + (f" --rows {args.rows}" if args.rows != 100_000 else ""),
        "rows": args.rows,
        "fresh": args.fresh,
        "seed": args.seed,
        "shapes": {},
    }
    for shape in args.shapes:
        res = results["shapes"][shape] = run(shape, args.rows, args.fresh, args.seed)
        c = res["calibration"]
        print(
            f"{shape:>10}: {res['learner']}; slope {c['slope']:.3f} ± {c['slope_se']:.3f} around the average "
            f"effect {c['mean_effect']:+.4f}: {'applied' if c['applied'] else 'not applied'}; "
            f"slope of the truth on the effect {res['truth_slope']['uncalibrated']:.3f} -> "
            f"{res['truth_slope']['served']:.3f} (1: the right scale)",
            flush=True,
        )
        for s in res["settings"]:
            print(
                f"{'':>12}oracle treats {s['oracle_share']:.0%}: greedy/oracle uncalibrated "
                f"{s['uncalibrated_over_oracle']:.3f} (treats {s['uncalibrated_treats']:.1%}), served "
                f"{s['served_over_oracle']:.3f} (treats {s['served_treats']:.1%})",
                flush=True,
            )
        if shape == "null":
            print(
                f"{'':>12}loss per 1,000 users at cost {NULL_COST}: uncalibrated "
                f"{res['uncalibrated_loss_per_1000']}, served {res['served_loss_per_1000']}",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
