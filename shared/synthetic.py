"""A seeded synthetic "hard market": an e-commerce shop tests personalized recommendations
(treatment, served by the ranker) against top sellers (control).

Why it is hard: the effect lives in small, non-linear pockets defined by interactions of numeric
and categorical features; the users who buy most (Sure Things) are *not* the ones the treatment
moves, so a response model targets the wrong people; Sleeping Dogs (loyal recent buyers who find
recommendations intrusive) are hurt by treatment; several features are pure noise.

Why it is fair: the response type is a deterministic function of the observed features (it is
latent only in that it is not a column the model sees), and the exact effect p1 - p0 of every user
is written to ``true_cate``, so every metric can be compared with the oracle.

``MarketConfig.shape`` swaps the effect and baseline for another market of known truth (smooth, rare,
continuous spend, null); those live in ``shared.synthetic_shapes``. Features, catalog and impressions
are the same for every shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from shared.shape_names import SHAPES, SPEND_COLUMN, outcome_column
from shared.synthetic_shapes import ShapeTruth, draw_spend, shape_truth

RESPONSE_TYPES = ("Persuadable", "Sure Thing", "Lost Cause", "Sleeping Dog", "Neutral")
LOYALTY = ("none", "bronze", "silver", "gold")
DEVICES = ("mobile", "desktop", "tablet")
REGIONS = ("north", "south", "east", "west", "central")
CHANNELS = ("organic", "paid_search", "social", "email", "referral")
ITEM_CATEGORIES = ("fashion", "electronics", "home", "beauty", "sports", "books", "toys", "grocery")

# Columns the generator writes that a model must never see as features (multi-arm markets add
# ``p_arm<k>`` and ``true_cate_<k>`` per treatment arm; the continuous shape writes ``p_buy_<arm>``
# and ``expected_spend_<arm>`` instead of ``p_<arm>``; ``is_truth_column`` covers them all).
TRUTH_COLUMNS = ("true_cate", "p_control", "p_treated", "response_type")
ID_COLUMN = "user_id"
TREATMENT_COLUMN = "treatment"
OUTCOME_COLUMN = "conversion"
REVENUE_COLUMN = "revenue"


@dataclass(frozen=True)
class MarketConfig:
    rows: int
    seed: int
    treatment_share: float = 0.5
    n_items: int = 200
    impression_users: int = 60_000
    impressions_per_user: int = 10
    # Arms including control: 2 is the recommendations-vs-top-sellers test; 3 adds a discount coupon.
    n_arms: int = 2
    # Which effect/baseline the users get (see shared.synthetic_shapes.SHAPE_HELP); "hard" is the default.
    shape: str = "hard"

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape: must be one of {', '.join(SHAPES)}, got {self.shape!r}")
        if self.n_arms not in (2, 3):
            raise ValueError(f"n_arms: must be 2 or 3 (control, recommendations, coupon), got {self.n_arms}")
        if self.rows <= 0:
            raise ValueError(f"rows: must be a positive integer, got {self.rows}")
        if not 0.0 < self.treatment_share < 1.0:
            raise ValueError(
                f"treatment_share (propensity): must be strictly between 0 and 1, got {self.treatment_share}"
            )
        if self.n_items < 20:
            raise ValueError(f"n_items: must be at least 20, got {self.n_items}")
        if self.impressions_per_user < 2:
            raise ValueError(f"impressions_per_user: must be at least 2, got {self.impressions_per_user}")


@dataclass
class Market:
    users: pd.DataFrame
    catalog: pd.DataFrame
    impressions: pd.DataFrame
    config: MarketConfig

    @property
    def outcome(self) -> str:
        """The outcome column a model learns: ``conversion`` (0/1), or ``spend`` for the continuous shape."""
        return outcome_column(self.config.shape)

    def describe(self) -> dict[str, object]:
        u = self.users
        out: dict[str, object] = {
            "source": "synthetic",
            **asdict(self.config),
            "treated_share": float((u[TREATMENT_COLUMN] != 0).mean()),
            "outcome": self.outcome,
            "conversion_rate": float(u[OUTCOME_COLUMN].mean()),
        }
        if self.outcome == SPEND_COLUMN:
            out["mean_spend"] = float(u[SPEND_COLUMN].mean())
        if self.config.n_arms == 2:
            out["true_ate"] = float(u["true_cate"].mean())
        else:
            out["true_ate"] = {str(k): float(u[truth_column(k)].mean()) for k in range(1, self.config.n_arms)}
        return {
            **out,
            "response_type_shares": {
                k: float(v) for k, v in u["response_type"].value_counts(normalize=True).items()
            },
        }


def truth_column(arm: object) -> str:
    """Column holding the true effect of ``arm`` against control in a multi-arm market."""
    return f"true_cate_{arm}"


def is_truth_column(name: str) -> bool:
    return name in TRUTH_COLUMNS or name.startswith(("true_cate_", "p_arm", "p_buy_", "expected_spend_"))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _pick(rng: np.random.Generator, labels: tuple[str, ...], probs: list[float], n: int) -> np.ndarray:
    return rng.choice(np.array(labels, dtype=object), size=n, p=probs)


def _user_features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    loyalty = _pick(rng, LOYALTY, [0.45, 0.25, 0.18, 0.12], n)
    device = _pick(rng, DEVICES, [0.55, 0.35, 0.10], n)
    region = _pick(rng, REGIONS, [0.22, 0.22, 0.20, 0.20, 0.16], n)
    channel = _pick(rng, CHANNELS, [0.30, 0.25, 0.20, 0.15, 0.10], n)
    age = np.clip(rng.normal(40, 13, n), 18, 85).round()
    tenure_days = np.floor(rng.gamma(2.0, 250.0, n))
    sessions_30d = rng.poisson(np.where(loyalty == "gold", 9.0, 4.0))
    cart_adds_30d = rng.binomial(sessions_30d, 0.3)
    days_since_purchase = np.floor(rng.exponential(60.0, n))
    avg_order_value = np.round(np.exp(rng.normal(3.8, 0.5, n)), 2)
    discount_affinity = rng.beta(2.0, 3.0, n)
    email_opt_in = (rng.random(n) < 0.6).astype(np.int8)
    # Pure noise: a model that leans on these is overfitting.
    noise_a = rng.normal(0, 1, n)
    noise_b = _pick(rng, ("x", "y", "z"), [0.4, 0.4, 0.2], n)
    return pd.DataFrame(
        {
            "age": age,
            "tenure_days": tenure_days,
            "sessions_30d": sessions_30d.astype(np.float64),
            "cart_adds_30d": cart_adds_30d.astype(np.float64),
            "days_since_purchase": days_since_purchase,
            "avg_order_value": avg_order_value,
            "discount_affinity": np.round(discount_affinity, 4),
            "email_opt_in": email_opt_in.astype(np.float64),
            "loyalty_tier": loyalty,
            "device": device,
            "region": region,
            "channel": channel,
            "noise_numeric": np.round(noise_a, 4),
            "noise_category": noise_b,
        }
    )


def _response_types(f: pd.DataFrame) -> np.ndarray:
    """Deterministic, non-linear rules over numeric and categorical features; order gives priority."""
    loyal = f["loyalty_tier"].isin(["silver", "gold"]).to_numpy()
    recent = (f["days_since_purchase"] < 20).to_numpy()
    sleeping = (loyal & recent & (f["channel"] != "social").to_numpy()) | (
        (f["age"] > 60).to_numpy()
        & (f["device"] == "desktop").to_numpy()
        & (f["email_opt_in"] == 0).to_numpy()
    )
    persuadable = (
        (f["discount_affinity"] > 0.5).to_numpy()
        & (f["sessions_30d"].between(3, 10)).to_numpy()
        & f["loyalty_tier"].isin(["none", "bronze"]).to_numpy()
    ) | (
        (f["device"] == "mobile").to_numpy()
        & f["region"].isin(["south", "east"]).to_numpy()
        & (f["cart_adds_30d"] >= 2).to_numpy()
        & (f["age"] < 35).to_numpy()
    )
    sure = (f["cart_adds_30d"] >= 3).to_numpy() & (f["avg_order_value"] > 40).to_numpy()
    lost = (f["sessions_30d"] <= 1).to_numpy() & (f["days_since_purchase"] > 90).to_numpy()
    out = np.full(len(f), "Neutral", dtype=object)
    out[lost] = "Lost Cause"
    out[sure] = "Sure Thing"
    out[persuadable] = "Persuadable"
    out[sleeping] = "Sleeping Dog"
    return out


def _outcome_logits(f: pd.DataFrame, rtype: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baseline logit b(x) and treatment shift t(x): p0 = σ(b), p1 = σ(b + t)."""
    loyalty_bonus = f["loyalty_tier"].map({"none": 0.0, "bronze": 0.2, "silver": 0.4, "gold": 0.6}).to_numpy()
    b = (
        -2.6
        + 0.35 * np.log1p(f["sessions_30d"].to_numpy())
        + 0.15 * f["cart_adds_30d"].to_numpy().clip(0, 6)
        + loyalty_bonus
        - 0.004 * f["days_since_purchase"].to_numpy().clip(0, 300)
        + 0.25 * (f["device"] == "desktop").to_numpy()
    )
    b = np.where(rtype == "Sure Thing", b + 1.8, b)
    b = np.where(rtype == "Lost Cause", b - 2.0, b)
    # Sleeping Dogs are engaged buyers: their high baseline is what the treatment erodes.
    b = np.where(rtype == "Sleeping Dog", b + 0.8, b)
    aff = f["discount_affinity"].to_numpy()
    t = np.zeros(len(f))
    # Smooth heterogeneity inside each active type keeps CATE continuous, not just three spikes.
    t = np.where(rtype == "Persuadable", 0.8 + 1.0 * aff, t)
    t = np.where(rtype == "Sleeping Dog", -1.0 - 0.4 * (f["loyalty_tier"] == "gold").to_numpy(), t)
    return b, t


