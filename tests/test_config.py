"""Start-up refuses public or short secrets unless ENVIRONMENT is development or test: in the
settings, and in real `skubridge` processes, which exit with a message instead of serving."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.config import DEV_API_TOKEN, DEV_SECRET_KEY, ConfigError, Settings, get_settings
from simulators.server import free_port

STRONG = "s" * 32
SKUBRIDGE = str(Path(sys.executable).parent / "skubridge")
MAKE_ONE = "secrets.token_urlsafe(32)"


@pytest.fixture
def env(monkeypatch):
    """The test process's environment without ENVIRONMENT, API_TOKEN and SECRET_KEY; settings
    read afresh (get_settings is cached) during the test and after it."""
    for name in ("ENVIRONMENT", "API_TOKEN", "SECRET_KEY", "SECRET_KEYS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def settings() -> Settings:
    return Settings(_env_file=None)


def test_unset_environment_is_production_and_refuses_unset_secrets(env):
    with pytest.raises(ValidationError) as refused:
        settings()
    message = str(refused.value)
    assert "API_TOKEN is not set" in message and "SECRET_KEY is not set" in message
    assert "ENVIRONMENT=production" in message and MAKE_ONE in message


def test_production_refuses_the_development_defaults(env):
    env.setenv("ENVIRONMENT", "production")
    env.setenv("API_TOKEN", DEV_API_TOKEN)
    env.setenv("SECRET_KEY", DEV_SECRET_KEY)
    with pytest.raises(ValidationError, match="API_TOKEN is the public development default") as refused:
        settings()
    assert "SECRET_KEY is the public development default" in str(refused.value)


@pytest.mark.parametrize("short", ["API_TOKEN", "SECRET_KEY"])
def test_production_refuses_short_secrets(env, short):
    env.setenv("API_TOKEN", STRONG)
    env.setenv("SECRET_KEY", STRONG)
    env.setenv(short, STRONG[:31])
    with pytest.raises(ValidationError, match=f"{short} is shorter than 32 characters") as refused:
        settings()
    other = ({"API_TOKEN", "SECRET_KEY"} - {short}).pop()
    assert other not in str(refused.value)


def test_production_accepts_secrets_of_32_characters(env):
    env.setenv("API_TOKEN", STRONG)
    env.setenv("SECRET_KEY", "k" * 32)
    loaded = settings()
    assert loaded.environment == "production"
    assert loaded.secret_key.get_secret_value() == "k" * 32


@pytest.mark.parametrize("environment", ["development", "test", "Development"])
def test_development_and_test_accept_the_defaults(env, environment):
    env.setenv("ENVIRONMENT", environment)
    loaded = settings()
    assert loaded.environment == environment.lower()
    assert loaded.api_token.get_secret_value() == DEV_API_TOKEN
    assert loaded.secret_key.get_secret_value() == DEV_SECRET_KEY


def test_get_settings_reports_a_refusal_as_a_readable_message(env):
    env.setenv("API_TOKEN", STRONG)
    with pytest.raises(ConfigError) as refused:
        get_settings()
    assert str(refused.value).startswith("SECRET_KEY is not set")
    assert "API_TOKEN" not in str(refused.value)


@pytest.mark.parametrize(("raw", "keys"), [
    ("", []),
    ("old-one, old-two,", ["old-one", "old-two"]),
    ('["old,one", "old-two"]', ["old,one", "old-two"]),
])
def test_secret_keys_is_a_comma_separated_or_json_list(env, raw, keys):
    env.setenv("ENVIRONMENT", "test")
    env.setenv("SECRET_KEYS", raw)
    assert settings().old_secret_keys == keys


def test_a_malformed_secret_keys_list_is_refused(env):
    env.setenv("ENVIRONMENT", "test")
    env.setenv("SECRET_KEYS", '["old", 3]')
    with pytest.raises(ConfigError, match="SECRET_KEYS: must be a JSON list of strings"):
        get_settings()


def without_secrets(**extra: str) -> dict[str, str]:
    drop = {"ENVIRONMENT", "API_TOKEN", "SECRET_KEY", "SECRET_KEYS"}
    return {k: v for k, v in os.environ.items() if k not in drop} | extra


@pytest.mark.parametrize(("command", "env", "expected"), [
    (["api", "--port", "0"], {}, ["API_TOKEN is not set", "SECRET_KEY is not set"]),
    (["worker"], {"API_TOKEN": DEV_API_TOKEN, "SECRET_KEY": DEV_SECRET_KEY},
     ["API_TOKEN is the public development default", "SECRET_KEY is the public development default"]),
    (["migrate"], {"API_TOKEN": STRONG}, ["SECRET_KEY is not set"]),
    (["rotate-keys"], {"API_TOKEN": STRONG, "SECRET_KEY": "too-short"}, ["SECRET_KEY is shorter than 32"]),
])
def test_the_commands_refuse_to_start_without_secrets(tmp_path, command, env, expected):
    """A real process, started where no .env is: it exits 1 with the message, no traceback."""
    done = subprocess.run([SKUBRIDGE, *command], cwd=tmp_path, env=without_secrets(**env), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done
    assert "refusing to start" in done.stderr and MAKE_ONE in done.stderr
    for phrase in expected:
        assert phrase in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_api_starts_with_the_defaults_in_development(tmp_path, database):
    """The development token is accepted: an unknown connection is a 404, not a 401."""
    port = free_port()
    process = subprocess.Popen([SKUBRIDGE, "api", "--port", str(port)], cwd=tmp_path,
                               env=without_secrets(ENVIRONMENT="development"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/connections/{uuid.uuid4()}", timeout=2,
                                     headers={"Authorization": f"Bearer {DEV_API_TOKEN}"})
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"the API did not come up: {process.poll()}")
        assert response.status_code == 404, response.text
    finally:
        process.terminate()
        process.wait(timeout=10)
