"""Real Cognito logins against the emulator, and tokens signed with keys we choose."""
from __future__ import annotations

import base64
import gzip
import json
import pathlib
import time
from typing import Any

import jwt
import moto.cognitoidp
from cryptography.hazmat.primitives.asymmetric import rsa

PASSWORD = "Secret123!pw"


def make_user(idp: Any, pool_id: str, email: str, group: str | None = None) -> str:
    idp.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": email},
                                          {"Name": "email_verified", "Value": "true"},
                                          {"Name": "name", "Value": "Test User"}])
    idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=PASSWORD, Permanent=True)
    if group:
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
    return email


def login(idp: Any, client_id: str, email: str) -> dict[str, str]:
    result = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})
    return result["AuthenticationResult"]


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def packaged_private_key() -> Any:
    """The private key shipped inside moto's package, which every moto pool would sign with: anyone has it."""
    path = pathlib.Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-private.json.gz"
    return jwt.PyJWK(json.loads(gzip.decompress(path.read_bytes())), algorithm="RS256").key


def pool_private_key(pool_id: str) -> tuple[Any, str]:
    """The pool's own signing key and its kid, from where the emulator keeps it (local/signing_keys.py)."""
    from local.signing_keys import directory

    found = json.loads((directory() / f"{pool_id}.json").read_text())
    return jwt.PyJWK(found, algorithm="RS256").key, found["kid"]


def sign(claims: dict[str, Any], key: Any, kid: str = "dummy") -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def signed_by_pool(claims: dict[str, Any], pool_id: str) -> str:
    key, kid = pool_private_key(pool_id)
    return sign(claims, key, kid)


def foreign_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def unsigned(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "dummy"})


def tampered(token: str, **changes: Any) -> str:
    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps({**claims_of(token), **changes}).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def expired(claims: dict[str, Any]) -> dict[str, Any]:
    past = int(time.time()) - 3600
    return {**claims, "iat": past - 3600, "auth_time": past - 3600, "exp": past}
