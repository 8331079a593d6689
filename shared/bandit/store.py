"""The bandit state interface: assignments, idempotent rewards, and counts per (context, arm)."""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Generic, Literal, NamedTuple, Protocol, TypeVar

from shared.bandit.posterior import BetaPosterior, Prior

RewardStatus = Literal["applied", "duplicate", "conflict"]
Counts = dict[tuple[str, str], tuple[int, int]]

# The production state's space; a sandbox's is ``sandbox:<name>`` and production never reads it.
PRODUCTION = ""
_SPACE = re.compile(r"sandbox:[A-Za-z0-9_-]{1,40}")


def check_space(space: str) -> str:
    """``""`` (production) or ``sandbox:<1-40 letters, digits, _ or ->``; anything else is a ValueError."""
    if space != PRODUCTION and not (isinstance(space, str) and _SPACE.fullmatch(space)):
        raise ValueError(f"space: must be '' or sandbox:<1-40 of letters, digits, _ and ->, got {space!r}")
    return space


class ArmFeedback(NamedTuple):
    """What rewards taught about one (context, arm): Beta counts and the residuals' sums.

    A residual is reward − the outcome the model predicted for that user under that arm; ``n``
    counts the rewards that had a prediction (assignments from before predictions were stored
    have none).
    """

    successes: int
    failures: int
    n: int = 0
    residual_sum: float = 0.0
    residual_sq: float = 0.0
    # The same residuals divided by the logged propensity of the arm (floored at
    # IPW_PROPENSITY_FLOOR): their sums estimate the model's error over everyone the policy decided
    # for, not only over those it chose this arm for (shared.bandit.calibration). Zero for stores
    # from before them.
    ipw_sum: float = 0.0
    ipw_sq: float = 0.0


# An inverse-propensity weight is capped at 1 / this (not shared.ope's MIN_PROPENSITY, a warning
# rule): a logged propensity of 0 (allowed, below) or 1e-300 would make the sums infinite, and one
# such reward would then erase every other.
IPW_PROPENSITY_FLOOR = 1e-6


def ipw_residual(residual: float, propensity: float) -> float:
    """A residual weighted by the inverse of the logged propensity of its arm."""
    return residual / max(propensity, IPW_PROPENSITY_FLOOR)


Feedback = dict[tuple[str, str], ArmFeedback]


class _RandomPool:
    """Bytes from the OS generator, read 4 KiB at a time: one syscall per ~400 ids, not per call."""

    size = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = b""
        # A forked child must not hand out the bytes its parent will also use: ids would repeat.
        os.register_at_fork(after_in_child=self._forget)

    def take(self, n: int) -> bytes:
        if n > self.size:
            return os.urandom(n)
        with self._lock:
            if len(self._bytes) < n:
                self._bytes = os.urandom(self.size)
            out, self._bytes = self._bytes[:n], self._bytes[n:]
        return out

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._bytes = b""


_RANDOM = _RandomPool()


def new_assignment_ids(n: int) -> list[str]:
    """``n`` fresh assignment ids: UUID version 7 (RFC 9562) as 32 hex digits.

    Version 7 starts with the time in milliseconds, so ids issued together sit next to each other
    in the store's primary-key index. Random (version 4) ids spread every commit over random index
    pages: with 100k assignments stored, a 5-row SQLite commit took ~300 µs with them and ~90 µs
    with these. The 74 random bits come from the OS generator, as uuid4's do: an id is hard to
    guess, and /feedback takes any id it is given. (Python 3.14 has ``uuid.uuid7``; 3.11 not.)
    """
    if n < 0:
        raise ValueError(f"n: must be non-negative, got {n}")
    ms = time.time_ns() // 1_000_000
    raw = _RANDOM.take(10 * n)
    out = []
    for k in range(n):
        r = int.from_bytes(raw[10 * k : 10 * k + 10], "big")  # 80 random bits, 74 used
        rand_a, rand_b = (r >> 62) & 0xFFF, r & ((1 << 62) - 1)
        out.append(f"{(ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b:032x}")
    return out


class UnknownAssignment(KeyError):  # noqa: N818 - the name the API and its callers already use
    """Feedback names an assignment this store never issued (or one that expired)."""


