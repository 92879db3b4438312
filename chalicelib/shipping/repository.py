"""Shipping methods in DynamoDB: one item per method (`SHIPPINGMETHOD#<id>`), listed through GSI2."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.core import dynamo, read_cache
from chalicelib.core.events import Envelope
from chalicelib.core.outbox import outbox_puts
from chalicelib.shipping import keys
from chalicelib.shipping.models import ShippingMethod


class MethodChanged(Exception):
    """The method changed between the read and the write."""


_EVERY_METHOD = (keys.ALL_METHODS, "*")  # this container's copy of the list


def method_of(item: dict[str, Any]) -> ShippingMethod:
    return dynamo.model_from_item(ShippingMethod, item)


class ShippingMethodRepository:
    @staticmethod
    def method_keys(method_id: str | None) -> list[tuple[str, str]]:
        """What to read, with a basket's products, for the method it chose."""
        return [keys.method_key(method_id)] if method_id else []

    @staticmethod
    def method_from(method_id: str | None, items: dict[tuple[str, str], dict[str, Any]]) -> ShippingMethod | None:
        item = items.get(keys.method_key(method_id)) if method_id else None
        return method_of(item) if item else None

    def get(self, method_id: str) -> ShippingMethod | None:
        item = dynamo.get(*keys.method_key(method_id), consistent=True)
        return method_of(dynamo.from_item(item)) if item else None

    def page(self, limit: int, cursor: str | None) -> dynamo.Page:
        page = dynamo.query_page(keys.ALL_METHODS, index="GSI2", limit=limit, cursor=cursor)
        page.items = [method_of(item) for item in page.items]
        return page

    def every_method(self) -> Iterator[ShippingMethod]:
        """Every method, as this container read them within SETTINGS_CACHE_SECONDS (core/read_cache.py): every
        basket given an address asks, and their one index partition would cap the shop at 6,000 a second."""
        kept, _ = read_cache.split([_EVERY_METHOD])
        if _EVERY_METHOD in kept:
            items = kept[_EVERY_METHOD]["items"]
        else:
            items = list(dynamo.every_item(keys.ALL_METHODS, index="GSI2"))
            read_cache.keep([_EVERY_METHOD], {_EVERY_METHOD: {"items": items}})
        return (method_of(item) for item in items)

    def create(self, method: ShippingMethod, events: list[Envelope]) -> None:
        item = {"PK": keys.method_pk(method.id), "SK": keys.METHOD_SK, "type": "SHIPPINGMETHOD",
                **method.model_dump(), **keys.listing_keys(method.id, method.created_at)}
        dynamo.transact([dynamo.put(item), *outbox_puts(events)])
        read_cache.forget(keys.method_key(method.id), _EVERY_METHOD)  # read as absent before: there now

    def save(self, seen: ShippingMethod, saved: ShippingMethod, events: list[Envelope]) -> None:
        """Write what changed from `seen` to `saved` with `events`, conditioned on the version read."""
        old, new = seen.model_dump(), saved.model_dump()
        change = dynamo.Update().set_or_remove({name: value for name, value in new.items()
                                                if value != old[name] and name != "id"})
        written = dynamo.update(*keys.method_key(seen.id), change, "#version = :seen_version",
                                names={"#version": "version"}, values={":seen_version": seen.version},
                                refused=MethodChanged)
        try:
            dynamo.transact([written, *outbox_puts(events)])
        except dynamo.TransactionContended:
            raise MethodChanged() from None
        finally:
            # this container prices with it as changed at once
            read_cache.forget(keys.method_key(seen.id), _EVERY_METHOD)
