"""The column-wise batch path of ``encode_records`` matches the row-wise path and names bad fields."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from shared import schema as schema_module
from shared.schema import FeatureSchema, SchemaError

N = schema_module._ROWWISE_MAX + 8  # large enough for the batch path


@pytest.fixture()
def schema() -> FeatureSchema:
    frame = pd.DataFrame({"age": [20.0, 40.0], "device": ["mobile", "desktop"], "visits": [1, 9]})
    return FeatureSchema.infer(frame)


def _rows(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "age": float(rng.uniform(18, 80)),
            "device": str(rng.choice(["mobile", "desktop"])),
            "visits": int(rng.integers(0, 20)),
        }
        for _ in range(N)
    ]


def test_batch_path_equals_row_path_and_frame(schema: FeatureSchema, monkeypatch) -> None:
    rows = _rows(3)
    batch = schema.encode_records(rows)
    by_frame, unseen = schema.encode_frame(pd.DataFrame(rows))
    monkeypatch.setattr(schema_module, "_ROWWISE_MAX", 10**9)
    np.testing.assert_array_equal(batch, schema.encode_records(rows))
    np.testing.assert_array_equal(batch, by_frame)
    assert unseen == 0


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("age", "34", "must be a number, got str"),
        ("age", True, "must be a number, got bool"),
        ("age", float("nan"), "must be a finite number"),
        ("visits", float("inf"), "must be a finite number"),
        # Finite in JSON, but beyond float32 (what the models read): infinity there, or an overflow.
        ("visits", 1e39, "must be a finite number within"),
        ("age", -(10**400), "must be a finite number within"),
        ("device", "tv", "unseen category 'tv'"),
        ("device", 3, "must be a string category, got int"),
        ("device", ["mobile"], "must be a string category, got list"),
    ],
)
def test_batch_errors_name_row_and_field(schema: FeatureSchema, field: str, value: Any, rule: str) -> None:
    rows = _rows(5)
    rows[N - 3][field] = value
    with pytest.raises(SchemaError, match=rule) as err:
        schema.encode_records(rows)
    assert err.value.field == f"users[{N - 3}].features.{field}"
    # The row-by-row path (small requests) applies the same rule.
    with pytest.raises(SchemaError, match=rule) as err:
        schema.encode_records([rows[0], rows[N - 3]])
    assert err.value.field == f"users[1].features.{field}"


def test_float32_range_edges_are_accepted(schema: FeatureSchema) -> None:
    rows = _rows(2)[:2]
    rows[0]["visits"] = float(np.finfo(np.float32).max)
    rows[1]["visits"] = -int(np.finfo(np.float32).max)
    X = schema.encode_records(rows)
    assert np.isfinite(X).all()


def test_batch_missing_and_unknown_keys(schema: FeatureSchema) -> None:
    rows = _rows(6)
    del rows[N - 1]["visits"]
    with pytest.raises(SchemaError, match="required feature is missing") as err:
        schema.encode_records(rows)
    assert err.value.field == f"users[{N - 1}].features.visits"
    rows = _rows(6)
    rows[4]["extra"] = 1
    with pytest.raises(SchemaError, match="unknown feature") as err:
        schema.encode_records(rows)
    assert err.value.field == "users[4].features.extra"


def test_batch_key_errors_name_the_first_bad_row_whatever_the_kind(schema: FeatureSchema) -> None:
    rows = _rows(7)
    rows[9]["visits_typo"] = rows[9].pop("visits")  # same key count, wrong key
    rows[12]["extra"] = 1  # one key too many, in a later row
    with pytest.raises(SchemaError, match="unknown feature") as err:
        schema.encode_records(rows)
    assert err.value.field == "users[9].features.visits_typo"
    del rows[3]["age"]  # now an earlier row lacks a key
    with pytest.raises(SchemaError, match="required feature is missing") as err:
        schema.encode_records(rows)
    assert err.value.field == "users[3].features.age"