@dataclass(frozen=True)
class Assignment:
    """One arm handed to one user; kept so that feedback can find its context and arm."""

    assignment_id: str
    context: str
    arm: str
    propensity: float
    created_at: float
    # The model's predicted outcome for this user under this arm: feedback's residual is against it.
    predicted: float | None = None
    space: str = PRODUCTION

    def __post_init__(self) -> None:
        for name in ("assignment_id", "context", "arm"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
        check_space(self.space)
        if self.predicted is not None and not math.isfinite(self.predicted):
            raise ValueError(f"predicted: must be a finite number or None, got {self.predicted!r}")
        # 0 is allowed: a choice the integral puts below 1e-300 is still logged rather than refused.
        if not (0.0 <= self.propensity <= 1.0):
            raise ValueError(f"propensity: must be a probability in [0, 1], got {self.propensity!r}")
        if not math.isfinite(self.created_at):
            raise ValueError(f"created_at: must be a finite unix time, got {self.created_at!r}")


@dataclass(frozen=True)
class RewardResult:
    """What a reward did. On a conflict, ``reward`` is the one already stored (rewards are final)."""

    status: RewardStatus
    context: str
    arm: str
    reward: int
    # reward − the stored prediction, when the reward was applied now and the assignment had one.
    residual: float | None = None


class BanditStore(Protocol):
    """Where assignments and posterior counts live: ``SqliteBanditStore`` or ``RedisBanditStore``."""

    backend: str

    def record_assignments(self, rows: Sequence[Assignment]) -> None:
        """Persist assignments (all or none); an id already issued raises ValueError."""

    def record_reward(self, assignment_id: str, reward: int, space: str = PRODUCTION) -> RewardResult:
        """Apply a 0/1 reward once, committed before returning; a repeat is a duplicate or a conflict.

        Counts and residual sums of the assignment's (space, context, arm) move in the same atomic
        step. Raises ``UnknownAssignment`` for an id never recorded in ``space`` (or expired).
        """

    def counts(self, space: str = PRODUCTION) -> Counts:
        """(context, arm) → (successes, failures) over applied rewards."""

    def feedback(self, space: str = PRODUCTION) -> Feedback:
        """(context, arm) → counts and residual sums over applied rewards (cached briefly)."""

    def cached_feedback(self, space: str = PRODUCTION) -> Feedback | None:
        """``feedback(space)`` if this process holds a fresh copy, else None; never waits."""

    def purge_expired(self, now: float) -> int:
        """Delete what retention says is too old (assignments; idle sandboxes); how many assignments."""

    def posteriors(
        self, prior: Prior | Mapping[tuple[str, str], Prior]
    ) -> dict[tuple[str, str], BetaPosterior]:
        """Counts combined with a prior; see ``apply_prior``."""

    def cached_counts(self) -> Counts | None:
        """``counts()`` if this process holds a fresh copy, else None; never waits on the backend."""

    def ping(self) -> bool:
        """True when the backend answers."""

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""


def check_reward(reward: int) -> int:
    """The reward as a plain int, or ValueError: only 0 and 1 (not True/False, not 1.0) are rewards."""
    if isinstance(reward, bool) or not isinstance(reward, Integral) or reward not in (0, 1):
        raise ValueError(f"reward: must be the integer 0 or 1, got {reward!r}")
    return int(reward)


def apply_prior(
    counts: Counts, prior: Prior | Mapping[tuple[str, str], Prior]
) -> dict[tuple[str, str], BetaPosterior]:
    """Posterior per (context, arm): prior pseudo-counts plus observed successes and failures.

    One ``Prior`` applies to every pair that has counts. A mapping of priors names the pairs wanted
    (pairs without feedback yet get their prior alone; counts for pairs it leaves out are ignored,
    e.g. arms of an older model).
    """
    if isinstance(prior, Prior):
        return {key: prior.posterior(s, f) for key, (s, f) in counts.items()}
    return {key: p.posterior(*counts.get(key, (0, 0))) for key, p in prior.items()}


T = TypeVar("T")


class CountsCache(Generic[T]):
    """Counts kept for ``ttl_s`` seconds in-process; a store's own writes invalidate them at once.

    A read that started before an invalidation does not put its (possibly older) snapshot back:
    the generation number changed under it. So after ``record_reward`` returns, ``counts()`` from
    the same process includes that reward.
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not (math.isfinite(ttl_s) and ttl_s >= 0):
            raise ValueError(f"cache_ttl_s: must be a finite number >= 0, got {ttl_s!r}")
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = 0
        self._value: T | None = None
        self._loaded_at = 0.0

    def get(self, load: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            if self._value is not None and now - self._loaded_at < self.ttl_s:
                return self._value
            generation = self._generation
        value = load()
        with self._lock:
            if generation == self._generation and self.ttl_s > 0:
                self._value, self._loaded_at = value, now
        return value

    def peek(self) -> T | None:
        """The cached value while fresh, else None (no load: for a caller that must not block).

        The value is shared, not copied: callers must not change it.
        """
        now = self._clock()
        with self._lock:
            if self._value is not None and now - self._loaded_at < self.ttl_s:
                return self._value
        return None

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._value = None


class SpaceCaches:
    """One ``CountsCache`` of feedback per space; a write to a space invalidates that space's only."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._caches: dict[str, CountsCache[Feedback]] = {}

    def of(self, space: str) -> CountsCache[Feedback]:
        cache = self._caches.get(space)
        if cache is None:
            with self._lock:
                if len(self._caches) > 10_000:  # sandboxes come and go; forget them all at once
                    self._caches.clear()
                cache = self._caches.setdefault(space, CountsCache(self.ttl_s))
        return cache

    def invalidate_sandboxes(self) -> None:
        with self._lock:
            caches = [c for space, c in self._caches.items() if space != PRODUCTION]
        for cache in caches:
            cache.invalidate()


def counts_of(feedback: Feedback) -> Counts:
    return {key: (f.successes, f.failures) for key, f in feedback.items()}


class CachedFeedback:
    """The feedback reads both stores share: each space's feedback from its cache, loaded on a miss.

    A store sets ``_caches`` and implements ``_load_feedback``; the rest is the same for every backend.
    """

    _caches: SpaceCaches

    def _load_feedback(self, space: str) -> Feedback:
        raise NotImplementedError

    def feedback(self, space: str = PRODUCTION) -> Feedback:
        check_space(space)
        return self._caches.of(space).get(lambda: self._load_feedback(space))

    def cached_feedback(self, space: str = PRODUCTION) -> Feedback | None:
        return self._caches.of(space).peek()

    def counts(self, space: str = PRODUCTION) -> Counts:
        return counts_of(self.feedback(space))

    def cached_counts(self) -> Counts | None:
        fb = self.cached_feedback()
        return None if fb is None else counts_of(fb)