def _hard_truth(f: pd.DataFrame, n_arms: int) -> ShapeTruth:
    rtype = _response_types(f)
    b, t = _outcome_logits(f, rtype)
    p = [_sigmoid(b), _sigmoid(b + t), _sigmoid(b + _coupon_shift(f))]
    return ShapeTruth(p_buy=p[:n_arms], basket=None, response_type=rtype)


def _coupon_shift(f: pd.DataFrame) -> np.ndarray:
    """Logit shift of the third arm (a discount coupon): it moves deal seekers, not loyal members.

    Deliberately different from the recommendation arm's pockets, so a learner that merely copies
    one arm's effect to the other fails the per-arm recovery test.
    """
    aff = f["discount_affinity"].to_numpy()
    gold = (f["loyalty_tier"] == "gold").to_numpy()
    return np.where(aff > 0.5, 0.6 + 1.5 * (aff - 0.5), 0.0) - np.where(gold, 0.5, 0.0)


def _catalog(rng: np.random.Generator, n_items: int) -> pd.DataFrame:
    cats = rng.choice(np.array(ITEM_CATEGORIES, dtype=object), size=n_items)
    price = np.round(np.exp(rng.normal(3.6, 0.8, n_items)), 2)
    quality = np.round(rng.beta(5, 2, n_items), 4)
    return pd.DataFrame(
        {
            "item_id": [f"item_{i:04d}" for i in range(n_items)],
            "item_category": cats,
            "price": price,
            "quality": quality,
            "discount": np.round(rng.choice([0.0, 0.1, 0.2, 0.3], size=n_items, p=[0.6, 0.2, 0.15, 0.05]), 2),
        }
    )


