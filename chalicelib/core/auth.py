"""Who is calling: the Cognito claims API Gateway verified, turned into a Caller (no web framework here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.errors import Unauthorized

ADMIN_GROUP = "admin"


@dataclass(frozen=True)
class Caller:
    user_id: str
    email: str | None = None
    name: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups


def parse_groups(raw: Any) -> frozenset[str]:
    """`cognito:groups` is a list locally but one string behind API Gateway (REST).

    The gateway renders a list as "[a, b]" or "a,b" depending on how it was mapped,
    so accept every form.
    """
    if raw is None:
        return frozenset()
    if isinstance(raw, (list, tuple, set, frozenset)):
        items = raw
    else:
        items = str(raw).strip().strip("[]").replace(" ", ",").split(",")
    return frozenset(item.strip() for item in items if item and item.strip())


def caller_from_claims(claims: dict[str, Any] | None) -> Caller:
    if not claims or not claims.get("sub"):
        raise Unauthorized("Authentication is required.")
    return Caller(user_id=str(claims["sub"]), email=claims.get("email"), name=claims.get("name"),
                  groups=parse_groups(claims.get("cognito:groups")))
