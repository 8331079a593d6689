"""The Arrow encoding path (batch scoring) gives exactly the matrix of the pandas path."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from shared.schema import FeatureSchema, SchemaError


@pytest.fixture()
def schema() -> FeatureSchema:
    frame = pd.DataFrame(
        {
            "age": [20.0, 30.0, 40.0],
            "device": ["mobile", "desktop", "tablet"],
            "vip": [1, 0, 1],
            "flag": [True, False, True],
        }
    )
    return FeatureSchema.infer(frame, categorical=["vip"])


def test_arrow_equals_frame_with_missing_and_unseen_values(schema):
    frame = pd.DataFrame(
        {
            "age": [33.0, np.nan, 51.0, 18.0],
            "device": ["mobile", None, "tv", "tablet"],
            "vip": ["1", "0", "0", None],
            "flag": [False, True, True, False],
        }
    )
    by_frame, unseen_frame = schema.encode_frame(frame)
    by_arrow, unseen_arrow = schema.encode_arrow(pa.Table.from_pandas(frame, preserve_index=False))
    np.testing.assert_array_equal(by_arrow, by_frame)
    assert unseen_arrow == unseen_frame == 1
    assert np.isnan(by_arrow[1, 0]) and by_arrow[2, 1:4].tolist() == [0.0, 0.0, 0.0]


def test_arrow_errors_name_the_column(schema):
    table = pa.table({"age": ["x"], "device": ["mobile"], "vip": ["1"], "flag": [True]})
    with pytest.raises(SchemaError, match="age: must be numeric"):
        schema.encode_arrow(table)
    with pytest.raises(SchemaError, match="flag: required feature column is missing"):
        schema.encode_arrow(table.drop_columns(["flag"]))
