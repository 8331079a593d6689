"""The recommendation arm's ranker: learn from the impression log, beat popularity, ship the catalog."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services.trainer.data import TrainingData
from services.trainer.settings import TrainerSettings
from shared.artifacts import RankerSpec
from shared.estimators import ItemRanker
from shared.estimators.ranker import DEFAULT_RANK_PARAMS
from shared.metrics import ndcg_at_k
from shared.onnx_runtime import export_ranker
from shared.ranking_features import cross_indices, pair_matrix
from shared.schema import FeatureSchema

# Price against the user's usual basket: the strongest taste signal a tree cannot build alone.
DEFAULT_CROSSES = [("price", "avg_order_value")]
TOP_SELLERS = 10
# Logged (user, item) rows the ONNX copy of the ranker must reproduce before it is written.
EXPORT_PROBE_ROWS = 2048


@dataclass
class RankerResult:
    model: ItemRanker
    item_schema: FeatureSchema
    crosses: list[tuple[str, str]]
    catalog: pd.DataFrame
    top_sellers: list[str]
    metrics: dict[str, Any]
    probe: np.ndarray


def _ndcg(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    res = ndcg_at_k(labels, scores, groups, k=10)
    return float(getattr(res, "ndcg", res))


def fit_and_evaluate(
    data: TrainingData, user_schema: FeatureSchema, settings: TrainerSettings, test_users_mask: np.ndarray
) -> RankerResult:
    assert data.catalog is not None and data.impressions is not None and data.id_column is not None
    catalog = data.catalog.reset_index(drop=True)
    item_cols = [c for c in catalog.columns if c != "item_id"]
    item_schema = FeatureSchema.infer(catalog[item_cols])
    crosses = [c for c in DEFAULT_CROSSES if c[0] in item_schema.names and c[1] in user_schema.names]
    imp = data.impressions
    user_pos = pd.Series(np.arange(len(data.frame)), index=data.frame[data.id_column].to_numpy())
    u_idx = user_pos.reindex(imp["user_id"].to_numpy()).to_numpy()
    if np.isnan(u_idx).any():
        raise ValueError("impressions.user_id: every impression must name a user of the data")
    u_idx = u_idx.astype(np.int64)
    item_pos = pd.Series(np.arange(len(catalog)), index=catalog["item_id"].to_numpy())
    i_idx = item_pos.reindex(imp["item_id"].to_numpy()).to_numpy()
    if np.isnan(i_idx).any():
        raise ValueError("impressions.item_id: every impression must name an item of the catalog")
    i_idx = i_idx.astype(np.int64)
    users_enc, _ = user_schema.encode_frame(data.frame[data.features].iloc[np.unique(u_idx)])
    # Map each impression's user to its row in the compact encoded block.
    compact = np.searchsorted(np.unique(u_idx), u_idx)
    items_enc, _ = item_schema.encode_frame(catalog[item_cols])
    X = pair_matrix(users_enc[compact], items_enc[i_idx], cross_indices(user_schema, item_schema, crosses))
    y = imp["clicked"].to_numpy(dtype=np.float32)
    test = test_users_mask[u_idx]
    ranker = ItemRanker(n_estimators=settings.ranker_trees, n_jobs=settings.n_jobs, random_state=data.seed)
    ranker.fit(X[~test], y[~test], u_idx[~test])
    # Popularity baseline: the training log's click-through rate per item (what "top sellers" serves).
    clicks = np.bincount(i_idx[~test], weights=y[~test], minlength=len(catalog))
    shows = np.bincount(i_idx[~test], minlength=len(catalog))
    ctr = np.divide(clicks, shows, out=np.zeros(len(catalog)), where=shows > 0)
    metrics = {
        "ndcg10_model": _ndcg(y[test], ranker.predict(X[test]), u_idx[test]),
        "ndcg10_popularity": _ndcg(y[test], ctr[i_idx[test]], u_idx[test]),
        "train_impressions": int((~test).sum()),
        "test_impressions": int(test.sum()),
        "items": len(catalog),
        "crosses": [list(c) for c in crosses],
    }
    top = catalog["item_id"].to_numpy()[np.argsort(-clicks, kind="stable")[:TOP_SELLERS]]
    return RankerResult(
        ranker, item_schema, crosses, catalog, [str(i) for i in top], metrics, X[:EXPORT_PROBE_ROWS]
    )


def write(result: RankerResult, stage: Path) -> RankerSpec:
    booster = result.model.booster_
    booster.save_model(stage / "ranker.ubj")
    # The API ranks one user's catalog (~200 rows) far cheaper with ONNX Runtime; without a faithful
    # export it serves the booster above, so a failed export only costs speed.
    onnx_file: str | None = "ranker.onnx"
    if not export_ranker(booster, booster.num_features(), stage / "ranker.onnx", result.probe):
        onnx_file = None
    result.catalog.to_parquet(stage / "catalog.parquet", index=False)
    cols = [c for c in result.catalog.columns if c != "item_id"]
    encoded, _ = result.item_schema.encode_frame(result.catalog[cols])
    np.save(stage / "catalog_encoded.npy", encoded, allow_pickle=False)
    (stage / "catalog_ids.json").write_text(json.dumps([str(i) for i in result.catalog["item_id"]]))
    return RankerSpec(
        booster_file="ranker.ubj",
        onnx_file=onnx_file,
        item_schema=result.item_schema,
        crosses=result.crosses,
        catalog_file="catalog.parquet",
        catalog_matrix_file="catalog_encoded.npy",
        catalog_ids_file="catalog_ids.json",
        top_sellers=result.top_sellers,
        params={**DEFAULT_RANK_PARAMS, "n_estimators": result.model.n_estimators},
    )
