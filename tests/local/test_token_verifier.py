"""The local gateway refuses what API Gateway refuses: only a genuine, current ID token of this pool passes."""
from __future__ import annotations

import pytest

from local.verifying_server import InvalidToken, TokenVerifier
from tests.local import tokens


@pytest.fixture(scope="module")
def pool(stack, client_for, emulator):
    idp = client_for("cognito-idp")
    summary = stack.summary()
    pool_id, client_id = summary["user_pool_id"], summary["user_pool_client_id"]
    email = tokens.make_user(idp, pool_id, "verifier@example.com", group="admin")
    return {"idp": idp, "pool_id": pool_id, "client_id": client_id, "tokens": tokens.login(idp, client_id, email),
            "jwks_url": f"{emulator.url}/{pool_id}/.well-known/jwks.json",
            "issuer": f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"}


@pytest.fixture(scope="module")
def verifier(pool):
    return TokenVerifier(pool["jwks_url"], issuer=pool["issuer"], audience=pool["client_id"])


@pytest.fixture(scope="module")
def id_claims(pool):
    return tokens.claims_of(pool["tokens"]["IdToken"])


def test_genuine_id_token_yields_its_claims(verifier, pool):
    claims = verifier.verify(pool["tokens"]["IdToken"])
    assert claims["email"] == "verifier@example.com"
    assert claims["token_use"] == "id"
    assert claims["aud"] == pool["client_id"]
    assert claims["sub"]


def test_token_signed_again_with_the_pool_key_verifies(verifier, id_claims, pool):
    # Control for the expiry test below: the same key and claims pass while current.
    assert verifier.verify(tokens.signed_by_pool(id_claims, pool["pool_id"]))["sub"] == id_claims["sub"]


def test_expired_token_is_refused(verifier, id_claims, pool):
    with pytest.raises(InvalidToken):
        verifier.verify(tokens.signed_by_pool(tokens.expired(id_claims), pool["pool_id"]))


def test_a_token_signed_with_the_key_inside_the_emulators_package_is_refused(verifier, id_claims, pool):
    admin = {**id_claims, "cognito:groups": ["admin"]}
    for kid in ("dummy", tokens.pool_private_key(pool["pool_id"])[1]):
        with pytest.raises(InvalidToken):
            verifier.verify(tokens.sign(admin, tokens.packaged_private_key(), kid))


def test_each_pool_signs_with_its_own_key_named_in_its_tokens(pool, emulator):
    import json

    from local.emulator import local_opener

    idp = pool["idp"]
    other = idp.create_user_pool(PoolName="another-stack", UsernameAttributes=["email"])["UserPool"]["Id"]
    keys = {}
    for pool_id in (pool["pool_id"], other):
        with local_opener().open(f"{emulator.url}/{pool_id}/.well-known/jwks.json", timeout=10) as answer:
            (keys[pool_id],) = json.loads(answer.read())["keys"]
    assert keys[pool["pool_id"]]["n"] != keys[other]["n"] and keys[pool["pool_id"]]["kid"] != keys[other]["kid"]
    assert tokens.header_of(pool["tokens"]["IdToken"])["kid"] == keys[pool["pool_id"]]["kid"]


def test_access_token_is_not_an_id_token(verifier, pool):
    with pytest.raises(InvalidToken):
        verifier.verify(pool["tokens"]["AccessToken"])


def test_unsigned_token_is_refused(verifier, id_claims):
    with pytest.raises(InvalidToken):
        verifier.verify(tokens.unsigned(id_claims))


def test_token_signed_with_another_key_is_refused(verifier, id_claims):
    with pytest.raises(InvalidToken):
        verifier.verify(tokens.sign(id_claims, tokens.foreign_key()))


def test_tampered_payload_is_refused(verifier, pool):
    forged = tokens.tampered(pool["tokens"]["IdToken"], **{"cognito:groups": ["admin", "root"], "sub": "someone"})
    with pytest.raises(InvalidToken):
        verifier.verify(forged)


def test_token_for_another_app_client_is_refused(pool):
    other_audience = TokenVerifier(pool["jwks_url"], issuer=pool["issuer"], audience="another-client")
    with pytest.raises(InvalidToken):
        other_audience.verify(pool["tokens"]["IdToken"])


def test_token_of_another_pool_is_refused(verifier, pool):
    idp = pool["idp"]
    other = idp.create_user_pool(PoolName="elsewhere", UsernameAttributes=["email"])["UserPool"]["Id"]
    other_client = idp.create_user_pool_client(UserPoolId=other, ClientName="web",
                                               ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])
    client_id = other_client["UserPoolClient"]["ClientId"]
    email = tokens.make_user(idp, other, "stranger@example.com")
    with pytest.raises(InvalidToken):
        verifier.verify(tokens.login(idp, client_id, email)["IdToken"])


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "Bearer", "eyJhbGciOiJSUzI1NiJ9..", "x" * 5000])
def test_garbage_is_refused(verifier, garbage):
    with pytest.raises(InvalidToken):
        verifier.verify(garbage)
