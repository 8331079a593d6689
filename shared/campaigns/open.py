"""Pick the ledger backend from the URL the bandit store uses: its SQLite folder, or its Redis."""

from __future__ import annotations

from pathlib import Path

from shared.campaigns.ledger import CampaignLedger

__all__ = ["open_ledger"]


def open_ledger(
    url: str, namespace: str = "uplift", timeout_s: float | None = None, sqlite_dir: Path | None = None
) -> CampaignLedger:
    """``redis://...`` (every replica sharing it sees one ledger) or, for a ``sqlite:///`` URL, the file
    ``campaigns.db`` in ``sqlite_dir`` (the API's data_dir). ``timeout_s`` bounds a blocked call."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from shared.campaigns.redis_ledger import RedisCampaignLedger

        return RedisCampaignLedger(url, namespace, socket_timeout_s=5.0 if timeout_s is None else timeout_s)
    if url.startswith("sqlite:///"):
        from shared.campaigns.sqlite_ledger import SqliteCampaignLedger

        folder = sqlite_dir if sqlite_dir is not None else Path(url.removeprefix("sqlite:///")).parent
        return SqliteCampaignLedger(
            folder / "campaigns.db", busy_timeout_s=30.0 if timeout_s is None else timeout_s
        )
    raise ValueError(f"url: must start with sqlite:/// or redis://, got {url.partition('://')[0]!r}")
