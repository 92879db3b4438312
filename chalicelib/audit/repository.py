"""Audit records in DynamoDB: keyed by event id (appended once), listed by entity or by time."""
from __future__ import annotations

from typing import Any

from chalicelib.audit.models import AuditRecord
from chalicelib.core import dynamo, shards
from chalicelib.core.dynamo import Page
from chalicelib.users.personal_data import names, without

LOG_PARTITION = "AUDITLOG"  # one time-ordered log, every audited event written to it: spread over shards
LOG_SHARDS = 128
_KEYS = ("PK", "SK")


def entity_partition(entity_type: str, entity_id: str) -> str:
    return f"AUDIT#{entity_type}#{entity_id}"


class RecordExists(Exception):
    """The event's record is in the trail already (a repeated delivery)."""


def _record(item: dict[str, Any]) -> AuditRecord:
    return dynamo.model_from_item(AuditRecord, item)


class AuditRepository:
    def append(self, record: AuditRecord, expires_at: int, people: frozenset[str] = frozenset()) -> bool:
        """Append the record once (False: it was there already). Where it names `people` (customers), it is
        written only while none of them is erased; a record naming one who was (an event delivered late or
        replayed) is written without them: the audit trail never gives an erased person back their id."""
        sort_key = f"{record.at}#{record.event_id}"
        item = {"PK": f"AUDITEVENT#{record.event_id}", "SK": "AUDIT", "type": "AUDIT", "expiresAt": expires_at,
                **record.model_dump(), "GSI1PK": shards.sharded(LOG_PARTITION, record.event_id, LOG_SHARDS),
                "GSI1SK": sort_key,
                "GSI2PK": entity_partition(record.entity_type, record.entity_id), "GSI2SK": sort_key}
        if not people:
            return dynamo.put_if_absent(item)
        from chalicelib.users.repository import PeopleErased, UserRepository

        try:
            dynamo.transact([dynamo.put(item, refused=RecordExists),
                             *(UserRepository.not_erased(person) for person in sorted(people))])
        except RecordExists:
            return False
        except PeopleErased as erased:
            for person in erased.parts:
                item = _without(item, person)
            return dynamo.put_if_absent(item)
        return True

    def forget(self, entity_type: str, entity_id: str, user_id: str) -> None:
        """Erasure: the entity's records keep what happened and when, with `user_id` made `erased` wherever
        they name it (the actor, the entity, the summary; a user's own records move to `AUDIT#USER#erased`).
        Records are appended once and never changed otherwise: each is rewritten whole."""
        for item in dynamo.every_item(entity_partition(entity_type, entity_id), index="GSI2"):
            if names({k: v for k, v in item.items() if k not in _KEYS}, user_id):
                dynamo.ddb().put_item(TableName=dynamo.table_name(), Item=dynamo.to_item(_without(item, user_id)),
                                      ConditionExpression="attribute_exists(PK)")

    def query(self, entity: tuple[str, str] | None, since: str | None, until: str | None, limit: int,
              cursor: str | None) -> Page:
        between = (since or "0", (until or "9") + "\uffff") if (since or until) else None
        if entity:
            page = dynamo.query_page(entity_partition(*entity), index="GSI2", limit=limit, cursor=cursor, forward=False,
                                     sort_between=between)
        else:
            page = shards.query_page(LOG_PARTITION, LOG_SHARDS, index="GSI1", limit=limit, cursor=cursor,
                                     forward=False, sort_between=between)
        page.items = [_record(item) for item in page.items]
        return page


def _without(item: dict[str, Any], user_id: str) -> dict[str, Any]:
    return {**without({k: v for k, v in item.items() if k not in _KEYS}, user_id),
            **{k: item[k] for k in _KEYS}}
