"""The batched ranking of /optimize matches the ranker's one-user ranking (the /recommend path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from services.api.scoring import top_items
from shared.bundle import ModelBundle
from shared.parity import probe_matrix


def test_top_items_matches_one_user_ranking(trained_models: Path) -> None:
    bundle = ModelBundle.load_current(trained_models)
    users = probe_matrix(bundle.schema, 7, seed=3)
    batched = top_items(bundle, users, top_k=5)
    for row, items in zip(users, batched, strict=True):
        ids, scores = bundle.rank_items(row)
        assert items == [str(i) for i in ids[:5]]
        assert np.all(np.diff(scores[:5]) <= 0)
    assert top_items(bundle, users[:0], top_k=5) == []
    # More items asked than the catalog holds: the whole catalog, best first.
    n = len(bundle.catalog.item_ids) if bundle.catalog is not None else 0
    assert len(top_items(bundle, users[:1], top_k=n + 10)[0]) == n
