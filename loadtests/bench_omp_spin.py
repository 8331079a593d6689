"""How long XGBoost's OpenMP threads spin before sleeping, quiet and beside one busy process.

    uv run python loadtests/bench_omp_spin.py      # writes loadtests/results/omp_spin.json

Each case is a fresh process (libgomp reads GOMP_SPINCOUNT when it loads) fitting three T-learners on
100,000 rows with every core; "busy" runs the same beside one process spinning on a core, as on a CI
machine shared with another job. The trainer's default (services/cli.py) comes from these figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PROBE = """
import time, numpy as np
from shared.estimators import TLearner
rng = np.random.default_rng(0)
n = 100_000
X = rng.normal(size=(n, 20)).astype(np.float32)
t = rng.integers(0, 2, n)
y = (rng.random(n) < 0.1 + 0.05 * (X[:, 0] > 0) * t).astype(float)
t0, c0 = time.perf_counter(), time.process_time()
for s in range(3):
    TLearner(n_jobs=0, random_state=s).fit(X, t, y)
print(round(time.perf_counter() - t0, 3), round(time.process_time() - c0, 3))
"""
SPINS = ("libgomp default", "100000", "10000", "1000")


def _probe(spin: str) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if spin != "libgomp default":
        env["GOMP_SPINCOUNT"] = spin
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True)
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "omp_spin.json")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {"quiet": {}, "busy": {}}
    for spin in SPINS:
        wall, cpu = _probe(spin)
        results["quiet"][spin] = {"wall_s": wall, "cpu_s": cpu}
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        for spin in SPINS:
            wall, cpu = _probe(spin)
            results["busy"][spin] = {"wall_s": wall, "cpu_s": cpu}
    finally:
        hog.kill()
        hog.wait()
    out = {"command": "uv run python loadtests/bench_omp_spin.py", "cpus": os.cpu_count(), **results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'GOMP_SPINCOUNT':<18}{'quiet wall s':>14}{'busy wall s':>14}")
    for spin in SPINS:
        print(f"{spin:<18}{results['quiet'][spin]['wall_s']:>14}{results['busy'][spin]['wall_s']:>14}")


if __name__ == "__main__":
    main()
