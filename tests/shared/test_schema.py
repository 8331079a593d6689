import math

import numpy as np
import pandas as pd
import pytest

from shared.schema import FeatureSchema, SchemaError


@pytest.fixture()
def schema() -> FeatureSchema:
    frame = pd.DataFrame(
        {"age": [20.0, 30.0, 40.0], "device": ["mobile", "desktop", "mobile"], "vip": [1, 0, 1]}
    )
    return FeatureSchema.infer(frame, categorical=["vip"])


def test_infer_records_kinds_categories_ranges(schema):
    assert [f.kind for f in schema.features] == ["numeric", "categorical", "categorical"]
    assert schema.spec("device").categories == ("desktop", "mobile")
    assert schema.spec("age").minimum == 20.0 and schema.spec("age").maximum == 40.0
    assert schema.encoded_names == ["age", "device=desktop", "device=mobile", "vip=0", "vip=1"]


def test_single_row_encodes_like_the_frame(schema):
    frame = pd.DataFrame({"age": [33.0], "device": ["mobile"], "vip": ["1"]})
    by_frame, unseen = schema.encode_frame(frame)
    by_record = schema.encode_records([{"age": 33.0, "device": "mobile", "vip": "1"}])
    assert unseen == 0
    np.testing.assert_array_equal(by_frame, by_record)
    np.testing.assert_array_equal(by_record[0], [33.0, 0.0, 1.0, 0.0, 1.0])


def test_unseen_category_counted_in_frames_rejected_in_records(schema):
    frame = pd.DataFrame({"age": [1.0, 2.0], "device": ["tv", "mobile"], "vip": ["0", "0"]})
    X, unseen = schema.encode_frame(frame)
    assert unseen == 1
    assert X[0, 1:3].tolist() == [0.0, 0.0]
    with pytest.raises(SchemaError, match="unseen category 'tv'"):
        schema.encode_frame(frame, strict=True)
    with pytest.raises(SchemaError, match=r"users\[0\].features.device: unseen category 'tv'"):
        schema.encode_records([{"age": 1.0, "device": "tv", "vip": "0"}])


@pytest.mark.parametrize(
    ("row", "field", "rule"),
    [
        ({"device": "mobile", "vip": "1"}, "users[0].features.age", "required feature is missing"),
        ({"age": "x", "device": "mobile", "vip": "1"}, "users[0].features.age", "must be a number"),
        ({"age": True, "device": "mobile", "vip": "1"}, "users[0].features.age", "must be a number"),
        ({"age": math.nan, "device": "mobile", "vip": "1"}, "users[0].features.age", "finite"),
        ({"age": math.inf, "device": "mobile", "vip": "1"}, "users[0].features.age", "finite"),
        ({"age": 1, "device": 3, "vip": "1"}, "users[0].features.device", "must be a string"),
        ({"age": 1, "device": "mobile", "vip": "1", "zzz": 1}, "users[0].features.zzz", "unknown feature"),
    ],
)
def test_record_errors_name_field_and_rule(schema, row, field, rule):
    with pytest.raises(SchemaError) as info:
        schema.encode_records([row])
    assert info.value.field == field
    assert rule in info.value.rule


def test_infer_rejects_all_nan_and_high_cardinality():
    with pytest.raises(SchemaError, match="x: every value is missing"):
        FeatureSchema.infer(pd.DataFrame({"x": [np.nan, np.nan]}))
    ids = pd.DataFrame({"id": [f"u{i}" for i in range(300)]})
    with pytest.raises(SchemaError, match="id: has 300 distinct values"):
        FeatureSchema.infer(ids)
