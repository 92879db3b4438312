"""Appending one audit record per domain event, and answering staff's questions about them."""
from __future__ import annotations

import functools
from datetime import timedelta

from chalicelib.audit.models import AuditQuery, AuditRecord
from chalicelib.audit.repository import AuditRepository
from chalicelib.core.dynamo import Page
from chalicelib.core.events import Envelope
from chalicelib.core.ids import now
from chalicelib.core.settings import settings

# Personal data stays out of the audit trail: it outlives erasure.
_NOT_AUDITED = {"shippingAddress", "email", "name", "phone"}


class AuditService:
    def __init__(self, records: AuditRepository | None = None):
        self.records = records or AuditRepository()

    def record(self, event: Envelope) -> bool:
        """Append the event's record; False if it was already there (a repeated delivery)."""
        data = event.parsed()
        summary = {k: v for k, v in event.data.items() if k not in _NOT_AUDITED}
        record = AuditRecord(event_id=event.id, action=event.type, actor=event.actor, entity_type=data.entity_type,
                             entity_id=data.entity_id, summary=summary, correlation_id=event.correlationId,
                             at=event.occurredAt)
        expires = int((now() + timedelta(days=settings().audit_retention_days)).timestamp())
        return self.records.append(record, expires)

    def query(self, query: AuditQuery) -> Page:
        entity = (query.entity_type, query.entity_id) if query.entity_type else None
        return self.records.query(entity, query.from_, query.to, query.limit, query.cursor)


@functools.lru_cache(maxsize=1)
def audit_service() -> AuditService:
    return AuditService()
