"""Replay of the served decision rule without HTTP: how much does exploration cost, and does feedback help?

    uv run python loadtests/bench_policy_replay.py            # hard and smooth; writes loadtests/results/policy_replay.json
    uv run python loadtests/bench_policy_replay.py --shapes smooth --users 20000

Per synthetic market shape (known truth): `uplift generate` + `uplift train` (default selection) on
`--train-rows` users, then `--users` fresh users of the same market stream in batches of 100, each
batch decided with the feedback of every earlier one (rewards drawn from the true probabilities),
at the three value/cost settings bench_policy.py uses. The rules, all on the same model and draws:

- ``posterior``: the API's rule (services/api/deciding.py): served effect + a shift drawn from the
  normal posterior of the segment's inverse-propensity weighted effect error, prior N(0, 0.01²)
  (shared.bandit.calibration; the API's default calibration_prior_sd),
- ``members``: a member drawn per user, no feedback (per-user Thompson sampling on a fixed model),
- ``members+user``: a shift drawn from the posterior whose prior is the user's own members' spread
  (the segment's weighted estimate as likelihood): the members' exploration, narrowing with feedback,
- ``naive``: the rule before, members plus a per-segment shift from the plain mean residual of
  treated minus control users (prior sd 0.01).
- ``trimmed``: a candidate, not served: ``posterior`` with the weighted estimate taken over the
  decisions whose arms both had a probability in [0.1, 0.9] (``TRIM``; the rule of thumb of Crump,
  Hotz, Imbens and Mitnik 2009). Its estimand is the effect error among the users whose decision
  was in doubt, which is the only error a shift can act on, and its weights are at most 10, where
  the full estimate's reach 1/propensity of users that the policy almost never gives that arm.
  With two arms the chosen arm's logged probability decides it (the other's is 1 − it). Built into
  the API once and reverted: under drift the log it leaves hid the change from the retrain
  (docs/benchmarks.md, "Trimmed calibration").

The rare market helps too few users for three settings inside the 5-50% band (policy_figures), so
it is not in the default list.

Printed per setting: expected profit from the true effects as a share of greedy-on-the-same-model's
and of the oracle's, overall and per fifth of the stream. The API itself is measured by
bench_policy.py; this isolates the rule, in seconds per setting.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))  # the policy_* helpers beside this script
from policy_figures import VALUE_PER_CONVERSION, by_fifths, choose_settings, compare
from policy_server import uplift

from shared.bandit.calibration import noise_variance, segment_calibration, user_shift
from shared.bandit.per_user import Calibration, decide
from shared.bandit.store import ArmFeedback, ipw_residual
from shared.bundle import ModelBundle
from shared.shape_names import outcome_column
from shared.synthetic import MarketConfig, generate_market

RESULTS = Path(__file__).parent / "results" / "policy_replay.json"
RULES = ("posterior", "members", "members+user", "naive", "trimmed")
TRIM = 0.1
PRIOR_SD = 0.01  # the API's calibration_prior_sd default
BATCH = 100


def _naive_shift(fb: dict[tuple[str, str], ArmFeedback], seg: str) -> tuple[float, float]:
    """The earlier rule's shift: normal posterior of treated − control mean residual, prior N(0, 0.01²)."""
    out = []
    for arm in ("0", "1"):
        f = fb.get((seg, arm), ArmFeedback(0, 0))
        noise = noise_variance(f)
        precision = 1.0 / PRIOR_SD**2 + f.n / noise
        out.append(((f.residual_sum / noise) / precision, 1.0 / precision))
    return out[1][0] - out[0][0], float(np.sqrt(out[1][1] + out[0][1]))


def _feedback(
    sums: dict[tuple[str, str], tuple[int, float, float, float, float]],
    band: dict[tuple[str, str], tuple[int, float, float]],
    rule: str,
) -> dict[tuple[str, str], ArmFeedback]:
    """What the store would hold: every reward's sums, or for ``trimmed`` the in-doubt decisions'."""
    if rule == "trimmed":
        return {k: ArmFeedback(0, 0, n, 0.0, 0.0, ws, wq) for k, (n, ws, wq) in band.items()}
    return {k: ArmFeedback(0, 0, *v) for k, v in sums.items()}


