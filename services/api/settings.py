"""API settings from ``UPLIFT_*`` environment variables, validated at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPLIFT_", extra="ignore")

    models_dir: Path = Path("models")
    data_dir: Path = Path("var")
    # Empty means the embedded default: SQLite (WAL) under data_dir. redis://... for several replicas.
    bandit_url: str = ""
    bandit_namespace: str = "uplift"
    api_key: SecretStr | None = None
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Requests in flight per worker before a 503; connections per worker uvicorn holds (beyond: 503).
    max_concurrent_requests: int = Field(default=256, ge=1, le=100_000)
    max_connections: int = Field(default=1024, ge=1, le=1_000_000)
    # Longest wait for the next piece of a request body (408 past it), and for an idle keep-alive client.
    body_read_timeout_s: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)
    keep_alive_timeout_s: int = Field(default=5, ge=1, le=600)
    # Set by `uplift serve --workers N` (N > 1): where the workers follow each other's reloads.
    reload_sync_dir: Path | None = None
    # With --workers N > 1: a worker holding more than its share of the connections in use asks one to
    # reconnect (Connection: close), so that a few keep-alive clients end up spread over the workers.
    balance_connections: bool = True
    # How long /admin/reload waits for the other workers to serve the new version before answering.
    reload_wait_s: float = Field(default=15.0, ge=0, le=300, allow_inf_nan=False)
    cors_origins: list[str] = Field(default_factory=list)
    use_onnx: bool = True
    # Pseudo-observations behind the model's own prediction when it seeds a segment × arm posterior.
    prior_strength: float = Field(default=20.0, gt=0)
    top_k: int = Field(default=5, ge=1, le=100)
    max_sample_rows: int = Field(default=5000, ge=1)
    # Longest a request waits for the bandit store; past it the route answers 503 with Retry-After.
    store_timeout_s: float = Field(default=1.0, gt=0, le=30)
    # Seconds a client is told to wait (Retry-After) while the store is out.
    store_retry_after_s: int = Field(default=2, ge=1, le=300)
    # Assignments (and so feedback for them) are kept this long, then deleted; counts keep what they taught.
    assignment_retention_days: float = Field(default=30.0, gt=0, le=3650, allow_inf_nan=False)
    # How often the lifespan's task deletes what retention says is too old (store and log).
    purge_interval_s: float = Field(default=3600.0, gt=0, le=86400, allow_inf_nan=False)
    # A sandbox (the dashboard's simulation) is deleted after this long without a reward.
    sandbox_retention_hours: float = Field(default=24.0, gt=0, le=24 * 30, allow_inf_nan=False)
    # The assignment log: empty means SQLite under data_dir; postgresql://... for PostgreSQL.
    log_url: str = ""
    # Prior sd of the per-(segment, arm) shift of the model's effect that feedback teaches, in outcome
    # units (0.01: one point of conversion rate). Smaller trusts the model longer; larger explores
    # more while feedback is few.
    calibration_prior_sd: float = Field(default=0.01, gt=0, le=1, allow_inf_nan=False)

    @field_validator("bandit_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if v and not v.startswith(("sqlite:///", "redis://", "rediss://", "unix://")):
            raise ValueError("must start with sqlite:/// or redis://")
        return v

    @field_validator("log_url")
    @classmethod
    def _check_log_url(cls, v: str) -> str:
        if v and not v.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return v

    def resolved_bandit_url(self) -> str:
        return self.bandit_url or f"sqlite:///{self.data_dir / 'bandit.db'}"

    def resolved_log_url(self) -> str:
        return self.log_url or f"sqlite:///{self.data_dir / 'assignments.db'}"
