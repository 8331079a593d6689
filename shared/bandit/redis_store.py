"""Shared bandit state for several API replicas: Redis, with one Lua script per reward.

Keys, all under ``<namespace>:`` so tests and tenants can share a server:
``a:<id>`` the assignment (JSON, expires after ``assignment_ttl_s``), ``r:<id>`` its reward
(expires with it), and the hashes ``successes``/``failures`` keyed by ``["context","arm"]``.

The reward script checks the assignment, sets the reward only if absent and increments the counts
in one atomic step, so two replicas receiving the same feedback can never both apply it. Counts are
cached in-process for ``cache_ttl_s`` (short-lived posteriors; a replica's own writes invalidate
them at once). A reward is applied on the server when the call returns; surviving a Redis restart
as well is the server's persistence setting (``appendonly yes``, ``appendfsync always``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import redis

from shared.bandit.posterior import BetaPosterior, Prior
from shared.bandit.store import (
    Assignment,
    Counts,
    CountsCache,
    RewardResult,
    UnknownAssignment,
    apply_prior,
    check_reward,
)

# KEYS[1] assignment, KEYS[2] reward, KEYS[3] successes hash, KEYS[4] failures hash; ARGV[1] '0' or '1'.
_REWARD_LUA = """
local a = redis.call('GET', KEYS[1])
if not a then return {'unknown'} end
local prior = redis.call('GET', KEYS[2])
if prior then return {'seen', prior, a} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[2], ARGV[1])
end
local field = cjson.decode(a)['f']
if ARGV[1] == '1' then
  redis.call('HINCRBY', KEYS[3], field, 1)
else
  redis.call('HINCRBY', KEYS[4], field, 1)
end
return {'applied', ARGV[1], a}
"""

# KEYS assignment keys; ARGV[1] ttl in seconds, ARGV[i + 1] the payload of KEYS[i]. All or none.
_ASSIGN_LUA = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i + 1], 'EX', ARGV[1])
end
return 0
"""

_NAMESPACE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# One script call blocks the server while it runs; 2,000 SETs take about a millisecond.
_ASSIGN_CHUNK = 2000


class RedisBanditStore:
    """Bandit state in Redis, shared by any number of API processes using the same namespace."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        namespace: str = "uplift",
        cache_ttl_s: float = 0.5,
        assignment_ttl_s: int = 30 * 24 * 3600,
        socket_timeout_s: float = 5.0,
    ) -> None:
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError(f"namespace: must be 1-64 of letters, digits and _.:- , got {namespace!r}")
        if (
            isinstance(assignment_ttl_s, bool)
            or not isinstance(assignment_ttl_s, int)
            or assignment_ttl_s < 1
        ):
            raise ValueError(
                f"assignment_ttl_s: must be a whole number of seconds >= 1, got {assignment_ttl_s!r}"
            )
        self._r = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            decode_responses=True,
        )
        self.namespace = namespace
        self.assignment_ttl_s = assignment_ttl_s
        self._reward_script = self._r.register_script(_REWARD_LUA)
        self._assign_script = self._r.register_script(_ASSIGN_LUA)
        self._cache = CountsCache(cache_ttl_s)

    def key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    def record_assignments(self, rows: Sequence[Assignment]) -> None:
        ids = [r.assignment_id for r in rows]
        if len(set(ids)) != len(ids):
            raise ValueError("assignment_id: must be unique, the batch repeats an id")
        for start in range(0, len(rows), _ASSIGN_CHUNK):
            chunk = rows[start : start + _ASSIGN_CHUNK]
            payloads = [
                json.dumps(
                    {"f": json.dumps([r.context, r.arm]), "p": r.propensity, "t": r.created_at},
                    separators=(",", ":"),
                )
                for r in chunk
            ]
            clash = int(
                self._assign_script(
                    keys=[self.key("a", r.assignment_id) for r in chunk],
                    args=[self.assignment_ttl_s, *payloads],
                )
            )
            if clash:
                raise ValueError(
                    f"assignment_id: must be unique, {chunk[clash - 1].assignment_id!r} was already issued"
                )

    def record_reward(self, assignment_id: str, reward: int) -> RewardResult:
        reward = check_reward(reward)
        keys = [
            self.key("a", assignment_id),
            self.key("r", assignment_id),
            self.key("successes"),
            self.key("failures"),
        ]
        res = self._reward_script(keys=keys, args=[str(reward)])
        if res[0] == "unknown":
            raise UnknownAssignment(assignment_id)
        context, arm = json.loads(json.loads(res[2])["f"])
        stored = int(res[1])
        if res[0] == "applied":
            self._cache.invalidate()
            return RewardResult("applied", context, arm, reward)
        return RewardResult("duplicate" if stored == reward else "conflict", context, arm, stored)

    def _load_counts(self) -> Counts:
        pipe = self._r.pipeline(transaction=True)  # one snapshot of both hashes
        pipe.hgetall(self.key("successes"))
        pipe.hgetall(self.key("failures"))
        succ, fail = pipe.execute()
        out: Counts = {}
        for field in set(succ) | set(fail):
            context, arm = json.loads(field)
            out[(context, arm)] = (int(succ.get(field, 0)), int(fail.get(field, 0)))
        return out

    def counts(self) -> Counts:
        return self._cache.get(self._load_counts)

    def cached_counts(self) -> Counts | None:
        return self._cache.peek()

    def posteriors(
        self, prior: Prior | Mapping[tuple[str, str], Prior]
    ) -> dict[tuple[str, str], BetaPosterior]:
        return apply_prior(self.counts(), prior)

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._r.close()
