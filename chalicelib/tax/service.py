"""Tax rates staff set per zone and tax class; what a destination's rates are.

Every change is written with the event that announces it (the outbox), so the audit trail misses none."""
from __future__ import annotations

from chalicelib.core.errors import NotFound, ValidationFailed, still_changing
from chalicelib.core.events import envelope
from chalicelib.core.ids import iso
from chalicelib.core.models import TaxClass, Zone
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.outbox import announce
from chalicelib.tax.events import TaxRateRemoved, TaxRateSet
from chalicelib.tax.models import TaxRate, TaxRateIn, TaxRates
from chalicelib.tax.repository import RateChanged, TaxRateRepository

_ATTEMPTS = 5


def checked_zone(zone: str, tax_class: str) -> tuple[str, str]:
    """The path's zone and tax class, or 422 naming what is wrong with each."""
    from pydantic import TypeAdapter, ValidationError

    problems = []
    for field, kind, value, expected in (("zone", Zone, zone, "an ISO 3166-1 country or ISO 3166-2 subdivision "
                                                              "code (DE, US-CA)"),
                                         ("taxClass", TaxClass, tax_class, "lower-case letters, digits and "
                                                                           "hyphens, at most 30")):
        try:
            TypeAdapter(kind).validate_python(value)
        except ValidationError:
            problems.append({"field": field, "issue": "invalid", "message": f"must be {expected}"})
    if problems:
        raise ValidationFailed("The zone or tax class is not valid.", problems)
    return zone, tax_class


class TaxService:
    def __init__(self, rates: TaxRateRepository):
        self.rates = rates

    def every_rate(self) -> TaxRates:
        return TaxRates(items=self.rates.every_rate())

    def set_rate(self, zone: str, tax_class: str, wanted: TaxRateIn, actor: str) -> TaxRate:
        zone, tax_class = checked_zone(zone, tax_class)

        def write(held: tuple[TaxRate, int] | None) -> TaxRate:
            seen, version = held or (None, 0)
            rate = TaxRate(zone=zone, tax_class=tax_class, rate_percent=wanted.rate_percent, updated_at=iso())
            events = [envelope(TaxRateSet(rate=f"{zone}/{tax_class}", zone=zone, tax_class=tax_class,
                                          rate_percent=str(rate.rate_percent),
                                          previous_percent=str(seen.rate_percent) if seen else None), actor=actor)]
            self.rates.put(rate, version, events)
            announce(events)
            return rate

        return read_then_write(lambda: self.rates.get(zone, tax_class), write, lost=RateChanged,
                               attempts=_ATTEMPTS, gave_up=still_changing("The tax rate"))

    def remove_rate(self, zone: str, tax_class: str, actor: str) -> None:
        zone, tax_class = checked_zone(zone, tax_class)

        def read() -> tuple[TaxRate, int]:
            held = self.rates.get(zone, tax_class)
            if held is None:
                raise NotFound(f"No {tax_class} rate is set for {zone}.", code="TAX_RATE_NOT_FOUND")
            return held

        def write(held: tuple[TaxRate, int]) -> None:
            seen, version = held
            events = [envelope(TaxRateRemoved(rate=f"{zone}/{tax_class}", zone=zone, tax_class=tax_class,
                                              previous_percent=str(seen.rate_percent)), actor=actor)]
            self.rates.remove(seen, version, events)
            announce(events)

        read_then_write(read, write, lost=RateChanged, attempts=_ATTEMPTS, gave_up=still_changing("The tax rate"))
