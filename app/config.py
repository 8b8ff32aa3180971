"""Service settings, read once from the environment.

Secrets are `SecretStr` so they never show in a repr or a log line. `ENVIRONMENT` defaults to
`production`: unless it is explicitly `development` or `test`, the service refuses to start
when `API_TOKEN` or `SECRET_KEY` is unset, the public development default, or shorter than
32 characters, so a deployment that forgot to configure them stops with a message instead of
serving a token printed in the README. `SECRET_KEYS` (old keys, decrypt only) are not held to
that rule: reading what an old, weak key sealed is how an operator moves off it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_API_TOKEN = "dev-token"
DEV_SECRET_KEY = "dev-secret-key-change-me"
MIN_SECRET_CHARS = 32
RELAXED_ENVIRONMENTS = ("development", "test")
MAKE_A_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class ConfigError(Exception):
    """The environment does not make a usable configuration; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "production"
    database_url: str = "postgresql+asyncpg://skubridge:skubridge@127.0.0.1:5432/skubridge"
    redis_url: str = "redis://127.0.0.1:6379/0"
    api_token: SecretStr = SecretStr(DEV_API_TOKEN)
    # SECRET_KEY seals every stored secret; SECRET_KEYS (a comma-separated or JSON list) are
    # older keys, tried only to open what they sealed, until `skubridge rotate-keys` re-seals it.
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    secret_keys: SecretStr = SecretStr("")
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    # Production refuses store and Zoho URLs on loopback, private, link-local and other
    # non-public addresses (app/integrations/targets.py); true allows them.
    allow_private_targets: bool = False
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

    # Zoho sign-in ("Connect Zoho", app/integrations/zoho/oauth.py): the deployment's OAuth client
    # (a connection's own stored client id and secret win over these), where consent starts, and
    # origins besides Zoho's own accounts servers and API domains that may stand in for them (the
    # simulators: comma-separated, e.g. "http://127.0.0.1:8101"). ZOHO_ACCOUNTS_URL is trusted too.
    zoho_client_id: str = ""
    zoho_client_secret: SecretStr = SecretStr("")
    zoho_accounts_url: str = "https://accounts.zoho.com"
    zoho_trusted_origins: str = ""

    # Zoho budget: requests per minute per organization (shared by every worker) and per day.
    zoho_requests_per_minute: int = Field(default=100, ge=1)
    zoho_daily_limit: int | None = None
    # A 429 whose Retry-After is longer than this is a quota block: the run pauses instead of waiting.
    zoho_max_retry_wait_seconds: float = 120.0
    # Zoho calls in flight at once per organization, across every worker: Zoho refuses more
    # (code 1070) above 5 on free plans and 10 on paid ones.
    zoho_max_concurrency: int = Field(default=5, ge=1)

    @field_validator("environment", mode="before")
    @classmethod
    def _lower_case_environment(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("secret_keys")
    @classmethod
    def _secret_keys_parse(cls, value: SecretStr) -> SecretStr:
        _parse_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        """Outside development and test, public or short secrets stop the service at start-up."""
        if self.environment in RELAXED_ENVIRONMENTS:
            return self
        problems = [problem for problem in (self._weakness("api_token", DEV_API_TOKEN),
                                            self._weakness("secret_key", DEV_SECRET_KEY)) if problem]
        if problems:
            raise ValueError(
                f"{'; '.join(problems)} (ENVIRONMENT={self.environment}). Make each one with: {MAKE_A_SECRET}"
                "; on a developer's machine only, set ENVIRONMENT=development to accept the defaults")
        return self

    def _weakness(self, field: str, dev_default: str) -> str | None:
        value, name = getattr(self, field).get_secret_value(), field.upper()
        if field not in self.model_fields_set:
            return f"{name} is not set"
        if value == dev_default:
            return f"{name} is the public development default"
        if len(value) < MIN_SECRET_CHARS:
            return f"{name} is shorter than {MIN_SECRET_CHARS} characters"
        return None

    @property
    def old_secret_keys(self) -> list[str]:
        """SECRET_KEYS as a list, in the order given."""
        return _parse_keys(self.secret_keys.get_secret_value())


def _parse_keys(raw: str) -> list[str]:
    """A JSON list of strings when it starts with `[`, else comma-separated (spaces around
    each key dropped); empty entries dropped."""
    if not raw.strip().startswith("["):
        return [key.strip() for key in raw.split(",") if key.strip()]
    try:
        keys = json.loads(raw)
    except ValueError:
        keys = None
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise ValueError("must be a JSON list of strings or a comma-separated list")
    return [key for key in keys if key]


@lru_cache
def get_settings() -> Settings:
    """The settings, or a `ConfigError` whose message names each variable to fix (a start-up
    stops with it instead of a validation traceback)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """One line per problem, each naming its environment variable."""
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        field = ".".join(str(part) for part in error["loc"]).upper()
        lines.append(f"{field}: {message}" if field else message)
    return "\n".join(lines)
