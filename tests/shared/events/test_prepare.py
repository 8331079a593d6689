"""`prepare` on a hand-made log: every feature and outcome below is computed by hand in the comments."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from shared.events import EventLayout, PrepareOptions, prepare
from shared.events.prepare import METADATA_KEY

# (timestamp, user, event, item, revenue). u1 is exposed at 2024-01-10T00:00Z (variant A),
# u2 at 2024-01-10T12:00Z (B), u3 at 2024-01-11T00:00Z (B) has no events, u4 is never exposed.
LOG = [
    ("2023-12-01T00:00:00Z", "u1", "view", "a", None),  # 40 days before: outside the 30-day lookback
    ("2023-12-31T10:00:00Z", "u1", "view", "a", None),  # session 1 starts (10 days before)
    ("2023-12-31T10:10:00Z", "u1", "view", "b", None),
    ("2023-12-31T10:20:00Z", "u1", "add_to_cart", "a", None),
    ("2023-12-31T10:25:00Z", "u1", "purchase", "a", 20.0),  # purchase before exposure: spend, not outcome
    ("2024-01-08T12:00:00Z", "u1", "view", "c", None),  # session 2 (2 days before, inside 7 days)
    ("2024-01-08T12:20:00Z", "u1", "click", "c", None),  # 20-minute session
    ("2024-01-09T23:00:00Z", "u1", "view", "a", None),  # session 3, one event; last pre event: 1 h
    ("2024-01-10T00:00:00Z", "u1", "purchase", "b", 99.0),  # exactly at exposure: in no column
    ("2024-01-10T01:00:00Z", "u1", "view", "d", None),
    ("2024-01-10T01:05:00Z", "u1", "click", "d", None),  # attributed to the view of d 5 min earlier
    ("2024-01-10T02:00:00Z", "u1", "click", "e", None),  # no view of e: not attributed
    ("2024-01-10T03:00:00Z", "u1", "add_to_cart", "d", None),
    ("2024-01-10T04:00:00Z", "u1", "purchase", "d", 30.0),  # attributed to the click/cart of d
    ("2024-01-24T00:00:00Z", "u1", "purchase", "e", 10.0),  # exactly at the window's end: counted
    ("2024-01-24T00:00:00.001Z", "u1", "purchase", "f", 1000.0),  # 1 ms past the window: not counted
    ("2024-01-09T12:00:00Z", "u2", "purchase", "y", 5.0),  # 1 day before u2's exposure
    ("2024-01-10T13:00:00Z", "u2", "view", "x", None),
    ("2024-01-10T13:00:00Z", "u2", "click", "x", None),  # same instant as the view: ties count
    ("2024-01-10T05:00:00Z", "u4", "purchase", "a", 50.0),  # never exposed: ignored
]
EXPOSURES = [
    ("u1", "A", "2024-01-10T00:00:00Z"),
    ("u2", "B", "2024-01-10T12:00:00Z"),
    ("u3", "B", "2024-01-11"),
]

EXPECTED = {
    "u1": dict(
        view_7d=2, click_7d=1, add_to_cart_7d=0, purchase_7d=0,
        view_30d=4, click_30d=1, add_to_cart_30d=1, purchase_30d=1,
        days_since_last_event=1 / 24, sessions_30d=3, mean_session_minutes_30d=(25 + 20 + 0) / 3,
        distinct_items_30d=3, spend_30d=20.0,
        viewed=1, clicked=1, added_to_cart=1, purchased=1, revenue=40.0,
        attributed_clicks=1, attributed_purchases=1, exposure_day="2024-01-10", variant="A",
    ),
    "u2": dict(
        view_7d=0, click_7d=0, add_to_cart_7d=0, purchase_7d=1,
        view_30d=0, click_30d=0, add_to_cart_30d=0, purchase_30d=1,
        days_since_last_event=1.0, sessions_30d=1, mean_session_minutes_30d=0.0,
        distinct_items_30d=1, spend_30d=5.0,
        viewed=1, clicked=1, added_to_cart=0, purchased=0, revenue=0.0,
        attributed_clicks=1, attributed_purchases=0, exposure_day="2024-01-10", variant="B",
    ),
    "u3": dict(
        view_7d=0, click_7d=0, add_to_cart_7d=0, purchase_7d=0,
        view_30d=0, click_30d=0, add_to_cart_30d=0, purchase_30d=0,
        days_since_last_event=30.0, sessions_30d=0, mean_session_minutes_30d=0.0,
        distinct_items_30d=0, spend_30d=0.0,
        viewed=0, clicked=0, added_to_cart=0, purchased=0, revenue=0.0,
        attributed_clicks=0, attributed_purchases=0, exposure_day="2024-01-11", variant="B",
    ),
}  # fmt: skip


def _files(tmp_path, seed=3):
    events = pd.DataFrame(LOG, columns=["timestamp", "user_id", "event", "item_id", "revenue"])
    events = events.sample(frac=1.0, random_state=np.random.default_rng(seed))  # unsorted input
    exposures = pd.DataFrame(EXPOSURES, columns=["user_id", "variant", "exposed_at"])
    events.to_csv(tmp_path / "events.csv", index=False)
    exposures.to_csv(tmp_path / "exposures.csv", index=False)
    return events, exposures


def _check(table: pd.DataFrame) -> None:
    assert list(table["user_id"]) == ["u1", "u2", "u3"]
    for user, expected in EXPECTED.items():
        row = table.set_index("user_id").loc[user]
        for column, value in expected.items():
            if isinstance(value, float):
                assert row[column] == pytest.approx(value, abs=1e-12), (user, column)
            else:
                assert row[column] == value, (user, column)


def test_hand_made_log_csv_iso(tmp_path):
    _files(tmp_path)
    out = tmp_path / "table.parquet"
    summary = prepare(tmp_path / "events.csv", tmp_path / "exposures.csv", out)
    table = pd.read_parquet(out)
    _check(table)
    assert summary.users == 3 and summary.users_without_events == 1
    assert summary.events_read == len(LOG)
    assert summary.events_kept == len(LOG) - 3  # the 40-day-old view, the purchase past the window, u4
    meta = json.loads(pq.read_schema(out).metadata[METADATA_KEY])
    assert meta["options"]["window_days"] == 14 and "revenue" in meta["outcomes"]


def test_same_log_as_parquet_epoch_ms_in_small_batches_and_buckets(tmp_path):
    events, exposures = _files(tmp_path, seed=9)
    parsed = pd.to_datetime(events["timestamp"], format="ISO8601", utc=True)
    events["timestamp"] = (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    events.to_parquet(tmp_path / "events.parquet", index=False)
    out = tmp_path / "table.parquet"
    opts = PrepareOptions(batch_rows=3, bucket_events=4)  # 7 batches, 5 buckets
    summary = prepare(tmp_path / "events.parquet", tmp_path / "exposures.csv", out, options=opts)
    assert summary.buckets == 5
    _check(pd.read_parquet(out))


def test_mapped_event_names_and_columns(tmp_path):
    events, _ = _files(tmp_path)
    renamed = events.rename(columns={"user_id": "visitor", "item_id": "sku", "timestamp": "ts"})
    renamed["event"] = renamed["event"].replace({"add_to_cart": "cart", "purchase": "buy"})
    renamed.to_csv(tmp_path / "raw.csv", index=False)
    layout = EventLayout(
        columns={"timestamp": "ts", "user_id": "visitor", "event": "event", "item_id": "sku"},
        events={"cart": "add_to_cart", "buy": "purchase"},
    )
    out = tmp_path / "table.parquet"
    prepare(tmp_path / "raw.csv", tmp_path / "exposures.csv", out, layout=layout)
    _check(pd.read_parquet(out))


def test_shorter_window_and_session_gap(tmp_path):
    _files(tmp_path)
    out = tmp_path / "table.parquet"
    opts = PrepareOptions(window_days=1, session_gap_minutes=5, attribution_hours=0.05)  # 3 minutes
    prepare(tmp_path / "events.csv", tmp_path / "exposures.csv", out, options=opts)
    row = pd.read_parquet(out).set_index("user_id").loc["u1"]
    assert row["revenue"] == 30.0  # the purchase at +14 days is now outside the window
    # gaps of 10, 10, 5 minutes in session 1: 10 > 5 splits, 5 does not → 3 sessions there (0, 0, 5 min),
    # and the 20-minute gap on 2024-01-08 splits session 2: 6 sessions, 5 minutes in all
    assert row["sessions_30d"] == 6
    assert row["mean_session_minutes_30d"] == pytest.approx(5 / 6)
    assert row["attributed_clicks"] == 0  # the view of d came 5 minutes before: beyond 3 minutes


def test_csv_blocks_with_whole_seconds_first_and_milliseconds_later(tmp_path, monkeypatch):
    from shared.events import readers

    monkeypatch.setattr(readers, "_CSV_BLOCK_BYTES", 256)  # many blocks: types come from the first one
    _files(tmp_path)
    events = pd.read_csv(tmp_path / "events.csv").sort_values("timestamp")  # the .001 value comes last
    events.to_csv(tmp_path / "events.csv", index=False)
    out = tmp_path / "table.parquet"
    prepare(tmp_path / "events.csv", tmp_path / "exposures.csv", out)
    _check(pd.read_parquet(out))


def test_timestamp_units_floor_to_milliseconds():
    import pyarrow as pa

    from shared.events.readers import to_epoch_ms

    ns = pa.array([1_500_000_999_999, -1], pa.timestamp("ns", tz="UTC"))
    assert list(to_epoch_ms(ns, "f", "t")) == [1_500_000, -1]
    assert list(to_epoch_ms(pa.array([2], pa.timestamp("s")), "f", "t")) == [2_000]
    assert list(to_epoch_ms(pa.array([1.0e12]), "f", "t")) == [10**12]
    with pytest.raises(ValueError, match="whole epoch milliseconds"):
        to_epoch_ms(pa.array([1.5]), "f", "t")
