"""`uplift prepare` from the command line: bad input exits 2 with one line; the RetailRocket preset;
`uplift generate --events`."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app

runner = CliRunner()

EVENTS = pd.DataFrame(
    {
        "timestamp": ["2024-01-01T10:00:00Z", "2024-01-02T10:00:00Z", "2024-01-03T10:00:00Z"],
        "user_id": ["u1", "u1", "u2"],
        "event": ["view", "click", "purchase"],
        "item_id": [1, 1, 2],
        "revenue": [None, None, 12.5],
    }
)
EXPOSURES = pd.DataFrame(
    {
        "user_id": ["u1", "u2"],
        "variant": ["A", "B"],
        "exposed_at": ["2024-01-01T12:00:00Z", "2024-01-02T00:00:00Z"],
    }
)


def _write(tmp_path, events=EVENTS, exposures=EXPOSURES):
    events.to_csv(tmp_path / "events.csv", index=False)
    exposures.to_csv(tmp_path / "exposures.csv", index=False)


def _prepare(tmp_path, *extra):
    args = [
        "prepare",
        "--events",
        str(tmp_path / "events.csv"),
        "--exposures",
        str(tmp_path / "exposures.csv"),
    ]
    return runner.invoke(app, [*args, "--out", str(tmp_path / "table.parquet"), *extra])


def _one_line_error(res, *parts):
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def test_good_input_prints_summary_and_next_step(tmp_path):
    _write(tmp_path)
    res = _prepare(tmp_path)
    assert res.exit_code == 0, res.output
    assert "prepared 2 users" in res.output and "--outcome purchased" in res.output
    table = pd.read_parquet(tmp_path / "table.parquet").set_index("user_id")
    assert table.loc["u1", "clicked"] == 1 and table.loc["u1", "view_7d"] == 1
    assert table.loc["u2", "purchased"] == 1 and table.loc["u2", "revenue"] == 12.5


def test_missing_column(tmp_path):
    _write(tmp_path, events=EVENTS.drop(columns="item_id"))
    _one_line_error(_prepare(tmp_path), "--events", "events.csv", "'item_id'", "is missing")


def test_missing_exposure_column(tmp_path):
    _write(tmp_path, exposures=EXPOSURES.drop(columns="variant"))
    _one_line_error(_prepare(tmp_path), "--exposures", "exposures.csv", "'variant'", "is missing")


def test_unknown_event_name(tmp_path):
    _write(tmp_path, events=EVENTS.assign(event=["view", "tap", "purchase"]))
    line = _one_line_error(
        _prepare(tmp_path), "--events", "events.csv", "'event'", "unknown event name 'tap'"
    )
    assert "--event-map" in line
    assert _prepare(tmp_path, "--event-map", "tap=click").exit_code == 0


def test_unparsable_timestamp(tmp_path):
    _write(tmp_path, events=EVENTS.assign(timestamp=["2024-01-01T10:00:00Z", "yesterday", "2024-01-03"]))
    _one_line_error(_prepare(tmp_path), "--events", "events.csv", "'timestamp'", "'yesterday'", "ISO-8601")


def test_unparsable_exposure_time(tmp_path):
    _write(tmp_path, exposures=EXPOSURES.assign(exposed_at=["2024-01-01", "13/01/2024"]))
    _one_line_error(_prepare(tmp_path), "--exposures", "exposures.csv", "'exposed_at'", "'13/01/2024'")


def test_duplicate_users_in_exposures(tmp_path):
    dup = pd.concat([EXPOSURES, EXPOSURES.iloc[[0]]])
    _write(tmp_path, exposures=dup)
    _one_line_error(_prepare(tmp_path), "--exposures", "exposures.csv", "'user_id'", "'u1' appears 2 times")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--window-days", "0", "--window-days: must be finite and positive"),
        ("--lookback-days", "-1", "--lookback-days: must be a positive integer"),
        ("--event-map", "tap", "--event-map: must be SOURCE=EVENT pairs"),
        ("--event-map", "tap=tapped", "--event-map: 'tap' maps to 'tapped'"),
        ("--column-map", "who=visitor", "--column-map: must be NAME=SOURCE"),
    ],
)
def test_bad_options(tmp_path, option, value, message):
    _write(tmp_path)
    _one_line_error(_prepare(tmp_path, option, value), message)


def test_retailrocket_preset(tmp_path):
    raw = pd.DataFrame(
        {
            "timestamp": [1_704_103_200_000, 1_704_189_600_000, 1_704_189_700_000, 1_704_276_000_000],
            "visitorid": [7, 7, 7, 8],
            "event": ["view", "addtocart", "transaction", "view"],
            "itemid": [55, 55, 55, 56],
            "transactionid": [None, None, 4.0, None],
        }
    )
    exposures = pd.DataFrame(
        {"user_id": [7, 8, 9], "variant": ["A", "B", "B"], "exposed_at": [1_704_110_000_000] * 3}
    )
    _write(tmp_path, events=raw, exposures=exposures)
    assert _prepare(tmp_path).exit_code == 2  # the canonical layout has no user_id column here
    res = _prepare(tmp_path, "--preset", "retailrocket")
    assert res.exit_code == 0, res.output
    table = pd.read_parquet(tmp_path / "table.parquet").set_index("user_id")
    assert table.loc[7, "view_7d"] == 1  # the view at ...103_200_000 is before exposure
    assert table.loc[7, "added_to_cart"] == 1 and table.loc[7, "purchased"] == 1
    assert table.loc[7, "attributed_purchases"] == 1  # the transaction follows the cart add of item 55
    assert table.loc[8, "viewed"] == 1 and table.loc[9].drop(["variant", "exposure_day"]).sum() == 30.0


def test_generate_events_writes_three_files(tmp_path):
    out = tmp_path / "clicks.parquet"
    res = runner.invoke(app, ["generate", "--events", "--rows", "500", "--seed", "5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    events = pd.read_parquet(out)
    exposures = pd.read_parquet(tmp_path / "clicks.exposures.parquet")
    truth = pd.read_parquet(tmp_path / "clicks.truth.parquet")
    assert set(events["event"].astype(str)) == {"view", "click", "add_to_cart", "purchase"}
    assert exposures["user_id"].is_unique and set(exposures["variant"]) == {"control", "treatment"}
    assert list(truth["user_id"]) == list(exposures["user_id"])
    again = tmp_path / "again.parquet"
    runner.invoke(app, ["generate", "--events", "--rows", "500", "--seed", "5", "--out", str(again)])
    pd.testing.assert_frame_equal(events, pd.read_parquet(again))  # seeded
    bad = runner.invoke(app, ["generate", "--events", "--rows", "5", "--out", str(tmp_path / "x.json")])
    _one_line_error(bad, "--out: with --events must be a .parquet or .csv file")