def replay(
    rule: str, setting: dict[str, float], model: dict[str, Any], uniforms: np.ndarray, seed: int
) -> tuple[np.ndarray, dict[str, dict[str, float | None]]]:
    """Who the rule treated, users in stream order, and the segments' final effect-error estimates
    (mean and standard error; for ``naive``, its posterior mean and sd)."""
    value, cost = setting["value_per_conversion"], setting["cost_per_treatment"]
    eff, samples, mu, seg = model["effects"], model["samples"], model["outcomes"], model["segments"]
    p0, p1 = model["p_control"], model["p_treated"]
    rng = np.random.default_rng(seed)
    n = len(eff)
    sums: dict[tuple[str, str], tuple[int, float, float, float, float]] = {}
    band: dict[tuple[str, str], tuple[int, float, float]] = {}  # ``trimmed``'s: in-doubt decisions only
    treat = np.zeros(n, dtype=bool)
    for a in range(0, n, BATCH):
        b = min(a + BATCH, n)
        g = seg[a:b]
        fb = _feedback(sums, band, rule)
        if rule == "members":
            d = decide(samples[a:b], Calibration.none(1), value=value, cost=cost, rng=rng)
        elif rule == "naive":
            shifts = {s: _naive_shift(fb, s) for s in set(g)}
            cal = Calibration(np.array([[shifts[s][0]] for s in g]), np.array([[shifts[s][1]] for s in g]))
            d = decide(samples[a:b], cal, value=value, cost=cost, rng=rng)
        else:
            cals = {s: segment_calibration(fb, s, ["0", "1"]) for s in set(g)}
            mean = np.array([cals[s].mean for s in g])
            var = np.array([cals[s].var for s in g])
            prior = samples[a:b].var(axis=2) if rule == "members+user" else np.full(mean.shape, PRIOR_SD**2)
            shift = user_shift(prior, mean, var)
            d = decide(eff[a:b, :, None], shift, value=value, cost=cost, rng=rng)
        treated = d.arm > 0
        treat[a:b] = treated
        reward = (uniforms[a:b] < np.where(treated, p1[a:b], p0[a:b])).astype(float)
        residual = reward - np.where(treated, mu[a:b, 1], mu[a:b, 0])
        for i in range(b - a):
            key = (g[i], "1" if treated[i] else "0")
            w = ipw_residual(float(residual[i]), float(d.propensity[i]))
            k, s, q, ws, wq = sums.get(key, (0, 0.0, 0.0, 0.0, 0.0))
            r = float(residual[i])
            sums[key] = (k + 1, s + r, q + r * r, ws + w, wq + w * w)
            if TRIM <= d.propensity[i] <= 1.0 - TRIM:
                bk, bs, bq = band.get(key, (0, 0.0, 0.0))
                band[key] = (bk + 1, bs + w, bq + w * w)
    fb = _feedback(sums, band, rule)
    learned: dict[str, dict[str, float | None]] = {}
    for name in sorted(set(seg)):
        if rule == "naive":
            naive_mean, spread = _naive_shift(fb, name)
            learned[name] = {"mean": round(naive_mean, 4), "sd": round(spread, 4)}
        else:
            estimate = segment_calibration(fb, name, ["0", "1"])
            se = estimate.sd[0]
            learned[name] = {
                "mean": round(estimate.mean[0], 4),
                "sd": None if se is None else round(se, 4),
            }
    return treat, learned


