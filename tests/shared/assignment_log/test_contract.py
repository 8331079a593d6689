"""The assignment-log contract, run against every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shared.assignment_log import EXPORT_SCHEMA, AssignmentLog, LogRow, features_hash, make_row, open_log


def _row(i: int, *, campaign: str | None = "c1", at: datetime | None = None, keep: bool = True) -> LogRow:
    return make_row(
        assignment_id=f"a{i:05d}",
        user_id=f"u{i}",
        features={"age": 30 + i % 7, "country": "fr", "score": i / 10},
        arm="treatment" if i % 2 else "control",
        propensity=0.25 + (i % 3) / 4,
        segment=f"s{i % 4}",
        model_version="v1",
        policy="thompson",
        campaign_id=campaign,
        keep_features=keep,
        assigned_at=at or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
    )


def test_record_then_read_back_every_field(log: AssignmentLog) -> None:
    rows = [_row(i) for i in range(5)] + [_row(5, campaign=None, keep=False)]
    assert log.record(rows) == 6
    assert log.count() == 6
    got = list(log.iter_rows())
    assert [e.row for e in got] == rows
    assert all(e.reward is None and e.rewarded_at is None for e in got)
    assert got[0].row.features_hash == features_hash({"score": 0.0, "country": "fr", "age": 30})


def test_recording_an_id_again_keeps_the_first_and_counts_nothing(log: AssignmentLog) -> None:
    assert log.record([_row(1), _row(2)]) == 2
    assert log.record([_row(2), _row(3)]) == 1
    assert log.record([]) == 0
    assert log.count() == 3


def test_reward_is_idempotent_and_the_first_reward_stands(log: AssignmentLog) -> None:
    log.record([_row(1), _row(2)])
    assert log.reward("a00001", 1.0) == "applied"
    assert log.reward("a00001", 1.0) == "duplicate"
    assert log.reward("a00001", 0.0) == "conflict"
    assert log.reward("nope", 1.0) == "not_found"
    entries = {e.row.assignment_id: e for e in log.iter_rows()}
    assert entries["a00001"].reward == 1.0
    rewarded_at = entries["a00001"].rewarded_at
    assert rewarded_at is not None and rewarded_at.tzinfo is not None
    assert abs(rewarded_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert entries["a00002"].reward is None


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1", None, True])
def test_reward_must_be_a_finite_number(log: AssignmentLog, bad: object) -> None:
    log.record([_row(1)])
    with pytest.raises(ValueError, match="reward: must be a finite number"):
        log.reward("a00001", bad)  # type: ignore[arg-type]


def test_filters_by_campaign_and_since_in_time_order(log: AssignmentLog) -> None:
    base = datetime(2026, 3, 1, 12, tzinfo=UTC)
    log.record(
        [_row(i, campaign="c1" if i % 2 else "c2", at=base + timedelta(minutes=10 - i)) for i in range(10)]
    )
    c1 = [e.row for e in log.iter_rows(campaign_id="c1")]
    assert {r.campaign_id for r in c1} == {"c1"} and len(c1) == 5
    assert [r.assigned_at for r in c1] == sorted(r.assigned_at for r in c1)
    since = base + timedelta(minutes=5)
    recent = [e.row for e in log.iter_rows(since=since)]
    assert len(recent) == 6 and all(r.assigned_at >= since for r in recent)
    both = list(log.iter_rows(campaign_id="c2", since=since))
    assert len(both) == 3
    with pytest.raises(ValueError, match="since: must be a timezone-aware datetime"):
        list(log.iter_rows(since=datetime(2026, 1, 1)))


def test_purge_deletes_old_assignments_with_their_rewards(log: AssignmentLog) -> None:
    now = datetime.now(UTC)
    old = [_row(i, at=now - timedelta(days=40, hours=i)) for i in range(3)]
    fresh = [_row(i, at=now - timedelta(days=2)) for i in range(3, 5)]
    log.record(old + fresh)
    assert log.reward("a00000", 1.0) == "applied"
    assert log.reward("a00003", 0.0) == "applied"
    assert log.purge(30) == 3
    assert log.count() == 2
    assert log.purge(30) == 0
    # The purged reward went with its assignment: the id is unknown now, not a duplicate.
    assert log.reward("a00000", 1.0) == "not_found"
    assert {e.row.assignment_id: e.reward for e in log.iter_rows()} == {"a00003": 0.0, "a00004": None}
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="older_than_days: must be a positive number of days"):
            log.purge(bad)


def test_export_writes_assignments_joined_with_rewards(log: AssignmentLog, tmp_path: Path) -> None:
    log.record([_row(i) for i in range(4)])
    log.reward("a00002", 1.0)
    out = tmp_path / "log.parquet"
    assert log.export(out) == 4
    table = pq.read_table(out)
    assert table.schema.equals(EXPORT_SCHEMA)
    frame = table.to_pandas().set_index("assignment_id")
    assert frame.loc["a00002", "reward"] == 1.0
    assert frame["reward"].isna().sum() == 3
    assert frame.loc["a00001", "propensity"] == pytest.approx(0.5)
    assert str(frame["assigned_at"].dt.tz) == "UTC"
    assert not list(tmp_path.glob(".*.tmp"))


def test_export_of_an_empty_log_has_the_schema(log: AssignmentLog, tmp_path: Path) -> None:
    assert log.export(tmp_path / "empty.parquet") == 0
    assert pq.read_table(tmp_path / "empty.parquet").schema.equals(EXPORT_SCHEMA)


def test_concurrent_writers_lose_nothing(log: AssignmentLog, log_url: str) -> None:
    other = open_log(log_url)  # a second handle, as another worker process would hold
    errors: list[BaseException] = []

    def write(handle: AssignmentLog, start: int) -> None:
        try:
            for i in range(start, start + 50):
                handle.record([_row(i)])
                handle.reward(f"a{i:05d}", float(i % 2))
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(h, k * 50)) for k, h in enumerate([log, other, log, other])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert errors == []
    assert log.count() == 200
    assert sum(e.reward is not None for e in log.iter_rows()) == 200


def test_reopening_finds_the_data(log_url: str) -> None:
    with_rows = open_log(log_url)
    with_rows.record([_row(1)])
    with_rows.close()
    again = open_log(log_url)
    try:
        assert again.count() == 1
    finally:
        again.close()
