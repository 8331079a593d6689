"""The synthetic clickstream: seeded, unsorted, the hidden group's behaviour and the exact truth."""

import numpy as np
import pytest

from shared.events.synthetic import (
    DAY_MS,
    MIX_HESITANT,
    MIX_ORDINARY,
    WINDOW_DAYS,
    ClickstreamConfig,
    generate_clickstream,
)


@pytest.fixture(scope="module")
def stream():
    return generate_clickstream(ClickstreamConfig(users=4_000, seed=5))


def test_seeded_and_unsorted(stream):
    again = generate_clickstream(ClickstreamConfig(users=4_000, seed=5))
    assert stream.events.equals(again.events) and stream.exposures.equals(again.exposures)
    assert not np.all(np.diff(stream.events["timestamp"].to_numpy()) >= 0)
    other = generate_clickstream(ClickstreamConfig(users=4_000, seed=6))
    assert not stream.events["timestamp"].head(100).equals(other.events["timestamp"].head(100))


def test_exposures_one_per_user_and_some_users_never_exposed(stream):
    ex = stream.exposures
    assert ex["user_id"].is_unique
    assert set(stream.events["user_id"]) - set(ex["user_id"])  # prepare must skip these users
    assert ex["variant"].eq("treatment").mean() == pytest.approx(0.5, abs=0.03)


def test_hidden_group_shows_in_behaviour(stream):
    ev = stream.events.merge(stream.truth[["user_id", "hesitant"]], on="user_id")
    cart_share = ev.assign(cart=ev["event"] == "add_to_cart").groupby("hesitant")["cart"].mean()
    assert cart_share[True] == pytest.approx(MIX_HESITANT[2], abs=0.02)
    assert cart_share[False] == pytest.approx(MIX_ORDINARY[2], abs=0.01)


def test_truth_formula(stream):
    cfg = stream.config
    truth = stream.truth
    assert (truth.loc[~truth["hesitant"], "true_cate"] == 0).all()
    effect = truth.loc[truth["hesitant"], "true_cate"]
    # lift times P(no background purchase in the window): between 0 and the lift, near it for slow browsers
    assert ((effect > 0) & (effect <= cfg.lift)).all() and effect.max() > 0.95 * cfg.lift
    assert stream.describe()["window_days"] == WINDOW_DAYS


def test_planted_purchases_inside_the_window(stream):
    ex = stream.exposures.set_index("user_id")["exposed_at"]
    ev = stream.events[stream.events["user_id"].isin(ex.index)]
    rel = ev["timestamp"].to_numpy() - ex.loc[ev["user_id"]].to_numpy()
    post = (rel > 0) & (rel <= WINDOW_DAYS * DAY_MS)
    assert post.sum() > 0.1 * len(ev)  # outcomes exist for prepare to count


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"users": 0}, "users"), ({"treatment_share": 1.0}, "treatment_share"), ({"lift": 0.99}, "lift")],
)
def test_bad_config(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ClickstreamConfig(**{"users": 10, "seed": 1, **kwargs})