def item_relevance(users: pd.DataFrame, items: pd.DataFrame) -> np.ndarray:
    """True click logit for aligned (user, item) rows: taste by age/device/region, price fit, quality."""
    cat = items["item_category"].to_numpy()
    age = users["age"].to_numpy()
    young = age < 30
    old = age > 55
    taste = np.zeros(len(cat))
    taste += np.where((cat == "electronics") & (users["device"].to_numpy() == "desktop"), 1.0, 0.0)
    taste += np.where((cat == "fashion") & young, 1.1, 0.0)
    taste += np.where((cat == "books") & old, 1.2, 0.0)
    taste += np.where((cat == "toys") & (age > 30) & (age < 45), 0.8, 0.0)
    taste += np.where((cat == "sports") & users["region"].isin(["west", "north"]).to_numpy(), 0.7, 0.0)
    taste += np.where((cat == "beauty") & (users["channel"].to_numpy() == "social"), 0.9, 0.0)
    price_fit = -1.2 * np.abs(np.log(items["price"].to_numpy() / users["avg_order_value"].to_numpy()))
    deal = 2.0 * items["discount"].to_numpy() * users["discount_affinity"].to_numpy()
    return -1.8 + taste + price_fit + 1.0 * items["quality"].to_numpy() + deal


def _impressions(
    rng: np.random.Generator, users: pd.DataFrame, catalog: pd.DataFrame, n_users: int, per_user: int
) -> pd.DataFrame:
    n_users = min(n_users, len(users))
    who = rng.choice(len(users), size=n_users, replace=False)
    # Shown items follow popularity (quality), as a live site's log would, not uniform sampling.
    weights = catalog["quality"].to_numpy() ** 2
    weights = weights / weights.sum()
    # Gumbel top-k: a vectorized draw of `per_user` distinct items per user with these weights.
    keys = np.log(weights)[None, :] - np.log(-np.log(rng.random((n_users, len(catalog)))))
    items = np.argpartition(-keys, per_user, axis=1)[:, :per_user]
    u_idx = np.repeat(who, per_user)
    i_idx = items.ravel()
    u = users.iloc[u_idx].reset_index(drop=True)
    it = catalog.iloc[i_idx].reset_index(drop=True)
    clicked = rng.random(len(u_idx)) < _sigmoid(item_relevance(u, it))
    return pd.DataFrame(
        {
            "user_id": u[ID_COLUMN].to_numpy(),
            "item_id": it["item_id"].to_numpy(),
            "position": np.tile(np.arange(per_user), n_users).astype(np.int16),
            "clicked": clicked.astype(np.int8),
        }
    )


