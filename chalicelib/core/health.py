"""Health: is the table reachable with this function's own permissions?"""
from __future__ import annotations

from chalicelib.core.dynamo import ddb, key, table_name
from chalicelib.core.errors import ServiceUnavailable
from chalicelib.core.logs import get_logger


def check_health() -> dict:
    try:
        # A GetItem of a key that never exists: cheap, and uses the permissions routes use.
        ddb().get_item(TableName=table_name(), Key=key("HEALTH", "HEALTH"))
    except Exception:
        get_logger("health").exception("table unreachable")
        raise ServiceUnavailable("The data store is unreachable.", code="UNHEALTHY") from None
    return {"status": "ok", "checks": {"table": "ok"}}
