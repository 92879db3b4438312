"""Test helpers: tokens carrying chosen claims, as API Gateway would hand them to the app."""
from __future__ import annotations

import base64
import json


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def token_for(sub: str, *, email: str | None = None, groups: list[str] | None = None,
              name: str = "Test User") -> str:
    """An unsigned ID token: Chalice's test client trusts the payload like the gateway would.

    Real signature checks are the gateway's job (and the local server's, tested separately).
    """
    claims = {"sub": sub, "cognito:username": sub, "email": email or f"{sub}@example.com",
              "name": name, "token_use": "id"}
    if groups:
        claims["cognito:groups"] = groups
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.sig"


def auth(sub: str, **kwargs) -> dict[str, str]:
    return {"Authorization": token_for(sub, **kwargs)}


ADMIN = {"Authorization": token_for("admin-1", groups=["admin"])}
CUSTOMER = {"Authorization": token_for("customer-1")}
OTHER_CUSTOMER = {"Authorization": token_for("customer-2")}
