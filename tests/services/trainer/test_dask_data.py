"""The per-arm-total checks of the out-of-core and Dask paths say what the in-memory checks say."""

from __future__ import annotations

import numpy as np
import pytest

from services.trainer.dask_data import check_arm_counts, srm_from_counts
from services.trainer.validate import DataError, Limits, check_arm_sizes, srm_check

ARMS = ["control", "treatment"]


def expanded(rows: list[int], pos: list[int]) -> tuple[np.ndarray, np.ndarray]:
    t = np.repeat(np.asarray(ARMS, dtype=object), rows)
    y = np.concatenate([np.r_[np.ones(p), np.zeros(n - p)] for n, p in zip(rows, pos, strict=True)])
    return t, y


def message(call: object) -> str | None:
    try:
        call()  # type: ignore[operator]
    except DataError as exc:
        return f"{exc.column}: {exc.rule}"
    return None


@pytest.mark.parametrize(
    ("rows", "pos", "kind"),
    [([500, 480], [40, 30], "binary"), ([99, 500], [40, 30], "binary"), ([500, 480], [40, 19], "continuous")],
)
def test_arm_rules_match_the_in_memory_rules(rows: list[int], pos: list[int], kind: str) -> None:
    limits = Limits(min_rows_per_arm=100, min_positives_per_arm=20)
    t, y = expanded(rows, pos)
    expected = message(lambda: check_arm_sizes(t, y, ARMS, "treatment", "conversion", kind, limits))
    got = message(
        lambda: check_arm_counts(np.array(rows), np.array(pos), ARMS, "treatment", "conversion", kind, limits)
    )
    assert got == expected


@pytest.mark.parametrize("expected_split", [None, {"control": 1.0, "treatment": 2.0}])
def test_srm_from_totals_equals_srm_on_rows(expected_split: dict[str, float] | None) -> None:
    rows = np.array([5000, 5400])
    t, _ = expanded(rows.tolist(), [0, 0])
    assert srm_from_counts(rows, ARMS, expected_split, 0.001) == srm_check(t, ARMS, expected_split, 0.001)


def test_srm_from_totals_refuses_a_split_without_every_arm() -> None:
    with pytest.raises(DataError, match="--expected-split"):
        srm_from_counts(np.array([10, 10]), ARMS, {"control": 1.0}, 0.001)
