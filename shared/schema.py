"""Fixed feature schema: the columns a model was trained on, and how a row becomes a matrix.

Categories are recorded at training time and one-hot encoded in that order, so a single row at
serve time is encoded exactly like the training frame (never `get_dummies` on one row).
Unseen categories: the API rejects them (422 naming the allowed values); batch scoring encodes
them as an all-zero one-hot block, which XGBoost treats like the least informative branch, and
counts them so the user sees how many rows were affected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

if TYPE_CHECKING:  # pandas/pyarrow serve frames and batches; the API's record path avoids their import cost
    import pandas as pd
    import pyarrow as pa

FeatureKind = Literal["numeric", "categorical"]


class SchemaError(ValueError):
    """A row or frame does not fit the schema; the message names the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class FeatureSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: FeatureKind
    categories: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    dtype: str = "float64"

    def encoded_names(self) -> list[str]:
        if self.kind == "numeric":
            return [self.name]
        assert self.categories is not None
        return [f"{self.name}={c}" for c in self.categories]


class FeatureSchema(BaseModel):
    model_config = ConfigDict(frozen=True)

    features: tuple[FeatureSpec, ...] = Field(min_length=1)
    # Derived from ``features`` on first use; private attributes may be set on a frozen model.
    _plan: _RecordPlan | None = PrivateAttr(default=None)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def encoded_names(self) -> list[str]:
        return [n for f in self.features for n in f.encoded_names()]

    @property
    def n_encoded(self) -> int:
        return len(self.encoded_names)

    def spec(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise SchemaError(name, f"unknown feature; expected one of {self.names}")

    @classmethod
    def infer(
        cls,
        frame: pd.DataFrame,
        categorical: Iterable[str] = (),
        max_categories: int = 200,
    ) -> FeatureSchema:
        """Infer kinds from dtypes (object/category/bool → categorical) plus explicit overrides."""
        import pandas as pd

        forced = set(categorical)
        unknown = forced - set(frame.columns)
        if unknown:
            raise SchemaError(sorted(unknown)[0], "named as categorical but not a column of the data")
        specs: list[FeatureSpec] = []
        for name in frame.columns:
            col = frame[name]
            if col.isna().all():
                raise SchemaError(str(name), "every value is missing; drop the column or fill it")
            is_cat = (
                name in forced or not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
            )
            if is_cat:
                cats = sorted({str(v) for v in col.dropna().unique()})
                if len(cats) > max_categories:
                    raise SchemaError(
                        str(name),
                        f"has {len(cats)} distinct values (> {max_categories}); "
                        "exclude it (an ID?) or bucket it before training",
                    )
                specs.append(
                    FeatureSpec(name=str(name), kind="categorical", categories=tuple(cats), dtype="string")
                )
            else:
                values = col.to_numpy(dtype="float64", na_value=np.nan)
                finite = values[np.isfinite(values)]
                specs.append(
                    FeatureSpec(
                        name=str(name),
                        kind="numeric",
                        minimum=float(finite.min()) if finite.size else None,
                        maximum=float(finite.max()) if finite.size else None,
                        dtype=str(col.dtype),
                    )
                )
        return cls(features=tuple(specs))

    # -- encoding -------------------------------------------------------------------------------

    def encode_frame(self, frame: pd.DataFrame, *, strict: bool = False) -> tuple[np.ndarray, int]:
        """Encode a frame to float32; returns (matrix, rows with an unseen category).

        Missing numeric values stay NaN (XGBoost routes them by its learned default direction).
        With ``strict`` an unseen category raises instead of being counted.
        """
        import pandas as pd

        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise SchemaError(missing[0], "required feature column is missing")
        n = len(frame)
        out = np.zeros((n, self.n_encoded), dtype=np.float32)
        unseen_rows = np.zeros(n, dtype=bool)
        j = 0
        for f in self.features:
            col = frame[f.name]
            if f.kind == "numeric":
                try:
                    out[:, j] = pd.to_numeric(col, errors="raise").to_numpy(dtype="float64", na_value=np.nan)
                except (ValueError, TypeError) as exc:
                    raise SchemaError(f.name, "must be numeric") from exc
                j += 1
                continue
            assert f.categories is not None
            k = len(f.categories)
            present = col.notna().to_numpy()
            codes = pd.Index(f.categories).get_indexer(pd.Index(col.astype("string").fillna("")))
            codes[~present] = -1
            bad = (codes < 0) & present
            if bad.any():
                if strict:
                    value = col[bad].iloc[0]
                    raise SchemaError(f.name, f"unseen category {value!r}; allowed: {list(f.categories)}")
                unseen_rows |= bad
            valid = codes >= 0
            out[np.flatnonzero(valid), j + codes[valid]] = 1.0
            j += k
        return out, int(unseen_rows.sum())

    def encode_arrow(self, table: pa.Table | pa.RecordBatch) -> tuple[np.ndarray, int]:
        """Same matrix as ``encode_frame`` straight from Arrow columns (the batch-scoring path).

        Category lookups run in Arrow (``index_in``) instead of pandas indexes: several times faster
        on large batches, and no Python objects per value.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        missing = [n for n in self.names if n not in table.schema.names]
        if missing:
            raise SchemaError(missing[0], "required feature column is missing")
        n = table.num_rows
        out = np.zeros((n, self.n_encoded), dtype=np.float32)
        unseen_rows = np.zeros(n, dtype=bool)
        j = 0
        for f in self.features:
            col = table.column(f.name)
            if f.kind == "numeric":
                try:
                    out[:, j] = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise SchemaError(f.name, "must be numeric") from exc
                j += 1
                continue
            assert f.categories is not None
            if pa.types.is_boolean(col.type):
                col = pc.if_else(col, "True", "False")  # training recorded bools as "True"/"False"
            values = pc.cast(col, pa.string())
            codes = pc.fill_null(pc.index_in(values, value_set=pa.array(f.categories)), -1)
            codes_np = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)
            present = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
            unseen_rows |= (codes_np < 0) & present
            valid = np.flatnonzero(codes_np >= 0)
            out[valid, j + codes_np[valid]] = 1.0
            j += len(f.categories)
        return out, int(unseen_rows.sum())

    def encode_records(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Strictly encode JSON-like rows (the API path): no pandas, every error names the field.

        One pass over the values with plain type checks and a single numpy conversion at the end:
        for the one-user requests an API mostly sees, per-feature numpy calls would dominate.
        """
        plan = self._record_plan()
        n = len(rows)
        if n > _ROWWISE_MAX:
            return self._encode_columns(rows, plan)
        width = plan.width
        numeric = list(zip(plan.numeric, plan.numeric_cols, strict=True))
        encoded: list[list[float]] = []
        for i, row in enumerate(rows):
            if len(row) != len(plan.names) or row.keys() != plan.names:
                self._raise_for_keys(i, row, plan.names)
            values = [0.0] * width
            for name, col in numeric:
                v = row[name]
                # bool is an int subclass, but True is not a number a caller meant to send.
                if (type(v) is not float and type(v) is not int) or not -_F32_MAX <= v <= _F32_MAX:
                    _raise_number(i, name, v)
                values[col] = v
            for name, offset, index in plan.categorical:
                v = row[name]
                code = index.get(v) if type(v) is str else None
                if code is None:
                    _raise_category(self.spec(name), i, v)
                values[offset + code] = 1.0  # type: ignore[operator]
            encoded.append(values)
        # One conversion for the whole request: per-feature numpy calls would dominate one user.
        return np.array(encoded, dtype=np.float32)

    def _encode_columns(self, rows: Sequence[Mapping[str, Any]], plan: _RecordPlan) -> np.ndarray:
        """The batch path of ``encode_records``: the same checks, one feature column at a time.

        Type checks run as ``set(map(type, column))`` in C, and each column is one numpy conversion,
        instead of a Python append per value.
        """
        n = len(rows)
        columns = self._columns(rows, plan)
        out = np.zeros((n, plan.width), dtype=np.float32)
        for name, col in zip(plan.numeric, plan.numeric_cols, strict=True):
            values = columns[name]
            if not _NUMBER_TYPES.issuperset(map(type, values)):
                i = next(i for i, v in enumerate(values) if type(v) not in _NUMBER_TYPES)
                raise SchemaError(
                    f"users[{i}].features.{name}", f"must be a number, got {type(values[i]).__name__}"
                )
            try:
                column = np.array(values, dtype=np.float64)
            except OverflowError:  # an integer beyond float64
                column = np.array([float(v) if abs(v) <= _F32_MAX else np.inf for v in values])
            in_range = np.abs(column) <= _F32_MAX  # also False for NaN
            if not in_range.all():
                i = int(np.argmin(in_range))
                _raise_number(i, name, values[i])
            out[:, col] = column
        for name, offset, index in plan.categorical:
            values = columns[name]
            # Types first (an unhashable value cannot be looked up), then one C-level map for the codes.
            codes = list(map(index.get, values)) if _STR_TYPE.issuperset(map(type, values)) else [None]
            if None in codes:
                i = next(i for i, v in enumerate(values) if type(v) is not str or v not in index)
                _raise_category(self.spec(name), i, values[i])
            out[np.arange(n), offset + np.array(codes, dtype=np.int64)] = 1.0
        return out

    def _columns(self, rows: Sequence[Mapping[str, Any]], plan: _RecordPlan) -> dict[str, list[Any]]:
        """Each feature's values in row order, once every row is known to have exactly the schema's keys.

        Equal key counts plus every name present means no row has a key too many or too few; both
        checks run in C. Any failure falls back to the row-by-row check, which names the first bad row.
        """
        if set(map(len, rows)) == {len(plan.names)}:
            try:
                return {name: list(map(itemgetter(name), rows)) for name in plan.names}
            except KeyError:
                pass
        for i, row in enumerate(rows):
            if len(row) != len(plan.names) or row.keys() != plan.names:
                self._raise_for_keys(i, row, plan.names)
        raise AssertionError("unreachable: the rows passed the key check")  # pragma: no cover

    def _raise_for_keys(self, i: int, row: Mapping[str, Any], names: frozenset[str]) -> None:
        extra = sorted(row.keys() - names)
        if extra:
            raise SchemaError(f"users[{i}].features.{extra[0]}", f"unknown feature; expected {self.names}")
        missing = [n for n in self.names if n not in row]
        raise SchemaError(f"users[{i}].features.{missing[0]}", "required feature is missing")

    def _record_plan(self) -> _RecordPlan:
        if self._plan is None:
            self._plan = _RecordPlan(self)
        return self._plan


# Up to this many rows are encoded row by row (cheapest for the one-user requests an API mostly
# sees); larger batches column by column.
_ROWWISE_MAX = 32
_NUMBER_TYPES = frozenset({int, float})
_STR_TYPE = frozenset({str})
_F32_MAX = float(np.finfo(np.float32).max)


class _RecordPlan:
    """Column positions and category lookups, computed once per schema."""

    def __init__(self, schema: FeatureSchema) -> None:
        self.names = frozenset(schema.names)
        self.numeric: list[str] = []
        self.numeric_cols: list[int] = []
        self.categorical: list[tuple[str, int, dict[str, int]]] = []
        j = 0
        for f in schema.features:
            if f.kind == "numeric":
                self.numeric.append(f.name)
                self.numeric_cols.append(j)
                j += 1
            else:
                assert f.categories is not None
                self.categorical.append((f.name, j, {c: k for k, c in enumerate(f.categories)}))
                j += len(f.categories)
        self.width = j


def _raise_number(i: int, name: str, value: Any) -> None:
    where = f"users[{i}].features.{name}"
    if type(value) is not float and type(value) is not int:
        raise SchemaError(where, f"must be a number, got {type(value).__name__}")
    # The models read float32: a larger magnitude would turn into infinity there.
    raise SchemaError(where, f"must be a finite number within ±{_F32_MAX:.4g} (no NaN or infinity)")


def _raise_category(f: FeatureSpec, i: int, value: Any) -> None:
    where = f"users[{i}].features.{f.name}"
    if not isinstance(value, str):
        raise SchemaError(where, f"must be a string category, got {type(value).__name__}")
    raise SchemaError(where, f"unseen category {value!r}; allowed: {list(f.categories or ())}")
