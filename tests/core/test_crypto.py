"""The keyring: blobs sealed with SECRET_KEY, opened with it or SECRET_KEYS, bound to their
connection and column; blobs from before binding still open and re-seal bound."""

import uuid

import pytest
from pydantic import SecretStr

from app.config import Settings
from app.core.crypto import BOUND_PREFIX, CredentialsUnreadable, Keyring
from tests.helpers import legacy_blob

KEY_A = "key-a-" + "a" * 40
KEY_B = "key-b-" + "b" * 40
DATA = {"consumer_key": "ck_live", "consumer_secret": "cs_live"}
ONE, OTHER = uuid.uuid4(), uuid.uuid4()


def test_a_sealed_blob_opens_for_its_own_connection_and_purpose_only():
    keyring = Keyring(KEY_A)
    blob = keyring.seal(DATA, connection_id=ONE, purpose="credentials")
    assert blob.startswith(BOUND_PREFIX) and "cs_live" not in blob
    assert keyring.open(blob, connection_id=ONE, purpose="credentials") == DATA
    with pytest.raises(CredentialsUnreadable, match=str(OTHER)):
        keyring.open(blob, connection_id=OTHER, purpose="credentials")
    with pytest.raises(CredentialsUnreadable, match="webhook_secret"):
        keyring.open(blob, connection_id=ONE, purpose="webhook_secret")


def test_old_keys_open_and_reseal_moves_a_blob_to_the_current_key():
    blob = Keyring(KEY_A).seal(DATA, connection_id=ONE, purpose="credentials")
    with pytest.raises(CredentialsUnreadable):
        Keyring(KEY_B).open(blob, connection_id=ONE, purpose="credentials")
    rotating = Keyring(KEY_B, [KEY_A])
    assert rotating.open(blob, connection_id=ONE, purpose="credentials") == DATA
    resealed = rotating.reseal(blob, connection_id=ONE, purpose="credentials")
    assert resealed is not None and resealed.startswith(BOUND_PREFIX)
    assert Keyring(KEY_B).open(resealed, connection_id=ONE, purpose="credentials") == DATA
    assert rotating.reseal(resealed, connection_id=ONE, purpose="credentials") is None  # already current


def test_a_legacy_blob_opens_unbound_and_reseals_bound():
    blob = legacy_blob(KEY_A, DATA)
    assert Keyring(KEY_A).open(blob, connection_id=ONE, purpose="credentials") == DATA
    assert Keyring(KEY_B, [KEY_A]).open(blob, connection_id=OTHER, purpose="credentials") == DATA
    resealed = Keyring(KEY_A).reseal(blob, connection_id=ONE, purpose="credentials")
    assert resealed is not None and resealed.startswith(BOUND_PREFIX)
    assert Keyring(KEY_A).open(resealed, connection_id=ONE, purpose="credentials") == DATA
    with pytest.raises(CredentialsUnreadable):
        Keyring(KEY_A).open(resealed, connection_id=OTHER, purpose="credentials")


def test_a_legacy_blob_of_an_unknown_key_is_unreadable():
    blob = legacy_blob(KEY_A, DATA)
    with pytest.raises(CredentialsUnreadable, match=str(ONE)):
        Keyring(KEY_B).open(blob, connection_id=ONE, purpose="credentials")
    with pytest.raises(CredentialsUnreadable, match=str(ONE)):
        Keyring(KEY_B).reseal(blob, connection_id=ONE, purpose="credentials")


def test_reseal_refuses_a_blob_bound_to_another_connection():
    blob = Keyring(KEY_A).seal(DATA, connection_id=OTHER, purpose="credentials")
    with pytest.raises(CredentialsUnreadable, match=str(ONE)):
        Keyring(KEY_B, [KEY_A]).reseal(blob, connection_id=ONE, purpose="credentials")


def test_the_keyring_is_built_from_secret_key_and_secret_keys():
    settings = Settings(_env_file=None, environment="test", secret_key=SecretStr(KEY_B),
                        secret_keys=SecretStr(f"other-old-key, {KEY_A}"))
    blob = Keyring(KEY_A).seal(DATA, connection_id=ONE, purpose="credentials")
    keyring = Keyring.from_settings(settings)
    assert keyring.open(blob, connection_id=ONE, purpose="credentials") == DATA
    fresh = keyring.seal(DATA, connection_id=ONE, purpose="credentials")
    assert Keyring(KEY_B).open(fresh, connection_id=ONE, purpose="credentials") == DATA
