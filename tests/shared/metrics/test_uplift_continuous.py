"""Qini and uplift by decile on a continuous outcome, against a direct loop and a pandas computation."""

import numpy as np
import pandas as pd
import pytest

from shared.metrics import qini_curve, uplift_by_decile


def loop_qini(y, t, u):
    """The textbook definition, one distinct score at a time."""
    order = np.argsort(-u, kind="stable")
    xs, qs = [0], [0.0]
    for cut in sorted(set(u.tolist()), reverse=True):
        top = order[u[order] >= cut]
        yt = y[top][t[top] == 1].sum()
        yc = y[top][t[top] == 0].sum()
        nt, nc = (t[top] == 1).sum(), (t[top] == 0).sum()
        xs.append(len(top))
        qs.append(yt - yc * nt / nc if nc else 0.0)
    return np.array(xs), np.array(qs)


def test_qini_curve_on_spend_matches_the_definition():
    rng = np.random.default_rng(3)
    n = 400
    t = rng.integers(0, 2, n)
    y = np.round(rng.exponential(30, n) * (rng.random(n) < 0.2), 2)
    u = np.round(rng.normal(size=n), 1)  # ties on purpose
    x, q = qini_curve(y, t, u)
    xr, qr = loop_qini(y, t, u)
    np.testing.assert_array_equal(x, xr)
    np.testing.assert_allclose(q, qr, rtol=1e-12, atol=1e-9)


def test_uplift_by_decile_on_spend_matches_pandas():
    rng = np.random.default_rng(4)
    n = 5000
    t = rng.integers(0, 2, n)
    u = rng.normal(size=n)
    y = rng.exponential(20, n) + t * np.where(u > 1, 15.0, 0.0)
    rows = uplift_by_decile(y, t, u)
    frame = pd.DataFrame({"y": y, "t": t, "u": u}).sort_values("u", ascending=False, kind="stable")
    frame["bin"] = np.repeat(np.arange(10), n // 10)
    means = frame.groupby(["bin", "t"])["y"].mean().unstack()
    np.testing.assert_allclose([r["uplift"] for r in rows], means[1] - means[0], rtol=1e-10)
    # The top decile (u > 1.28) holds the +15 effect; the bottom one none.
    assert rows[0]["uplift"] == pytest.approx(15, abs=4)
    assert abs(rows[-1]["uplift"]) < 4
