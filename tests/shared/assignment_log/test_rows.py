"""Row validation, the canonical features hash, and URL selection of the backend."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.assignment_log import canonical_json, features_hash, make_row, open_log


def _row(**kw: object):  # type: ignore[no-untyped-def]
    args: dict = {
        "assignment_id": "a1",
        "user_id": "u1",
        "features": {"b": 1, "a": [1.5, "x"]},
        "arm": "treatment",
        "propensity": 0.4,
        "segment": "s0",
        "model_version": "v1",
        "policy": "thompson",
    }
    args.update(kw)
    return make_row(**args)


def test_features_hash_is_sha256_of_sorted_compact_json() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "x"]}) == '{"a":[1.5,"x"],"b":1}'
    expected = hashlib.sha256(b'{"a":[1.5,"x"],"b":1}').hexdigest()
    assert features_hash({"b": 1, "a": [1.5, "x"]}) == expected == _row().features_hash
    assert _row(keep_features=False).features_json is None


def test_assigned_at_is_converted_to_utc() -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 5, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    assert _row(assigned_at=local).assigned_at == datetime(2026, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"propensity": 0.0}, r"propensity: must be a probability in \(0, 1\]"),
        ({"propensity": float("nan")}, "propensity: must be a probability"),
        ({"arm": ""}, "arm: must be a non-empty string"),
        ({"assignment_id": 5}, "assignment_id: must be a non-empty string"),
        ({"features": {"x": float("nan")}}, "features: must be JSON without NaN"),
        ({"features": {"x": object()}}, "features: must be JSON-serialisable"),
        ({"assigned_at": datetime(2026, 1, 1)}, "assigned_at: must be a timezone-aware"),
        ({"campaign_id": ""}, "campaign_id: must be a non-empty string"),
    ],
)
def test_bad_rows_name_the_field(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _row(**kw)


def test_features_json_must_match_its_hash() -> None:
    with pytest.raises(ValueError, match="features_json: its sha256 does not match features_hash"):
        replace(_row(), features_json='{"a":2}')
    with pytest.raises(ValueError, match="features_hash: must be 64 lowercase hex digits"):
        replace(_row(), features_hash="abc", features_json=None)


def test_open_log_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="url: must start with sqlite:/// or postgresql://, got 'redis'"):
        open_log("redis://localhost")
    with pytest.raises(ValueError, match="url: sqlite:/// needs a file path"):
        open_log("sqlite:///")


def test_postgres_that_does_not_answer_is_a_clear_error() -> None:
    with pytest.raises(
        ConnectionError, match=r"PostgreSQL at postgresql://u:\*\*\*@127.0.0.1:1/x does not answer"
    ):
        open_log("postgresql://u:secret@127.0.0.1:1/x")
