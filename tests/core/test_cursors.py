"""Pagination cursors are signed with the stack's key: an edited, forged or foreign cursor is refused."""
from __future__ import annotations

import base64
import hashlib

import pytest

from chalicelib.core import gateways
from chalicelib.core.dynamo import cursor_key, decode_cursor, encode_cursor
from chalicelib.core.errors import BadRequest
from chalicelib.core.gateways import ProviderError
from chalicelib.core.settings import reset_settings

LAST_KEY = {"PK": {"S": "PRODUCT#1"}, "SK": {"S": "PRODUCT"},
            "GSI2PK": {"S": "PRODUCTS"}, "GSI2SK": {"S": "mug#1"}}


def _payload(cursor: str) -> str:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()[32:]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _refused(cursor: str, partition: str = "PRODUCTS", index: str = "GSI2") -> bool:
    with pytest.raises(BadRequest) as refused:
        decode_cursor(cursor, partition, index)
    return refused.value.code == "INVALID_CURSOR"


class _Secrets:
    def __init__(self, value: str):
        self.value, self.reads = value, []

    def get(self, name: str) -> str:
        self.reads.append(name)
        return self.value


def _stage(monkeypatch, **environment: str) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    cursor_key.cache_clear()


def test_a_cursor_round_trips_under_the_key_and_is_opaque():
    cursor = encode_cursor(LAST_KEY, "PRODUCTS")
    assert "PRODUCT#1" not in cursor
    assert decode_cursor(cursor, "PRODUCTS", "GSI2") == LAST_KEY


def test_no_last_key_means_no_cursor():
    assert encode_cursor(None, "PRODUCTS") is None
    assert decode_cursor(None, "PRODUCTS", "GSI2") is None


def test_an_edited_cursor_is_refused():
    cursor = encode_cursor(LAST_KEY, "PRODUCTS")
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    assert _refused(_b64(raw.replace("mug#1", "mug#2")))
    assert _refused(cursor[:-2])


def test_a_cursor_computed_with_the_old_unkeyed_digest_is_refused():
    payload = _payload(encode_cursor(LAST_KEY, "PRODUCTS"))
    assert _refused(_b64(hashlib.sha256(payload.encode()).hexdigest()[:16] + payload))
    # Nor does knowing the scheme help: the unkeyed hash at the new length is no signature either.
    assert _refused(_b64(hashlib.sha256(payload.encode()).hexdigest()[:32] + payload))


def test_a_cursor_from_another_list_is_refused():
    cursor = encode_cursor(LAST_KEY, "PRODUCTS")
    assert _refused(cursor, "CATEGORY#kitchen")
    assert _refused(cursor, "PRODUCTS", "GSI1")


def test_a_cursor_signed_under_another_key_is_refused(monkeypatch):
    _stage(monkeypatch, CURSOR_KEY="another-stacks-key")
    foreign = encode_cursor(LAST_KEY, "PRODUCTS")
    _stage(monkeypatch, CURSOR_KEY="local-cursor-key")
    assert _refused(foreign)


def test_a_deployed_stage_reads_its_key_from_the_stacks_secret_once(monkeypatch):
    _stage(monkeypatch, STAGE="prod", CURSOR_KEY_SECRET="arn:aws:secretsmanager:us-east-1:1:secret:k-AbCdEf")
    fake = _Secrets("generated-by-secrets-manager")
    with gateways.replaced(stack_secrets=fake):
        cursor = encode_cursor(LAST_KEY, "PRODUCTS")
        assert decode_cursor(cursor, "PRODUCTS", "GSI2") == LAST_KEY
    assert fake.reads == ["arn:aws:secretsmanager:us-east-1:1:secret:k-AbCdEf"]
    assert cursor_key() == b"generated-by-secrets-manager"


def test_a_deployed_stage_without_its_secret_never_signs_with_the_local_key(monkeypatch):
    _stage(monkeypatch, STAGE="prod")
    monkeypatch.delenv("CURSOR_KEY_SECRET", raising=False)
    reset_settings()
    with pytest.raises(RuntimeError, match="CURSOR_KEY_SECRET"):
        encode_cursor(LAST_KEY, "PRODUCTS")
    with pytest.raises(RuntimeError, match="CURSOR_KEY_SECRET"):
        decode_cursor("anything", "PRODUCTS", "GSI2")


def test_in_the_stack_the_key_is_the_generated_secret_and_only_paging_functions_may_read_it(aws, monkeypatch):
    import boto3

    from local import identities

    _stage(monkeypatch, CURSOR_KEY_SECRET="shop-local-cursor-key")
    generated = boto3.client("secretsmanager").get_secret_value(SecretId="shop-local-cursor-key")["SecretString"]
    with identities.running_as("api_handler"):
        assert cursor_key() == generated.encode()
    cursor_key.cache_clear()
    with identities.running_as("record_audit"), pytest.raises(ProviderError) as refused:
        cursor_key()
    assert refused.value.code == "AccessDeniedException"
