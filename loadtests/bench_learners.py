"""Benchmark: every learner's held-out Qini on several data sets, and what the selection chose.

    uv run python loadtests/bench_learners.py                  # all data sets, writes loadtests/results/learners.json
    uv run python loadtests/bench_learners.py --only hillstrom --rows 50000

Per data set: the training split (70%) and held-out split (30%) are those of `uplift train`; every
learner is fitted on the training split alone and scored once on the held-out split (Qini averaged
over treatment arms, bootstrap sd from 200 paired Poisson resamples); `--learner auto`'s cross-fitted
selection runs on the training split only, and its choice (a learner or an average) is fitted and
scored the same way. Checks printed at the end: the selected model's held-out Qini is at least the
best single learner's minus one sd on every data set, and above the T-learner's on at least half.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from services.trainer.data import FileSpec, TrainingData, from_file, from_market, split_mask
from services.trainer.learning import candidates_for, learner_factory, outcome_kind_of
from services.trainer.settings import TrainerSettings
from shared.datasets import HILLSTROM_CONTROL, HILLSTROM_PATH, HILLSTROM_TREATMENT
from shared.estimators import TLearner
from shared.estimators.selection import select_learner
from shared.estimators.served import ServedModel
from shared.metrics.bootstrap import paired_weights, weighted_qini
from shared.synthetic import MarketConfig, generate_market

RESULTS = Path(__file__).parent / "results" / "learners.json"
N_BOOT = 200


def _market(shape: str, arms: int = 2) -> Any:
    def load(rows: int, seed: int) -> TrainingData:
        config = MarketConfig(rows=rows, seed=seed, n_arms=arms, shape=shape)
        return from_market(generate_market(config))

    return load


def _hillstrom(rows: int, seed: int) -> TrainingData:
    spec = FileSpec(
        path=HILLSTROM_PATH,
        treatment=HILLSTROM_TREATMENT,
        outcome="visit",
        control=HILLSTROM_CONTROL,
        exclude=("conversion", "spend"),
        seed=seed,
    )
    return from_file(spec)


DATASETS = {
    "hillstrom": _hillstrom,
    "market-hard": _market("hard"),
    "market-smooth": _market("smooth"),
    "market-rare": _market("rare"),
    "market-continuous": _market("continuous"),
    "market-3arm": _market("hard", arms=3),
}


def _qini(y: np.ndarray, t: np.ndarray, arms: list[Any], effects: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Held-out Qini per resample (row 0 = point), mean over treatment arms."""
    total = np.zeros(len(w))
    for k, arm in enumerate(arms[1:]):
        rows = (t == arm) | (t == arms[0])
        total += weighted_qini(y[rows], (t[rows] == arm).astype(np.int8), effects[rows, k], w[:, rows])
    return total / (len(arms) - 1)


def run(name: str, rows: int, seed: int, settings: TrainerSettings, variants: bool = False) -> dict[str, Any]:
    data = DATASETS[name](rows, seed)
    frame = data.frame
    X, _ = data.schema().encode_frame(frame[data.features])
    t = frame[data.treatment].to_numpy()
    y = frame[data.outcome].to_numpy(dtype=np.float64)
    test = split_mask(len(frame), settings.test_fraction, data.seed)
    kind = outcome_kind_of(y, data.outcome_kind)
    make = learner_factory(settings, data.control, kind, data.seed, data.propensity)
    arms = [data.control, *sorted((a for a in np.unique(t).tolist() if a != data.control), key=str)]
    w = np.vstack([np.ones((1, int(test.sum()))), paired_weights(int(test.sum()), N_BOOT, seed + 99)])
    Xtr, ttr, ytr, Xte = X[~test], t[~test], y[~test], X[test]
    out: dict[str, Any] = {
        "rows": len(frame),
        "outcome_kind": kind,
        "arms": [str(a) for a in arms],
        "learners": {},
    }
    samples: dict[str, np.ndarray] = {}
    fitted: dict[str, Any] = {}
    baseline: TLearner | None = None
    for code in candidates_for("auto", kind, len(arms)):
        start = time.perf_counter()
        est = make(code).fit(Xtr, ttr, ytr)
        if code == "t":
            assert isinstance(est, TLearner)
            baseline = est
        fitted[code] = est
        q = _qini(y[test], t[test], arms, np.asarray(est.predict(Xte)).reshape(len(Xte), -1), w)
        samples[code] = q
        out["learners"][code] = {
            "qini": float(q[0]),
            "sd": float(q[1:].std(ddof=1)),
            "fit_seconds": round(time.perf_counter() - start, 1),
        }
        print(f"  {name:>18} {code:>3}: {q[0]:.5f} ± {q[1:].std(ddof=1):.5f}", flush=True)
    assert baseline is not None
    start = time.perf_counter()
    sel = select_learner(
        Xtr, ttr, ytr, control=data.control, candidates=list(fitted), make=make, n_folds=settings.folds,
        max_rows=settings.selection_rows, n_boot=settings.bootstrap_resamples, seed=data.seed + 11,
    )  # fmt: skip
    select_seconds = time.perf_counter() - start
    # The chosen learners were already fitted on the same training split: the served average reuses them.
    served = ServedModel(baseline=baseline, members=[fitted[c] for c in sel.chosen], codes=sel.chosen)
    q = _qini(y[test], t[test], arms, served.predict(Xte), w)
    best = max(out["learners"], key=lambda c: out["learners"][c]["qini"])
    out["selected"] = {
        "learner": sel.name,
        "qini": float(q[0]),
        "sd": float(q[1:].std(ddof=1)),
        "minus_t": float(q[0] - samples["t"][0]),
        "minus_t_sd": float((q - samples["t"])[1:].std(ddof=1)),
        "selection_seconds": round(select_seconds, 1),
        "reason": sel.reason,
    }
    out["best_single"] = best
    out["checks"] = {
        "selected_ge_best_minus_sd": bool(
            q[0] >= out["learners"][best]["qini"] - out["learners"][best]["sd"]
        ),
        "selected_above_t": bool(q[0] > samples["t"][0]),
    }
    print(
        f"  {name:>18} selected {sel.name}: {q[0]:.5f} ± {q[1:].std(ddof=1):.5f} ({sel.reason})", flush=True
    )
    if variants:
        out["variants"] = _variants(
            Xtr,
            ttr,
            ytr,
            Xte,
            y[test],
            t[test],
            arms,
            w,
            data.control,
            make,
            settings,
            data.seed,
            fitted,
            baseline,
        )
    return out


