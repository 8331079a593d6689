"""A seeded synthetic clickstream and exposure file with a planted treatment effect on a hidden group.

The story: a shop exposes users to a new checkout (``treatment``) or the old one (``control``).
Users browse all along (views, clicks, cart adds, purchases at a per-user rate). A hidden group,
"hesitant carters" (a quarter of users), adds to cart often and buys rarely; the new checkout makes
them complete a purchase in the 14 days after exposure with probability ``lift`` more. Nobody else
is moved. The group is never written to the events or exposures; it shows only through behaviour
(a high cart-add share before exposure), which is what a model must learn from the prepared table.

The exact effect of every user on ``purchased`` (any purchase in the window) is written to a truth
file beside the exposures: a user buys in the window if the planted checkout purchase happens or a
background purchase does, so the effect is ``(1 - P(no background purchase)) ...`` made exact below.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from shared.events.schema import EVENTS, PURCHASE

DAY_MS = 86_400_000
START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z: history starts here
HISTORY_DAYS = 45  # browsing before the experiment starts
EXPOSURE_DAYS = 14  # first exposures spread over these days
WINDOW_DAYS = 14  # outcome window the truth refers to (prepare's default)
TIMELINE_DAYS = HISTORY_DAYS + EXPOSURE_DAYS + WINDOW_DAYS + 2  # background browsing spans all of it
# Share of each event type in background browsing: ordinary users vs hesitant carters.
MIX_ORDINARY = (0.70, 0.22, 0.05, 0.03)
MIX_HESITANT = (0.62, 0.20, 0.16, 0.02)


@dataclass(frozen=True)
class ClickstreamConfig:
    users: int
    seed: int
    treatment_share: float = 0.5
    events_per_user_day: float = 0.4  # mean background rate (lognormal across users)
    hesitant_share: float = 0.25
    base_checkout: float = 0.05  # P(planted checkout purchase) for everyone, in control
    lift: float = 0.20  # extra P(checkout purchase) of hesitant carters when treated
    unexposed_share: float = 0.1  # users with events but no exposure (prepare must skip them)
    n_items: int = 5_000

    def __post_init__(self) -> None:
        if self.users <= 0:
            raise ValueError(f"users: must be a positive integer, got {self.users}")
        for name in ("treatment_share", "hesitant_share"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name}: must be strictly between 0 and 1, got {getattr(self, name)}")
        if not (self.base_checkout >= 0.0 and self.lift >= 0.0 and self.base_checkout + self.lift <= 1.0):
            raise ValueError("base_checkout + lift: must be a probability in [0, 1]")
        if self.events_per_user_day <= 0:
            raise ValueError(f"events_per_user_day: must be positive, got {self.events_per_user_day}")


@dataclass(frozen=True)
class Clickstream:
    events: pd.DataFrame  # timestamp (epoch ms), user_id, event, item_id, revenue
    exposures: pd.DataFrame  # user_id, variant, exposed_at (epoch ms)
    truth: pd.DataFrame  # user_id, hesitant, true_cate (on purchased within WINDOW_DAYS)
    config: ClickstreamConfig

    def describe(self) -> dict[str, object]:
        return {
            **asdict(self.config),
            "events": len(self.events),
            "ate_true": float(self.truth["true_cate"].mean()),
            "window_days": WINDOW_DAYS,
        }


def _background(
    rng: np.random.Generator, rate: np.ndarray, hesitant: np.ndarray, span_ms: int, n_items: int
) -> pd.DataFrame:
    """Poisson browsing per user, uniform in time over the whole span, items Zipf-like."""
    counts = rng.poisson(rate * span_ms / DAY_MS)
    user = np.repeat(np.arange(len(rate)), counts)
    t = START_MS + rng.integers(0, span_ms, size=len(user))
    u01 = rng.random(len(user))
    group = hesitant[user]
    code = np.empty(len(user), dtype=np.int8)
    for mask, mix in ((group, MIX_HESITANT), (~group, MIX_ORDINARY)):
        code[mask] = np.searchsorted(np.cumsum(mix)[:3], u01[mask], side="right")
    item = np.minimum(rng.zipf(1.3, size=len(user)), n_items) - 1
    return pd.DataFrame({"t": t, "u": user, "e": code, "i": item})


def _checkout(
    rng: np.random.Generator, buyers: np.ndarray, exposed: np.ndarray, n_items: int
) -> pd.DataFrame:
    """The planted purchase: view → click → cart → purchase of one item, within the window."""
    n = len(buyers)
    first = exposed + 1 + rng.integers(0, (WINDOW_DAYS - 1) * DAY_MS, size=n)
    steps = np.cumsum(rng.integers(1, 20 * 60_000, size=(n, 4)), axis=1) - 1
    item = rng.integers(0, n_items, size=n)
    return pd.DataFrame(
        {
            "t": (first[:, None] + steps).ravel(),
            "u": np.repeat(buyers, 4),
            "e": np.tile(np.arange(4, dtype=np.int8), n),
            "i": np.repeat(item, 4),
        }
    )


def generate_clickstream(config: ClickstreamConfig) -> Clickstream:
    rng = np.random.default_rng(config.seed)
    n = config.users
    hesitant = rng.random(n) < config.hesitant_share
    rate = config.events_per_user_day * rng.lognormal(-0.5, 1.0, size=n)
    exposed_user = rng.random(n) >= config.unexposed_share
    treated = rng.random(n) < config.treatment_share
    exposed_at = START_MS + HISTORY_DAYS * DAY_MS + rng.integers(0, EXPOSURE_DAYS * DAY_MS, size=n)
    span_ms = TIMELINE_DAYS * DAY_MS
    background = _background(rng, rate, hesitant, span_ms, config.n_items)
    p_checkout = config.base_checkout + config.lift * (hesitant & treated)
    buys = exposed_user & (rng.random(n) < p_checkout)
    events = pd.concat([background, _checkout(rng, np.flatnonzero(buys), exposed_at[buys], config.n_items)])
    events = events.iloc[rng.permutation(len(events))]  # unsorted, like a real export
    is_purchase = events["e"].to_numpy() == PURCHASE
    revenue = np.where(is_purchase, np.round(rng.lognormal(3.0, 0.6, size=len(events)), 2), np.nan)
    ids = np.arange(1, n + 1, dtype=np.int64) * 7 + 100_000  # not positions: ids a model must not use
    frame = pd.DataFrame(
        {
            "timestamp": events["t"].to_numpy(),
            "user_id": ids[events["u"].to_numpy()],
            "event": pd.Categorical.from_codes(
                events["e"].to_numpy(dtype=np.int8), categories=pd.Index(list(EVENTS))
            ),
            "item_id": events["i"].to_numpy() + 1,
            "revenue": revenue,
        }
    )
    # P(no background purchase in (exposed_at, exposed_at + window]) for a Poisson rate of purchases.
    mix = np.where(hesitant, MIX_HESITANT[PURCHASE], MIX_ORDINARY[PURCHASE])
    no_bg = np.exp(-rate * mix * WINDOW_DAYS)
    true_cate = no_bg * config.lift * hesitant
    keep = np.flatnonzero(exposed_user)
    order = rng.permutation(keep)
    exposures = pd.DataFrame(
        {
            "user_id": ids[order],
            "variant": np.where(treated[order], "treatment", "control"),
            "exposed_at": exposed_at[order],
        }
    )
    truth = pd.DataFrame({"user_id": ids[order], "hesitant": hesitant[order], "true_cate": true_cate[order]})
    return Clickstream(frame, exposures, truth, config)


def sibling_paths(events_path: Path) -> tuple[Path, Path]:
    """Exposures and truth files written beside the events: ``<stem>.exposures.<ext>``, ``<stem>.truth.<ext>``."""
    name = events_path.name
    stem, ext = (
        (name[: -len(".parquet")], ".parquet") if name.endswith(".parquet") else (name.split(".")[0], ".csv")
    )
    return events_path.with_name(f"{stem}.exposures{ext}"), events_path.with_name(f"{stem}.truth{ext}")


def write_clickstream(stream: Clickstream, events_path: Path) -> tuple[Path, Path]:
    """Events (Parquet or CSV by suffix, with the config in the Parquet metadata), exposures, truth."""
    exposures_path, truth_path = sibling_paths(events_path)
    meta = {b"uplift.clickstream": json.dumps(stream.describe()).encode()}
    table = pa.Table.from_pandas(stream.events, preserve_index=False)
    if events_path.name.endswith(".parquet"):
        pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), events_path)
        stream.exposures.to_parquet(exposures_path, index=False)
        stream.truth.to_parquet(truth_path, index=False)
    else:
        table = table.set_column(2, "event", table.column("event").cast(pa.string()))
        pcsv.write_csv(table, events_path)
        stream.exposures.to_csv(exposures_path, index=False)
        stream.truth.to_csv(truth_path, index=False)
    return exposures_path, truth_path
