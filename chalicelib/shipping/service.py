"""Shipping methods staff define, and the ones a basket may use.

Every change is written with the event that announces it (the outbox), so the audit trail misses none."""
from __future__ import annotations

from chalicelib.core.dynamo import Page
from chalicelib.core.errors import Conflict, NotFound, same_version, still_changing
from chalicelib.core.events import envelope
from chalicelib.core.ids import iso, new_id
from chalicelib.core.models import PageQuery
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.outbox import announce
from chalicelib.shipping.events import ShippingMethodCreated, ShippingMethodUpdated
from chalicelib.shipping.models import (
    ShippingMethod,
    ShippingMethodCreate,
    ShippingMethodPatch,
)
from chalicelib.shipping.repository import MethodChanged, ShippingMethodRepository

_ATTEMPTS = 5


def not_found(method_id: str) -> NotFound:
    return NotFound(f"Shipping method {method_id} was not found.", code="SHIPPING_METHOD_NOT_FOUND")


class ShippingService:
    def __init__(self, methods: ShippingMethodRepository):
        self.methods = methods

    def create(self, new: ShippingMethodCreate, actor: str) -> ShippingMethod:
        moment = iso()
        method = ShippingMethod(id=new_id(), **new.model_dump(), active=True, version=1, created_at=moment,
                                updated_at=moment)
        dumped = method.model_dump(mode="json")
        events = [envelope(ShippingMethodCreated(method_id=method.id, name=method.name, zones=method.zones,
                                                 rates=dumped["rates"], tax_class=method.tax_class, version=1),
                           actor=actor)]
        self.methods.create(method, events)
        announce(events)
        return method

    def list(self, query: PageQuery) -> Page:
        return self.methods.page(query.limit, query.cursor)

    def get(self, method_id: str) -> ShippingMethod:
        method = self.methods.get(method_id)
        if method is None:
            raise not_found(method_id)
        return method

    def update(self, method_id: str, patch: ShippingMethodPatch, actor: str) -> ShippingMethod:
        changes = patch.changes()

        def write(current: ShippingMethod) -> ShippingMethod:
            same_version(current.version, patch.version, "shipping method")
            edited = current.model_copy(update={**changes, "version": current.version + 1, "updated_at": iso()})
            if (edited.min_days is not None and edited.max_days is not None and edited.max_days < edited.min_days):
                raise Conflict("maxDays must not be below minDays.", [{"field": "maxDays", "issue": "below_min_days",
                                                                       "message": f"at least {edited.min_days}"}],
                               code="SHIPPING_DAYS_INVALID")
            dumped = edited.model_dump(mode="json", by_alias=True)
            changed = {alias: dumped[alias] for alias in (ShippingMethod.model_fields[k].alias or k for k in changes)}
            events = [envelope(ShippingMethodUpdated(method_id=current.id, version=edited.version, changes=changed),
                               actor=actor)]
            self.methods.save(current, edited, events)
            announce(events)
            return edited

        return read_then_write(lambda: self.get(method_id), write, lost=MethodChanged, attempts=_ATTEMPTS,
                               gave_up=still_changing("The shipping method"))
