"""In-process timings of the serving parts the README quotes: ranking one user, an assignment
commit, and encoding and answering a 1,000-user /predict. Median µs per call, real users.

    uv run python loadtests/bench_parts.py --models /tmp/bm/models
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_latency import users_from  # this folder, run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repo's packages, when run from anywhere

from services.api.routes.predict import PredictJob, answer  # noqa: E402
from services.api.schemas import PredictRequest  # noqa: E402
from services.api.settings import ApiSettings  # noqa: E402
from services.api.state import load_model  # noqa: E402
from shared.bandit import new_assignment_ids  # noqa: E402
from shared.ranking_features import pair_matrix  # noqa: E402


def per_call_us(fn: Callable[[int], Any], n: int, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean µs per call, calling fn(0..n-1)."""
    fn(0)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        out.append((time.perf_counter() - start) / n * 1e6)
    return round(statistics.median(out), 1)


def commit_us(ids: Callable[[int], list[str]], stored: int = 100_000, commits: int = 3000) -> float:
    """µs per 5-row commit into the bandit store's assignments table with ``stored`` rows in it."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "bandit.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE assignments (assignment_id TEXT PRIMARY KEY, context TEXT NOT NULL, "
            "arm TEXT NOT NULL, propensity REAL NOT NULL, created_at REAL NOT NULL)"
        )
        insert = "INSERT INTO assignments VALUES (?, 'Neutral', '1', 0.5, 0.0)"
        for _ in range(stored // 1000):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, [(i,) for i in ids(1000)])
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        start = time.perf_counter()
        for k in range(commits):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, [(i,) for i in ids(5)])
            conn.execute("COMMIT")
            if k % 500 == 0:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        elapsed = time.perf_counter() - start
        conn.close()
    return round(elapsed / commits * 1e6, 1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(ApiSettings(models_dir=args.models, data_dir=Path(tmp)))
    bundle = model.bundle
    bundle.load_boosters()  # also builds the pair scorer
    users = users_from(args.models, 1000)
    rows = [bundle.schema.encode_records([u["features"]])[0] for u in users]
    out: dict[str, Any] = {"model_version": bundle.version, "ranker_format": bundle.ranker_format}
    gc.freeze()  # as the API does after start-up
    if bundle.pair_scorer is not None and bundle.catalog is not None:
        scorer, items, cross = bundle.pair_scorer, bundle.catalog.encoded, bundle.cross_idx
        out["rank_one_user_us"] = {
            "pair_scorer": per_call_us(lambda i: scorer.scores(rows[i]), 1000),
            "pair_rows_plus_onnx": per_call_us(
                lambda i: (
                    bundle.ranker_onnx.predict(pair_matrix(rows[i], items, cross))
                    if bundle.ranker_onnx is not None
                    else None
                ),
                1000,
            ),
            "pair_rows_plus_xgboost": per_call_us(
                lambda i: bundle.ranker.inplace_predict(pair_matrix(rows[i], items, cross)),  # type: ignore[union-attr]
                300,
            ),
        }
    out["five_row_commit_us_with_100k_stored"] = {
        "uuid7_ids": commit_us(new_assignment_ids),
        "uuid4_ids": commit_us(lambda n: [uuid.uuid4().hex for _ in range(n)]),
    }
    raw = json.dumps({"users": users}).encode()
    body = PredictRequest.model_validate_json(raw)
    features = [u.features for u in body.users]
    X = bundle.schema.encode_records(features)
    out["predict_1000_users_us"] = {
        "parse_and_validate": per_call_us(lambda _: PredictRequest.model_validate_json(raw), 30),
        "encode": per_call_us(lambda _: bundle.schema.encode_records(features), 30),
        "score_and_build_response": per_call_us(lambda _: answer([PredictJob(body, model, X)]), 30),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
