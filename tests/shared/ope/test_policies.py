"""The shared evaluation behind the CLI and GET /campaigns/{id}/evaluation: live-log entries, the contrast."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from shared.assignment_log import LogEntry, make_row
from shared.ope import doubly_robust, ips
from shared.ope.policies import evaluate_log, logged_from_entries, served_minus_none


def _entries(n: int, seed: int) -> list[LogEntry]:
    """Treated with probability 0.4; conversion 0.3 under control, 0.5 treated: served 0.38, none 0.3."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        treated = bool(rng.random() < 0.4)
        reward = float(rng.random() < (0.5 if treated else 0.3))
        row = make_row(
            assignment_id=f"a{i}",
            user_id=f"u{i}",
            features={"x": i},
            arm="treatment" if treated else "control",
            propensity=0.4 if treated else 0.6,
            segment="Neutral",
            model_version="v1",
            policy="test",
            campaign_id="cmp_1",
            assigned_at=datetime(2030, 1, 1, tzinfo=UTC),
        )
        out.append(LogEntry(row, None if i % 10 == 0 else reward))  # a tenth without feedback yet
    return out


def test_entries_become_the_rewarded_rows() -> None:
    data = logged_from_entries(_entries(100, 1), "control", "campaign cmp_1")
    assert data.arms == ["control", "treatment"] and data.dropped_unrewarded == 10 and len(data.frame) == 90
    with pytest.raises(ValueError, match="no rewarded assignment"):
        logged_from_entries(_entries(1, 1), "control", "campaign cmp_1")


def test_served_minus_none_is_the_mean_reward_minus_dr_of_treat_none() -> None:
    data = logged_from_entries(_entries(4000, 2), "control", "c")
    arm, r = data.frame["arm"].to_numpy(), data.frame["reward"].to_numpy(dtype=float)
    p = data.frame["propensity"].to_numpy(dtype=float)
    q = np.tile([0.25, 0.45], (len(r), 1))
    got = served_minus_none(data, q, n_bootstrap=300, level=0.9, seed=3)
    none = doubly_robust(arm, r, p, np.tile([1.0, 0.0], (len(r), 1)), q, data.arms, n_bootstrap=2)
    assert got.value == pytest.approx(r.mean() - none.value, abs=1e-12)
    # With q = 0, treat-none's DR is its IPS: the closed form.
    zero = served_minus_none(data, np.zeros_like(q), n_bootstrap=300, level=0.9, seed=3)
    t = (arm == "control").astype(float)
    assert zero.value == pytest.approx(r.mean() - ips(arm, r, p, t, n_bootstrap=2).value, abs=1e-12)
    assert got.low < 0.08 < got.high  # the truth: 0.4 × (0.5 − 0.3)
    assert got.seed == 3 and got.level == 0.9


def test_evaluate_log_reports_served_all_and_none() -> None:
    data = logged_from_entries(_entries(2000, 4), "control", "c")
    reports = evaluate_log(data, [], value=1.0, cost=0.0, n_bootstrap=200, level=0.9, seed=0)
    names = [r.policy for r in reports]
    assert names == ["treat-none", "treat-all", "logged"]
    truth = {"treat-none": 0.3, "treat-all": 0.5, "logged": 0.38}
    for report in reports:
        dr = next(e for e in report.estimates if e.estimator == "dr")
        assert dr.low < truth[report.policy] < dr.high, report.policy