def _model(shape: str, seed: int, train_rows: int, users: int, work: Path, bias: float) -> dict[str, Any]:
    data, models = work / f"{shape}.parquet", work / f"{shape}-models"
    uplift("generate", "--rows", str(train_rows), "--seed", str(seed), "--shape", shape, "--out", str(data))
    uplift(
        "train", "--data", str(data), "--out", str(models), "--treatment", "treatment",
        "--outcome", outcome_column(shape), "--control", "0", "--exclude", "user_id,revenue", "--seed", str(seed),
    )  # fmt: skip
    bundle = ModelBundle.load_current(models, use_onnx=False)
    train = generate_market(
        MarketConfig(rows=train_rows, seed=seed, shape=shape, impression_users=1000)
    ).users
    fresh = generate_market(MarketConfig(rows=users, seed=seed + 1, shape=shape, impression_users=1000)).users
    X, _ = bundle.schema.encode_frame(fresh[bundle.schema.names])
    mu = bundle.predict_outcomes(X)
    mu[:, 1] += bias
    eff = mu[:, 1:] - mu[:, :1]
    segs = bundle.segments(eff)
    return {
        "settings": choose_settings(train["true_cate"].to_numpy(), VALUE_PER_CONVERSION),
        "effects": eff,
        "samples": bundle.effect_samples(X, eff),
        "outcomes": mu,
        "segments": segs.tolist(),
        "p_control": fresh["p_control"].to_numpy(),
        "p_treated": fresh["p_treated"].to_numpy(),
        "true_cate": fresh["true_cate"].to_numpy(),
        "truth_error": {
            s: round(float((fresh["true_cate"].to_numpy() - eff[:, 0])[segs == s].mean()), 4)
            for s in sorted(set(segs.tolist()))
        },
        "model_version": bundle.version,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shapes", default="hard,smooth", help="comma-separated market shapes")
    parser.add_argument("--seed", type=int, default=7, help="training seed; the stream uses seed+1")
    parser.add_argument("--train-rows", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=100_000, help="fresh users streamed per setting")
    parser.add_argument(
        "--effect-bias",
        type=float,
        default=0.0,
        help="add this to the model's treated outcome (so to every effect): a model wrong by a known "
        "amount, to see whether feedback corrects it",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "command": " ".join(["uv run python", *sys.argv]),
        "seed": args.seed,
        "effect_bias": args.effect_bias,
        "shapes": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            start = time.perf_counter()
            m = _model(shape, args.seed, args.train_rows, args.users, Path(tmp), args.effect_bias)
            print(
                f"{shape}: model {m['model_version']} ready in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
            uniforms = np.random.default_rng([args.seed + 1, 1]).random(args.users)
            rows = []
            for k, setting in enumerate(m["settings"]):
                row: dict[str, Any] = {**setting, "rules": {}}
                for rule in RULES:
                    treat, learned = replay(rule, setting, m, uniforms, seed=100 + k)
                    value, cost = setting["value_per_conversion"], setting["cost_per_treatment"]
                    figures = compare(treat, m["effects"][:, 0], m["true_cate"], value, cost)
                    fifths = by_fifths(treat, m["effects"][:, 0], m["true_cate"], value, cost)
                    row["rules"][rule] = {
                        "served_over_greedy": figures["served_over_greedy"],
                        "served_over_oracle": figures["served_over_oracle"],
                        "treated_share": figures["policies"]["served"]["treated_share"],
                        "fifths_over_greedy": [f["served_over_greedy"] for f in fifths],
                        "segment_effect_error_estimate": learned,
                    }
                    print(
                        f"  oracle treats {setting['target_share']:.1%}  {rule:9s} "
                        f"served/greedy {figures['served_over_greedy']}  served/oracle "
                        f"{figures['served_over_oracle']}  by fifth {row['rules'][rule]['fifths_over_greedy']}",
                        flush=True,
                    )
                row["segment_effect_error_truth"] = m["truth_error"]
                print(f"  effect error per segment, truth {m['truth_error']}", flush=True)
                for rule in ("posterior", "naive", "trimmed"):
                    print(
                        f"    {rule} estimate {row['rules'][rule]['segment_effect_error_estimate']}",
                        flush=True,
                    )
                rows.append(row)
            report["shapes"][shape] = {"model_version": m["model_version"], "settings": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
