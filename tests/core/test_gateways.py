"""Gateways to Cognito, SES and SSM: a provider's refusal is one typed error with its code; fakes go in one place."""
from __future__ import annotations

import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.core import gateways
from chalicelib.core.gateways import ProviderError, identity_provider, mailer, replaced, secrets


class Refusing:
    """A boto3 client whose every call is refused with `code` (or never reaches the provider)."""

    def __init__(self, code: str | None):
        self.code = code

    def __getattr__(self, operation):
        def call(**kwargs):
            if self.code is None:
                raise EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com")
            raise ClientError({"Error": {"Code": self.code, "Message": "a message naming ann@example.com"}},
                              operation)

        return call


@pytest.fixture
def provider_says(monkeypatch):
    def install(code: str | None):
        monkeypatch.setattr(gateways, "client", lambda service: Refusing(code))

    return install


def test_a_cognito_refusal_surfaces_with_cognitos_code(provider_says):
    provider_says("UsernameExistsException")
    with pytest.raises(ProviderError) as refused:
        identity_provider().sign_up("ann@example.com", "Str0ngpass")
    assert (refused.value.service, refused.value.code) == ("cognito-idp", "UsernameExistsException")
    assert "ann@example.com" not in str(refused.value)


def test_an_unreachable_mail_provider_counts_as_a_refusal(provider_says):
    provider_says(None)
    with pytest.raises(ProviderError) as refused:
        mailer().send("ann@example.com", "Hello", "Hi Ann")
    assert refused.value.code == "EndpointConnectionError"


def test_an_unreachable_identity_provider_is_not_a_refusal(provider_says):
    provider_says(None)  # as before the gateways: the request fails, it does not answer "wrong password"
    with pytest.raises(EndpointConnectionError):
        identity_provider().password_sign_in("ann@example.com", "Str0ngpass")


def test_secrets_are_read_decrypted(aws):
    boto3.client("ssm", region_name="us-east-1").put_parameter(Name="/shop/local/test-secret", Value="s3cret",
                                                              Type="SecureString")
    assert secrets().get("/shop/local/test-secret") == "s3cret"
    with pytest.raises(ProviderError) as missing:
        secrets().get("/shop/local/nothing-here")
    assert missing.value.code == "ParameterNotFound"


def test_the_staff_group_lists_enabled_members_only(aws):
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    subs = {}
    for name in ("boss", "former"):
        user = idp.admin_create_user(UserPoolId=aws["user_pool_id"], Username=f"{name}@example.com",
                                     MessageAction="SUPPRESS")["User"]
        idp.admin_add_user_to_group(UserPoolId=aws["user_pool_id"], Username=f"{name}@example.com",
                                    GroupName="admin")
        subs[name] = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
    idp.admin_disable_user(UserPoolId=aws["user_pool_id"], Username="former@example.com")
    assert identity_provider().user_ids_in_group("admin") == [subs["boss"]]


def test_fakes_replace_gateways_within_the_block_only():
    class Quiet:
        def send(self, to, subject, text):
            pass

    real = mailer()
    fake = Quiet()
    with replaced(mailer=fake):
        assert mailer() is fake and secrets() is not fake
        with replaced(mailer=None):  # None puts the real one back for an inner block
            assert mailer() is real
        assert mailer() is fake
    assert mailer() is real
    with pytest.raises(TypeError), replaced(mailbox=fake):
        pass


def test_importing_the_gateways_loads_neither_boto3_nor_botocore():
    code = ("import sys, chalicelib.core.gateways\n"
            "bad = [m for m in ('boto3', 'botocore') if m in sys.modules]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
