"""Audit records in DynamoDB: keyed by event id (appended once), listed by entity or by time."""
from __future__ import annotations

from typing import Any

from chalicelib.audit.models import AuditRecord
from chalicelib.core.dynamo import Page, model_from_item, put_if_absent, query_page

LOG_PARTITION = "AUDITLOG"  # one time-ordered log; shard by day if writes pass ~1,000/s


def entity_partition(entity_type: str, entity_id: str) -> str:
    return f"AUDIT#{entity_type}#{entity_id}"


def _record(item: dict[str, Any]) -> AuditRecord:
    return model_from_item(AuditRecord, item)


class AuditRepository:
    def append(self, record: AuditRecord, expires_at: int) -> bool:
        sort_key = f"{record.at}#{record.event_id}"
        item = {"PK": f"AUDITEVENT#{record.event_id}", "SK": "AUDIT", "type": "AUDIT", "expiresAt": expires_at,
                **record.model_dump(), "GSI1PK": LOG_PARTITION, "GSI1SK": sort_key,
                "GSI2PK": entity_partition(record.entity_type, record.entity_id), "GSI2SK": sort_key}
        return put_if_absent(item)

    def query(self, entity: tuple[str, str] | None, since: str | None, until: str | None, limit: int,
              cursor: str | None) -> Page:
        between = (since or "0", (until or "9") + "\uffff") if (since or until) else None
        if entity:
            page = query_page(entity_partition(*entity), index="GSI2", limit=limit, cursor=cursor, forward=False,
                              sort_between=between)
        else:
            page = query_page(LOG_PARTITION, index="GSI1", limit=limit, cursor=cursor, forward=False,
                              sort_between=between)
        page.items = [_record(item) for item in page.items]
        return page
