"""Audit wire models."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from chalicelib.core.models import ApiModel, DateFrom, DateTo, PageQuery, Timestamp

EntityType = Literal["ORDER", "PRODUCT", "USER", "CHECKOUT", "PROMOTION", "TAXRATE", "SHIPPINGMETHOD"]


class AuditRecord(ApiModel):
    event_id: str
    action: str
    actor: str
    entity_type: EntityType
    entity_id: str
    summary: dict[str, Any]
    correlation_id: str | None = None  # absent when the cause had none (e.g. a scheduled run)
    at: Timestamp


class AuditQuery(PageQuery):
    entity_type: EntityType | None = Field(default=None, alias="entityType")
    entity_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, alias="entityId")
    from_: DateFrom = Field(default=None, alias="from")
    to: DateTo = None

    @model_validator(mode="after")
    def _entity_needs_both(self) -> "AuditQuery":
        if (self.entity_type is None) != (self.entity_id is None):
            raise ValueError("entityType and entityId go together")
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("from must not be after to")
        return self
