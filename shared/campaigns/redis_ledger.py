"""The campaign ledger in Redis, shared by every API process and replica: one Lua script per step.

A campaign is a hash ``{ns}:campaign:{id}`` (its spec as JSON, status, the caps the script needs and
the counters); ``{ns}:campaigns`` orders the ids by creation time. Redis runs a script alone, so the
read-check-increment of a reservation cannot interleave with another's.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import redis

from shared.campaigns.ledger import Reservation, check_settle
from shared.campaigns.record import (
    Campaign,
    CampaignClosed,
    CampaignSpec,
    CampaignView,
    Counters,
    UnknownCampaign,
    new_campaign_id,
)

__all__ = ["RedisCampaignLedger"]

# Mirrors shared.campaigns.record.units_to_reserve (the same integers and the same double for the
# share cap); a contract test runs the same cases against both backends.
_RESERVE_LUA = """
local h = redis.call('HMGET', KEYS[1], 'status', 'ends_at', 'budget_units', 'share', 'treated', 'reserved', 'users')
if not h[1] then return {-1} end
if h[1] ~= 'open' then return {-2} end
if h[2] ~= '' and tonumber(h[2]) <= tonumber(ARGV[2]) then return {-3} end
local n = tonumber(ARGV[1])
local treated, reserved, users = tonumber(h[5]), tonumber(h[6]), tonumber(h[7])
local held = treated + reserved
local units = n
if h[3] ~= '' then units = math.min(units, tonumber(h[3]) - held) end
if h[4] ~= '' then units = math.min(units, math.floor(tonumber(h[4]) * (users + n) + 1e-9) - held) end
if units < 0 then units = 0 end
if units > 0 then redis.call('HINCRBY', KEYS[1], 'reserved', units) end
return {units, treated, reserved, users}
"""
_SETTLE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved'))
if reserved < tonumber(ARGV[1]) then return -2 end
redis.call('HINCRBY', KEYS[1], 'reserved', 0 - tonumber(ARGV[1]))  -- never -0, not an integer to Redis
redis.call('HINCRBY', KEYS[1], 'treated', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'users', ARGV[3])
return 0
"""
_CLOSE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'status') == 'open' then
  redis.call('HSET', KEYS[1], 'status', 'closed', 'closed_at', ARGV[1])
end
return 0
"""
_NAMESPACE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_FIELDS = ("spec", "created_at", "status", "closed_at", "treated", "reserved", "users")


def _num(v: float | int | None) -> str:
    return "" if v is None else repr(v)


class RedisCampaignLedger:
    backend = "redis"

    def __init__(self, url: str, namespace: str = "uplift", socket_timeout_s: float = 5.0) -> None:
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError(f"namespace: must be 1-64 of letters, digits and _.:- , got {namespace!r}")
        self._r = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            decode_responses=True,
        )
        self.namespace = namespace
        self._reserve = self._r.register_script(_RESERVE_LUA)
        self._settle = self._r.register_script(_SETTLE_LUA)
        self._close = self._r.register_script(_CLOSE_LUA)

    def _key(self, campaign_id: str) -> str:
        return f"{self.namespace}:campaign:{campaign_id}"

    def _index(self) -> str:
        return f"{self.namespace}:campaigns"

    def create(self, spec: CampaignSpec, now: datetime) -> Campaign:
        campaign = Campaign(new_campaign_id(), spec, now.astimezone(UTC))
        fields: dict[str | bytes, bytes | float | int | str] = {
            "spec": json.dumps(spec.to_dict()),
            "created_at": repr(campaign.created_at.timestamp()),
            "status": "open",
            "closed_at": "",
            "ends_at": "" if spec.ends_at is None else repr(spec.ends_at.timestamp()),
            "budget_units": _num(spec.budget_units),
            "share": _num(spec.max_treated_share),
            "treated": 0,
            "reserved": 0,
            "users": 0,
        }
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._key(campaign.campaign_id), mapping=fields)
        pipe.zadd(self._index(), {campaign.campaign_id: campaign.created_at.timestamp()})
        pipe.execute()
        return campaign

    def _view(self, campaign_id: str, raw: list[str | None]) -> CampaignView:
        spec, created, status, closed, treated, reserved, users = raw
        if spec is None or created is None or status not in ("open", "closed"):
            raise UnknownCampaign(campaign_id)
        campaign = Campaign(
            campaign_id=campaign_id,
            spec=CampaignSpec.from_dict(json.loads(spec)),
            created_at=datetime.fromtimestamp(float(created), UTC),
            status=status,  # type: ignore[arg-type]  # checked just above
            closed_at=datetime.fromtimestamp(float(closed), UTC) if closed else None,
        )
        return CampaignView(campaign, Counters(int(treated or 0), int(reserved or 0), int(users or 0)))

    def get(self, campaign_id: str) -> CampaignView:
        return self._view(campaign_id, self._r.hmget(self._key(campaign_id), _FIELDS))

    def list(self) -> list[CampaignView]:
        ids = self._r.zrange(self._index(), 0, -1)
        pipe = self._r.pipeline(transaction=False)
        for cid in ids:
            pipe.hmget(self._key(cid), _FIELDS)
        return [self._view(cid, raw) for cid, raw in zip(ids, pipe.execute(), strict=True) if raw[0]]

    def reserve(self, campaign_id: str, n_users: int, now: datetime) -> Reservation:
        if isinstance(n_users, bool) or not isinstance(n_users, int) or n_users < 0:
            raise ValueError(f"n_users: must be a whole number >= 0, got {n_users!r}")
        # The spec is read first (it never changes once created), the counters inside the script.
        view = self.get(campaign_id)
        res = self._reserve(keys=[self._key(campaign_id)], args=[n_users, repr(now.timestamp())])
        code = int(res[0])
        if code == -1:
            raise UnknownCampaign(campaign_id)
        if code in (-2, -3):
            raise CampaignClosed(campaign_id, "closed" if code == -2 else "ended")
        before = CampaignView(view.campaign, Counters(int(res[1]), int(res[2]), int(res[3])))
        return Reservation(code, before)

    def settle(self, campaign_id: str, units: int, treated: int, users: int) -> None:
        check_settle(units, treated, users)
        code = int(self._settle(keys=[self._key(campaign_id)], args=[units, treated, users]))
        if code == -1:
            raise UnknownCampaign(campaign_id)
        if code == -2:
            raise ValueError(f"units: more than the campaign {campaign_id} holds in reserve")

    def close_campaign(self, campaign_id: str, now: datetime) -> CampaignView:
        if int(self._close(keys=[self._key(campaign_id)], args=[repr(now.timestamp())])) == -1:
            raise UnknownCampaign(campaign_id)
        return self.get(campaign_id)

    def close(self) -> None:
        self._r.close()
