"""Who is calling: the Cognito claims API Gateway verified, turned into a Caller."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from chalicelib.core.errors import Forbidden, Unauthorized
from chalicelib.core.http import current_request

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


# Checks run on every authenticated request (e.g. refusing a suspended account whose
# token API Gateway still honours). Domains register them at import of app.py.
_caller_checks: list[Callable[[Caller], None]] = []


def register_caller_check(check: Callable[[Caller], None]) -> None:
    if check not in _caller_checks:
        _caller_checks.append(check)


def caller(require_group: str | None = None, *, allow_inactive: bool = False) -> Caller:
    """The authenticated caller of the current request; 401 without claims, 403 without the group.

    `allow_inactive` skips the account checks, for the few routes a suspended or erased
    account may still use (erasing itself).
    """
    request = current_request()
    claims = ((request.context or {}).get("authorizer") or {}).get("claims")
    who = caller_from_claims(claims)
    if not allow_inactive:
        for check in _caller_checks:
            check(who)
    if require_group and require_group not in who.groups:
        raise Forbidden("You are not allowed to do this.")
    return who
