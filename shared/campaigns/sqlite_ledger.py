"""The campaign ledger in one SQLite file (WAL): the embedded default, shared by the workers of a host."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from shared.assignment_log.connections import ThreadConnections
from shared.campaigns.ledger import Reservation, check_settle
from shared.campaigns.record import (
    Campaign,
    CampaignClosed,
    CampaignSpec,
    CampaignView,
    Counters,
    UnknownCampaign,
    new_campaign_id,
    units_to_reserve,
)

__all__ = ["SqliteCampaignLedger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    campaign_id TEXT PRIMARY KEY,
    spec_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at REAL,
    treated INTEGER NOT NULL DEFAULT 0 CHECK (treated >= 0),
    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    users INTEGER NOT NULL DEFAULT 0 CHECK (users >= 0)
)
"""
_COLUMNS = "campaign_id, spec_json, created_at, status, closed_at, treated, reserved, users"


def _view(row: tuple) -> CampaignView:
    cid, spec, created, status, closed, treated, reserved, users = row
    campaign = Campaign(
        campaign_id=cid,
        spec=CampaignSpec.from_dict(json.loads(spec)),
        created_at=datetime.fromtimestamp(created, UTC),
        status=status,
        closed_at=None if closed is None else datetime.fromtimestamp(closed, UTC),
    )
    return CampaignView(campaign, Counters(treated=treated, reserved=reserved, users=users))


class SqliteCampaignLedger:
    backend = "sqlite"

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._connections: ThreadConnections[sqlite3.Connection] = ThreadConnections(
            str(self.path), self._connect, lambda _conn: True
        )
        with self._write() as conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the transactions below are ours (BEGIN IMMEDIATE takes the write
        # lock up front, so two processes cannot both read the same counters and then both reserve).
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connections.get()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _row(conn: sqlite3.Connection, campaign_id: str) -> CampaignView:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM campaigns WHERE campaign_id = ?", (campaign_id,)
        ).fetchone()
        if row is None:
            raise UnknownCampaign(campaign_id)
        return _view(row)

    def create(self, spec: CampaignSpec, now: datetime) -> Campaign:
        campaign = Campaign(new_campaign_id(), spec, now.astimezone(UTC))
        with self._write() as conn:
            conn.execute(
                "INSERT INTO campaigns (campaign_id, spec_json, created_at, status) VALUES (?, ?, ?, 'open')",
                (campaign.campaign_id, json.dumps(spec.to_dict()), campaign.created_at.timestamp()),
            )
        return campaign

    def get(self, campaign_id: str) -> CampaignView:
        return self._row(self._connections.get(), campaign_id)

    def list(self) -> list[CampaignView]:
        rows = self._connections.get().execute(f"SELECT {_COLUMNS} FROM campaigns ORDER BY created_at, rowid")
        return [_view(r) for r in rows]

    def reserve(self, campaign_id: str, n_users: int, now: datetime) -> Reservation:
        with self._write() as conn:
            before = self._row(conn, campaign_id)
            campaign, spec = before.campaign, before.campaign.spec
            if campaign.status != "open":
                raise CampaignClosed(campaign_id, "closed")
            if spec.ends_at is not None and spec.ends_at <= now:
                raise CampaignClosed(campaign_id, "ended")
            units = units_to_reserve(n_users, spec.budget_units, spec.max_treated_share, before.counters)
            if units:
                conn.execute(
                    "UPDATE campaigns SET reserved = reserved + ? WHERE campaign_id = ?", (units, campaign_id)
                )
        return Reservation(units, before)

    def settle(self, campaign_id: str, units: int, treated: int, users: int) -> None:
        check_settle(units, treated, users)
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE campaigns SET reserved = reserved - ?, treated = treated + ?, users = users + ? "
                "WHERE campaign_id = ?",
                (units, treated, users, campaign_id),
            )
            if cur.rowcount == 0:
                raise UnknownCampaign(campaign_id)

    def close_campaign(self, campaign_id: str, now: datetime) -> CampaignView:
        with self._write() as conn:
            conn.execute(
                "UPDATE campaigns SET status = 'closed', closed_at = ? WHERE campaign_id = ? AND status = 'open'",
                (now.timestamp(), campaign_id),
            )
            return self._row(conn, campaign_id)

    def close(self) -> None:
        self._connections.close()
