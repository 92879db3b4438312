"""Tax rates in DynamoDB: one item per zone (`TAXZONE#<zone>`), a `rate#<class>` attribute per tax class, listed
through GSI2. Rates are kept as decimal strings ("7.25"): exact, as staff gave them."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalicelib.core import dynamo, read_cache
from chalicelib.core.events import Envelope
from chalicelib.core.outbox import outbox_puts
from chalicelib.tax import keys
from chalicelib.tax.models import TaxRate


class RateChanged(Exception):
    """The rate changed between the read and the write."""


class RateNotFound(Exception):
    pass


def rates_in(item: dict[str, Any] | None) -> dict[str, Decimal]:
    """The rate of each tax class a zone's item holds."""
    rates = {}
    for attribute, value in (item or {}).items():
        tax_class = keys.class_of(attribute)
        if tax_class is not None:
            rates[tax_class] = Decimal(value["rate_percent"])
    return rates


def listed(item: dict[str, Any]) -> list[TaxRate]:
    zone = item["PK"].removeprefix(keys.zone_pk(""))
    return [TaxRate(zone=zone, tax_class=tax_class, rate_percent=Decimal(value["rate_percent"]),
                    updated_at=value["updated_at"])
            for attribute, value in sorted(item.items()) if (tax_class := keys.class_of(attribute)) is not None]


class TaxRateRepository:
    @staticmethod
    def zone_keys(zones: tuple[str, ...]) -> list[tuple[str, str]]:
        """What to read, with a basket's products, for the rates at a destination."""
        return [keys.zone_key(zone) for zone in zones]

    @staticmethod
    def rates_from(zones: tuple[str, ...], items: dict[tuple[str, str], dict[str, Any]]
                   ) -> dict[str, dict[str, Decimal]]:
        """Each zone's rates by class, from the items `zone_keys` read (`items`: those found, by key)."""
        return {zone: rates_in(items.get(keys.zone_key(zone))) for zone in zones}

    def get(self, zone: str, tax_class: str) -> tuple[TaxRate, int] | None:
        """The rate of `tax_class` in `zone` and its version (each change counts one), None if not set."""
        item = dynamo.get(*keys.zone_key(zone), consistent=True)
        held = dynamo.from_item(item).get(keys.rate_attribute(tax_class)) if item else None
        if held is None:
            return None
        return (TaxRate(zone=zone, tax_class=tax_class, rate_percent=Decimal(held["rate_percent"]),
                        updated_at=held["updated_at"]), int(held.get("version", 1)))

    def every_rate(self) -> list[TaxRate]:
        return [rate for item in dynamo.every_item(keys.ALL_ZONES, index="GSI2") for rate in listed(item)]

    def put(self, rate: TaxRate, seen_version: int, events: list[Envelope]) -> None:
        """Set the rate, conditioned on the class's rate being as read (`seen_version`; 0: absent)."""
        attribute = keys.rate_attribute(rate.tax_class)
        change = dynamo.Update().set(attribute, {"rate_percent": str(rate.rate_percent),
                                                 "updated_at": rate.updated_at, "version": seen_version + 1})
        change.set_all({"type": "TAXZONE", **keys.listing_keys(rate.zone)})
        self._write(rate.zone, change, attribute, seen_version, events)

    def remove(self, seen: TaxRate, seen_version: int, events: list[Envelope]) -> None:
        attribute = keys.rate_attribute(seen.tax_class)
        self._write(seen.zone, dynamo.Update().remove(attribute), attribute, seen_version, events)

    @staticmethod
    def _write(zone: str, change: dynamo.Update, attribute: str, seen_version: int, events: list[Envelope]) -> None:
        if not seen_version:
            condition, values, names = "attribute_not_exists(#rate)", {}, {"#rate": attribute}
        else:
            condition, values = "#rate.#rate_version = :seen_version", {":seen_version": seen_version}
            names = {"#rate": attribute, "#rate_version": "version"}
        written = dynamo.update(*keys.zone_key(zone), change, condition, names=names, values=values,
                                refused=RateChanged)
        try:
            dynamo.transact([written, *outbox_puts(events)])
        except dynamo.TransactionContended:
            raise RateChanged() from None
        finally:
            read_cache.forget(keys.zone_key(zone))  # this container prices with the new rate at once
