import math

import numpy as np
import pytest

from shared.metrics import ndcg_at_k, segment_report


def naive_ndcg(labels, scores, groups, k):
    vals = []
    for g in dict.fromkeys(groups):
        idx = [i for i in range(len(groups)) if groups[i] == g]
        rel = [labels[i] for i in sorted(idx, key=lambda i: -scores[i])][:k]
        ideal = sorted((labels[i] for i in idx), reverse=True)[:k]
        dcg = sum((2**r - 1) / math.log2(p + 2) for p, r in enumerate(rel))
        idcg = sum((2**r - 1) / math.log2(p + 2) for p, r in enumerate(ideal))
        if idcg > 0:
            vals.append(dcg / idcg)
    return sum(vals) / len(vals)


def test_ndcg_hand_computed():
    # one group: clicked item ranked 2nd of 3 -> 1/log2(3)
    assert ndcg_at_k([0, 1, 0], [0.9, 0.5, 0.1], [7, 7, 7], k=10) == pytest.approx(1 / math.log2(3))


def test_ndcg_matches_reference_on_random_groups():
    rng = np.random.default_rng(5)
    n = 600
    groups = rng.integers(0, 60, n)
    labels = rng.integers(0, 3, n)
    scores = rng.random(n)
    assert ndcg_at_k(labels, scores, groups, k=5) == pytest.approx(
        naive_ndcg(list(labels), list(scores), list(groups), 5)
    )


def test_ndcg_skips_groups_without_positives_and_validates():
    assert ndcg_at_k([0, 0, 1, 0], [1, 2, 3, 4], [1, 1, 2, 2]) == pytest.approx(1 / math.log2(3))
    with pytest.raises(ValueError, match="no group has a positive"):
        ndcg_at_k([0, 0], [1, 2], [1, 1])
    with pytest.raises(ValueError, match="k: must be at least 1"):
        ndcg_at_k([1], [1], [1], k=0)


def test_segment_report_precision_recall():
    labels = ("Persuadable", "Neutral", "Sleeping Dog")
    true = ["Persuadable", "Persuadable", "Neutral", "Sleeping Dog", "Sleeping Dog"]
    pred = ["Persuadable", "Neutral", "Neutral", "Sleeping Dog", "Neutral"]
    rep = segment_report(true, pred, labels)
    assert rep.recall["Sleeping Dog"] == pytest.approx(0.5)
    assert rep.precision["Neutral"] == pytest.approx(1 / 3)
    assert rep.confusion.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 1]]
    with pytest.raises(ValueError, match="unknown label"):
        segment_report(["Cat"], ["Neutral"], labels)
