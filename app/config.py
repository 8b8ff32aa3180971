"""Service settings, read once from the environment.

Secrets are `SecretStr` so they never show in a repr or a log line. Outside development the
service refuses to start with the development defaults for `API_TOKEN` and `SECRET_KEY`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_API_TOKEN = "dev-token"
DEV_SECRET_KEY = "dev-secret-key-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "postgresql+asyncpg://skubridge:skubridge@127.0.0.1:5432/skubridge"
    redis_url: str = "redis://127.0.0.1:6379/0"
    api_token: SecretStr = SecretStr(DEV_API_TOKEN)
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    # The largest request body the API reads (Zoho's webhook intake has its own limit below);
    # a larger one is refused with 413 without being read.
    api_max_body_bytes: int = Field(default=1024 * 1024, gt=0)

    # arq queue name: lets several deployments (or test sessions) share one Redis.
    queue_name: str = "skubridge:queue"
    # A batch whose worker stopped heart-beating for this long is taken over by another.
    lease_seconds: float = Field(default=60.0, gt=0)
    # How often the recovery job looks for stalled runs.
    recovery_interval_seconds: int = Field(default=15, ge=1)
    # A run paused by a fault (store or Zoho unavailable, database or Redis gone) resumes by
    # itself after these waits, one per fault in a row; the last repeats (FAULT_BACKOFF_SECONDS
    # as a JSON list).
    fault_backoff_seconds: list[float] = Field(default=[60, 120, 300, 600], min_length=1)

    # Store calls: attempts on 429/5xx/timeouts and the longest wait between two of them.
    store_max_attempts: int = Field(default=5, ge=1)
    store_backoff_cap_seconds: float = Field(default=30.0, ge=0)

    # Webhooks: the intake's body limit, how long a burst for one item is gathered into one job,
    # and how far back a catch-up looks before its watermark (Zoho's pages move while scanned).
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_coalesce_seconds: float = Field(default=0.25, ge=0)
    catchup_overlap_seconds: int = Field(default=300, ge=0)
    # The longest wait between two passes of a connection whose Zoho or store is unavailable
    # (the wait doubles from 2 s); its events stay queued meanwhile.
    webhook_retry_cap_seconds: float = Field(default=600.0, gt=0)
    # Webhook events and sync log entries older than this are purged daily.
    retention_days: int = Field(default=30, ge=1)

    # Zoho budget: requests per minute per organization (shared by every worker) and per day.
    zoho_requests_per_minute: int = Field(default=100, ge=1)
    zoho_daily_limit: int | None = None
    # A 429 whose Retry-After is longer than this is a quota block: the run pauses instead of waiting.
    zoho_max_retry_wait_seconds: float = 120.0
    # Zoho calls in flight at once per organization, across every worker: Zoho refuses more
    # (code 1070) above 5 on free plans and 10 on paid ones.
    zoho_max_concurrency: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            if self.api_token.get_secret_value() == DEV_API_TOKEN:
                raise ValueError("API_TOKEN must be set in production")
            if self.secret_key.get_secret_value() == DEV_SECRET_KEY:
                raise ValueError("SECRET_KEY must be set in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
