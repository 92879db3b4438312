"""Appending one audit record per domain event, and answering staff's questions about them."""
from __future__ import annotations

from datetime import timedelta

from chalicelib.audit.models import AuditQuery, AuditRecord
from chalicelib.audit.repository import AuditRepository
from chalicelib.core.dynamo import Page
from chalicelib.core.events import Envelope
from chalicelib.core.ids import now
from chalicelib.core.settings import settings
from chalicelib.users.personal_data import ERASED

# Personal data stays out of the audit trail: it outlives erasure.
_NOT_AUDITED = {"shippingAddress", "email", "name", "phone"}


class AuditService:
    def __init__(self, records: AuditRepository):
        self.records = records

    def record(self, event: Envelope) -> bool:
        """Append the event's record; False if it was already there (a repeated delivery). A record naming a
        customer who was erased meanwhile is kept without them."""
        data = event.parsed()
        summary = {k: v for k, v in event.data.items() if k not in _NOT_AUDITED}
        record = AuditRecord(event_id=event.id, action=event.type, actor=event.actor, entity_type=data.entity_type,
                             entity_id=data.entity_id, summary=summary, correlation_id=event.correlationId,
                             at=event.occurredAt)
        expires = int((now() + timedelta(days=settings().audit_retention_days)).timestamp())
        return self.records.append(record, expires, people=_customers_named(record))

    def forget(self, entity_type: str, entity_id: str, user_id: str) -> None:
        """Erasure: the entity's records rid of `user_id` (see AuditRepository.forget)."""
        self.records.forget(entity_type, entity_id, user_id)

    def query(self, query: AuditQuery) -> Page:
        entity = (query.entity_type, query.entity_id) if query.entity_type else None
        return self.records.query(entity, query.from_, query.to, query.limit, query.cursor)


def _customers_named(record: AuditRecord) -> frozenset[str]:
    """The customers a record names: the user of an order, checkout, refund or payment event, or the user an
    account event is about (staff acting name no customer but themselves)."""
    named = {record.summary.get("userId"), record.entity_id if record.entity_type == "USER" else None}
    return frozenset(person for person in named if isinstance(person, str) and person and person != ERASED)
