"""Shared bandit state for several API replicas: Redis, with one Lua script per reward.

Keys, all under ``<namespace>:`` so tests and tenants can share a server:
``a:<id>`` the assignment (JSON, expires after ``assignment_ttl_s``), ``r:<id>`` its reward
(expires with it), and the hashes ``successes``/``failures`` (counts), ``rn``/``rsum``/``rsq``
(residuals: reward − the predicted outcome stored with the assignment) and ``wsum``/``wsq`` (the
residuals over the assignment's propensity) keyed by
``["context","arm"]``. A sandbox's keys sit under ``<namespace>:<space>:`` (``space`` is
``sandbox:<name>``), which production never reads; they expire after ``sandbox_ttl_s``.

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
    IPW_PROPENSITY_FLOOR,
    PRODUCTION,
    ArmFeedback,
    Assignment,
    CachedFeedback,
    Feedback,
    RewardResult,
    SpaceCaches,
    UnknownAssignment,
    apply_prior,
    check_reward,
    check_space,
)

# KEYS[1] assignment, KEYS[2] reward, KEYS[3] successes, KEYS[4] failures, KEYS[5..9] rn, rsum, rsq,
# wsum, wsq hashes; ARGV[1] '0' or '1', ARGV[2] seconds the hashes live (0: for ever), ARGV[3] the
# propensity floor (store.IPW_PROPENSITY_FLOOR). The residual and its inverse-propensity weighted
# twin are computed here from what is stored with the assignment, so they move with the counts in
# one step.
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
local doc = cjson.decode(a)
local field = doc['f']
if ARGV[1] == '1' then
  redis.call('HINCRBY', KEYS[3], field, 1)
else
  redis.call('HINCRBY', KEYS[4], field, 1)
end
local residual = ''
if doc['q'] ~= nil and doc['q'] ~= cjson.null then
  local r = tonumber(ARGV[1]) - doc['q']
  residual = string.format('%.17g', r)
  redis.call('HINCRBY', KEYS[5], field, 1)
  redis.call('HINCRBYFLOAT', KEYS[6], field, residual)
  redis.call('HINCRBYFLOAT', KEYS[7], field, string.format('%.17g', r * r))
  local w = r / math.max(tonumber(doc['p']), tonumber(ARGV[3]))
  redis.call('HINCRBYFLOAT', KEYS[8], field, string.format('%.17g', w))
  redis.call('HINCRBYFLOAT', KEYS[9], field, string.format('%.17g', w * w))
end
if ARGV[2] ~= '0' then
  for i = 3, 9 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
end
return {'applied', ARGV[1], a, residual}
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

_HASHES = ("successes", "failures", "rn", "rsum", "rsq", "wsum", "wsq")
_NAMESPACE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# One script call blocks the server while it runs; 2,000 SETs take about a millisecond.
_ASSIGN_CHUNK = 2000


class RedisBanditStore(CachedFeedback):
    """Bandit state in Redis, shared by any number of API processes using the same namespace."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        namespace: str = "uplift",
        cache_ttl_s: float = 0.5,
        assignment_ttl_s: int = 30 * 24 * 3600,
        socket_timeout_s: float = 5.0,
        sandbox_ttl_s: int = 24 * 3600,
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
        self.sandbox_ttl_s = max(1, int(sandbox_ttl_s))
        self._caches = SpaceCaches(cache_ttl_s)

    def key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    def space_key(self, space: str, *parts: str) -> str:
        """Production keys as they always were; a sandbox's under its own prefix."""
        return self.key(*parts) if space == PRODUCTION else self.key(space, *parts)

    def record_assignments(self, rows: Sequence[Assignment]) -> None:
        ids = [r.assignment_id for r in rows]
        if len(set(ids)) != len(ids):
            raise ValueError("assignment_id: must be unique, the batch repeats an id")
        for start in range(0, len(rows), _ASSIGN_CHUNK):
            chunk = rows[start : start + _ASSIGN_CHUNK]
            payloads = [
                json.dumps(
                    {
                        "f": json.dumps([r.context, r.arm]),
                        "p": r.propensity,
                        "t": r.created_at,
                        "q": r.predicted,
                    },
                    separators=(",", ":"),
                )
                for r in chunk
            ]
            # One TTL per call: a batch holds one space (the optimizer's requests each have one),
            # and a mixed batch takes the shorter.
            sandboxed = any(r.space != PRODUCTION for r in chunk)
            ttl = min(self.assignment_ttl_s, self.sandbox_ttl_s) if sandboxed else self.assignment_ttl_s
            clash = int(
                self._assign_script(
                    keys=[self.space_key(r.space, "a", r.assignment_id) for r in chunk],
                    args=[ttl, *payloads],
                )
            )
            if clash:
                raise ValueError(
                    f"assignment_id: must be unique, {chunk[clash - 1].assignment_id!r} was already issued"
                )

    def record_reward(self, assignment_id: str, reward: int, space: str = PRODUCTION) -> RewardResult:
        reward = check_reward(reward)
        check_space(space)
        keys = [
            self.space_key(space, "a", assignment_id),
            self.space_key(space, "r", assignment_id),
            *(self.space_key(space, h) for h in _HASHES),
        ]
        ttl = 0 if space == PRODUCTION else self.sandbox_ttl_s
        res = self._reward_script(keys=keys, args=[str(reward), str(ttl), repr(IPW_PROPENSITY_FLOOR)])
        if res[0] == "unknown":
            raise UnknownAssignment(assignment_id)
        context, arm = json.loads(json.loads(res[2])["f"])
        stored = int(res[1])
        if res[0] == "applied":
            self._caches.of(space).invalidate()
            residual = float(res[3]) if len(res) > 3 and res[3] else None
            return RewardResult("applied", context, arm, reward, residual)
        return RewardResult("duplicate" if stored == reward else "conflict", context, arm, stored)

    def _load_feedback(self, space: str) -> Feedback:
        pipe = self._r.pipeline(transaction=True)  # one snapshot of every hash
        for h in _HASHES:
            pipe.hgetall(self.space_key(space, h))
        succ, fail, rn, rsum, rsq, wsum, wsq = pipe.execute()
        out: Feedback = {}
        for field in set(succ) | set(fail):
            context, arm = json.loads(field)
            out[(context, arm)] = ArmFeedback(
                int(succ.get(field, 0)),
                int(fail.get(field, 0)),
                int(rn.get(field, 0)),
                float(rsum.get(field, 0.0)),
                float(rsq.get(field, 0.0)),
                float(wsum.get(field, 0.0)),
                float(wsq.get(field, 0.0)),
            )
        return out

    def purge_expired(self, now: float) -> int:
        """Nothing to do: assignments, rewards and sandbox hashes carry their own Redis TTLs."""
        return 0

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
