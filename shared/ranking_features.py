"""(user, item) feature rows for the ranker, built the same way at training and at serve time.

A row is [encoded user features, encoded item features, crosses], where a cross is
log(item numeric / user numeric) (e.g. price against the user's usual basket): a ratio a tree
cannot form from the two raw columns without many splits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shared.schema import FeatureSchema


def cross_indices(
    user_schema: FeatureSchema, item_schema: FeatureSchema, crosses: Sequence[tuple[str, str]]
) -> list[tuple[int, int]]:
    """Column positions (item, user) in the encoded matrices for each (item_col, user_col) cross."""
    out: list[tuple[int, int]] = []
    for item_col, user_col in crosses:
        if item_schema.spec(item_col).kind != "numeric" or user_schema.spec(user_col).kind != "numeric":
            raise ValueError(f"crosses: ({item_col}, {user_col}) must both be numeric features")
        out.append((item_schema.encoded_names.index(item_col), user_schema.encoded_names.index(user_col)))
    return out


def pair_matrix(
    user_enc: np.ndarray, item_enc: np.ndarray, cross_idx: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Aligned rows: user_enc[i] pairs with item_enc[i]. A single user row broadcasts over all items."""
    if user_enc.ndim == 1:
        user_enc = np.broadcast_to(user_enc, (len(item_enc), user_enc.shape[0]))
    if len(user_enc) != len(item_enc):
        raise ValueError(
            f"user_enc and item_enc: need the same number of rows, got {len(user_enc)} and {len(item_enc)}"
        )
    n = len(item_enc)
    out = np.empty((n, user_enc.shape[1] + item_enc.shape[1] + len(cross_idx)), dtype=np.float32)
    out[:, : user_enc.shape[1]] = user_enc
    out[:, user_enc.shape[1] : user_enc.shape[1] + item_enc.shape[1]] = item_enc
    base = user_enc.shape[1] + item_enc.shape[1]
    for k, (i_item, j_user) in enumerate(cross_idx):
        num = np.maximum(item_enc[:, i_item].astype(np.float64), 1e-6)
        den = np.maximum(user_enc[:, j_user].astype(np.float64), 1e-6)
        out[:, base + k] = np.log(num / den)
    return out