def _ids(n: int) -> np.ndarray:
    return ("u" + pd.Series(np.arange(n)).astype(str)).to_numpy(dtype=object)


def generate_market(config: MarketConfig) -> Market:
    rng = np.random.default_rng(config.seed)
    n = config.rows
    users = _user_features(rng, n)
    users.insert(0, ID_COLUMN, _ids(n))
    if config.shape == "hard":
        truth = _hard_truth(users, config.n_arms)
    else:
        truth = shape_truth(config.shape, users, config.n_arms)
    if config.n_arms == 2:
        arm = (rng.random(n) < config.treatment_share).astype(np.int8)
    else:
        arm = _assign_arms(rng, config, n)
    converted = (rng.random(n) < np.choose(arm, truth.p_buy)).astype(np.int8)
    users[TREATMENT_COLUMN] = arm
    users[OUTCOME_COLUMN] = converted
    if truth.basket is None:
        basket = np.exp(rng.normal(0.0, 0.35, n)) * users["avg_order_value"].to_numpy()
        users[REVENUE_COLUMN] = np.round(converted * basket, 2)
    else:
        users[SPEND_COLUMN] = draw_spend(rng, np.choose(arm, truth.basket), converted)
    _write_truth(users, truth)
    catalog = _catalog(rng, config.n_items)
    impressions = _impressions(rng, users, catalog, config.impression_users, config.impressions_per_user)
    return Market(users=users, catalog=catalog, impressions=impressions, config=config)


def _write_truth(users: pd.DataFrame, truth: ShapeTruth) -> None:
    """Truth columns: the hard market's names for a 0/1 outcome; ``p_buy_*``/``expected_spend_*`` for spend."""
    expected = truth.expected
    names = ["treated"] if len(expected) == 2 else [f"arm{k}" for k in range(1, len(expected))]
    if truth.basket is None:
        users["p_control"] = expected[0]
    else:
        users["p_buy_control"] = truth.p_buy[0]
        users["expected_spend_control"] = expected[0]
    for k, name in enumerate(names, start=1):
        if truth.basket is None:
            users[f"p_{name}"] = expected[k]
        else:
            users[f"p_buy_{name}"] = truth.p_buy[k]
            users[f"expected_spend_{name}"] = expected[k]
        users["true_cate" if len(names) == 1 else truth_column(k)] = expected[k] - expected[0]
    users["response_type"] = truth.response_type


def _assign_arms(rng: np.random.Generator, config: MarketConfig, n: int) -> np.ndarray:
    """Randomize to control (1 − share) or one of the treatment arms (share split evenly)."""
    k = config.n_arms - 1
    probs = [1.0 - config.treatment_share] + [config.treatment_share / k] * k
    return rng.choice(k + 1, size=n, p=probs).astype(np.int8)


def sibling_paths(path: str) -> tuple[str, str]:
    """Where the catalog and impression log sit beside a market file (`x.parquet` → `x.catalog.parquet`)."""
    stem = path[: -len(".parquet")] if path.endswith(".parquet") else path
    return f"{stem}.catalog.parquet", f"{stem}.impressions.parquet"