def _variants(
    Xtr: np.ndarray,
    ttr: np.ndarray,
    ytr: np.ndarray,
    Xte: np.ndarray,
    yte: np.ndarray,
    tte: np.ndarray,
    arms: list[Any],
    w: np.ndarray,
    control: Any,
    make: Any,
    settings: TrainerSettings,
    seed: int,
    fitted: dict[str, Any],
    baseline: TLearner,
) -> dict[str, Any]:
    """Other selection rules on the same splits, for comparing rules across data sets (not the product's)."""
    out: dict[str, Any] = {}

    def held_out(codes: list[str]) -> dict[str, Any]:
        served = ServedModel(baseline=baseline, members=[fitted[c] for c in codes], codes=codes)
        q = _qini(yte, tte, arms, served.predict(Xte), w)
        return {"learner": "+".join(codes), "qini": float(q[0]), "sd": float(q[1:].std(ddof=1))}

    out["average_of_all"] = held_out(list(fitted))
    for folds in (5,):
        sel = select_learner(
            Xtr, ttr, ytr, control=control, candidates=list(fitted), make=make, n_folds=folds,
            max_rows=settings.selection_rows, n_boot=settings.bootstrap_resamples, seed=seed + 11,
        )  # fmt: skip
        out[f"selection_{folds}_folds"] = held_out(sel.chosen)
        ranked = sorted(
            (c for c in sel.candidates if c.qini is not None), key=lambda c: c.qini or 0.0, reverse=True
        )
        out[f"best_oof_{folds}_folds"] = held_out([ranked[0].learner])
        out[f"top3_oof_{folds}_folds"] = held_out([c.learner for c in ranked[:3]])
    for k, v in out.items():
        print(f"    variant {k:>20}: {v['learner']:>14} {v['qini']:.5f} ± {v['sd']:.5f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="users per synthetic market")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", action="append", choices=sorted(DATASETS), help="data set(s) to run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--variants", action="store_true", help="also score other selection rules (5 folds, averages)"
    )
    args = parser.parse_args()
    settings = TrainerSettings()
    results: dict[str, Any] = {
        "command": "uv run python loadtests/bench_learners.py",
        "seed": args.seed,
        "datasets": {},
    }
    started = time.perf_counter()
    for name in args.only or list(DATASETS):
        t0 = time.perf_counter()
        results["datasets"][name] = run(name, args.rows, args.seed, settings, args.variants)
        results["datasets"][name]["wall_seconds"] = round(time.perf_counter() - t0, 1)
    res = results["datasets"]
    results["summary"] = {
        "selected_ge_best_minus_sd_everywhere": all(
            r["checks"]["selected_ge_best_minus_sd"] for r in res.values()
        ),
        "selected_above_t_on": f"{sum(r['checks']['selected_above_t'] for r in res.values())} of {len(res)}",
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print("\n| data set | " + " | ".join(["t", "s", "x", "dr", "r", "ct"]) + " | selected | wall s |")
    print("|---" * 9 + "|")
    for name, r in res.items():
        cells = [
            f"{r['learners'][c]['qini']:.4f} ± {r['learners'][c]['sd']:.4f}" if c in r["learners"] else "–"
            for c in ["t", "s", "x", "dr", "r", "ct"]
        ]
        sel = r["selected"]
        print(
            f"| {name} | "
            + " | ".join(cells)
            + f" | **{sel['learner']}** {sel['qini']:.4f} ± {sel['sd']:.4f} | {r['wall_seconds']} |"
        )
    print(json.dumps(results["summary"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
