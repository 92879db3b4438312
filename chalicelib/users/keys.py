"""Key design of user items (see docs/access-patterns.md)."""
from __future__ import annotations


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


PROFILE_SK = "PROFILE"
ADDRESS_PREFIX = "ADDRESS#"
ALL_USERS = "USERS"


def address_sk(address_id: str) -> str:
    return f"{ADDRESS_PREFIX}{address_id}"


def status_partition(status: str) -> str:
    return f"USERSTATUS#{status}"


def listing_keys(created_at: str, user_id: str, status: str) -> dict[str, str]:
    sort_key = f"{created_at}#{user_id}"
    return {"GSI1PK": status_partition(status), "GSI1SK": sort_key,
            "GSI2PK": ALL_USERS, "GSI2SK": sort_key}
