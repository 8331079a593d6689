"""Dashboard settings from ``UPLIFT_*`` environment variables, validated at start-up."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPLIFT_", extra="ignore", frozen=True)

    api_url: str = Field(default="http://127.0.0.1:8000", description="Base URL of the inference API.")
    # The same variable the API reads, so `uplift up` needs it set once.
    api_key: SecretStr | None = None
    dashboard_port: int = Field(default=8501, ge=1, le=65535)
    request_timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds per API request.")
    # Money on the pages (profit, cost, value per conversion) is written with this symbol or code.
    currency: str = Field(
        default="$", min_length=1, max_length=4, description="Currency symbol, e.g. $ or €."
    )

    @field_validator("api_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key.get_secret_value()} if self.api_key else {}
